"""Reporting usage over HTTP against a live server (SPEC §3)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from support import ServerProcess

REPORT = {
    "extension_id": "oracle-cdc",
    "account": "svc-etl@finance",
    "dimensions": {"tables_replicated": 5},
}


def report(c: httpx.Client, key: str, **changes: Any) -> httpx.Response:
    return c.post("/usage", json={**REPORT, "idempotency_key": key, **changes})


def used(c: httpx.Client) -> float:
    return float(c.get("/usage/summary").json()["used_units"])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**REPORT, "dimensions": {"tables_replicated": -1}}, "dimensions.tables_replicated"),
        ({**REPORT, "dimensions": {}}, "dimensions"),
        ({**REPORT, "dimensions": {"Bad-Name": 1}}, "dimensions.Bad-Name"),
        ({**REPORT, "colour": "blue"}, "colour"),
        ({**REPORT, "extension_id": "../etc"}, "extension_id"),
        ([1, 2], "body"),
    ],
)
def test_bad_report_gets_a_problem_naming_the_field_and_changes_nothing(
    server: ServerProcess, body: Any, field: str
) -> None:
    server.install_license()
    with server.client() as c:
        response = c.post("/usage", json=body)
        assert response.status_code == 400
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert problem["field"] == field
        assert problem["code"] == "invalid_report" or problem["code"] == "invalid"
        assert c.get("/usage/records").json()["items"] == []
        assert used(c) == 0


def test_nan_infinity_and_oversize_bodies_are_refused(server: ServerProcess) -> None:
    server.install_license()
    with server.client() as c:
        nan = c.post(
            "/usage",
            content=b'{"extension_id":"x","dimensions":{"a":NaN},"idempotency_key":"k"}',
            headers={"Content-Type": "application/json"},
        )
        assert nan.status_code == 400
        assert "NaN" in nan.json()["detail"]
        huge = c.post(
            "/usage",
            content=b'{"x":"' + b"a" * 200_000 + b'"}',
            headers={"Content-Type": "application/json"},
        )
        assert huge.status_code == 413
        assert used(c) == 0


def test_retried_report_is_counted_once(server: ServerProcess) -> None:
    server.install_license(capacity_units=100)
    with server.client() as c:
        first = report(c, "retry-1").json()
        again = report(c, "retry-1").json()
        assert again["record_id"] == first["record_id"]
        assert again["duplicate"] is True
        assert used(c) == 5
        assert len(c.get("/usage/records").json()["items"]) == 1


def test_reused_key_with_a_different_body_is_a_conflict(server: ServerProcess) -> None:
    server.install_license()
    with server.client() as c:
        assert report(c, "k").status_code == 200
        clash = report(c, "k", dimensions={"tables_replicated": 6})
        assert clash.status_code == 409
        assert clash.json()["code"] == "idempotency_conflict"
        assert used(c) == 5


def test_idempotency_key_header_is_honoured(server: ServerProcess) -> None:
    server.install_license()
    with server.client() as c:
        for _ in range(2):
            response = c.post("/usage", json=REPORT, headers={"Idempotency-Key": "hdr-1"})
            assert response.status_code == 200
        assert used(c) == 5


def test_uncovered_dimension_is_quarantined_disables_the_extension_and_replays(
    server: ServerProcess,
) -> None:
    server.install_license()
    with server.client() as c:
        result = c.post(
            "/usage",
            json={
                "extension_id": "legacy-sync",
                "dimensions": {"rows_scanned": 1000},
                "idempotency_key": "q-1",
            },
        ).json()
        assert result["record_id"] is None
        assert result["extension_state"] == "DISABLED"
        assert "rows_scanned" in result["reason"]
        held = c.get("/quarantine").json()
        assert [q["uncovered_dimensions"] for q in held] == [["rows_scanned"]]
        assert c.get("/enforcement").json()["extensions"]["legacy-sync"]["state"] == "DISABLED"
        assert c.post("/quarantine/replay", json={}).json() == {
            "replayed": 0,
            "still_held": 1,
            "record_ids": [],
        }

        server.install_license(rates={"legacy-sync": {"rows_scanned": 0.001}})
        assert c.get("/enforcement").json()["extensions"]["legacy-sync"]["state"] != "DISABLED"
        replay = c.post("/quarantine/replay", json={}).json()
        assert replay["replayed"] == 1
        assert used(c) == pytest.approx(1.0)
        # The replayed report keeps its idempotency key: sending it again counts nothing.
        again = c.post(
            "/usage",
            json={
                "extension_id": "legacy-sync",
                "dimensions": {"rows_scanned": 1000},
                "idempotency_key": "q-1",
            },
        ).json()
        assert again["duplicate"] is True
        assert used(c) == pytest.approx(1.0)


def test_crossing_ninety_percent_turns_the_state_to_warning(server: ServerProcess) -> None:
    server.install_license(capacity_units=10)
    with server.client() as c:
        assert report(c, "a", dimensions={"tables_replicated": 8.9}).json()["state"] == "OK"
        assert report(c, "b", dimensions={"tables_replicated": 0.1}).json()["state"] == "WARNING"
        over = report(c, "c", dimensions={"tables_replicated": 5}).json()
        assert over["state"] == "WARNING"
        summary = c.get("/usage/summary").json()
        assert summary["over_units"] == pytest.approx(4)
        assert summary["remaining_units"] == 0


def test_revoking_the_only_license_makes_everything_unlicensed(server: ServerProcess) -> None:
    lic = server.install_license()
    with server.client() as c:
        assert report(c, "a").json()["state"] == "OK"
        revoked = c.post(f"/licenses/{lic['license_id']}/revoke").json()
        assert revoked["status"] == "REVOKED"
        assert c.get("/enforcement").json()["state"] == "UNLICENSED"
        after = report(c, "b").json()
        assert after["extension_state"] == "DISABLED"
        assert after["record_id"] is None
        assert len(c.get("/quarantine").json()) == 1


def test_records_page_with_a_cursor_and_filter(server: ServerProcess) -> None:
    server.install_license(capacity_units=10_000)
    with server.client() as c:
        for i in range(7):
            report(c, f"p{i}", extension_id="oracle-cdc" if i % 2 else "kafka-bridge")
        page = c.get("/usage/records", params={"limit": 3}).json()
        assert len(page["items"]) == 3
        rest = c.get("/usage/records", params={"limit": 10, "cursor": page["next_cursor"]}).json()
        assert len(rest["items"]) == 4
        assert rest["next_cursor"] is None
        ids = [r["record_id"] for r in page["items"] + rest["items"]]
        assert ids == sorted(ids, reverse=True)
        only = c.get("/usage/records", params={"extension_id": "oracle-cdc"}).json()["items"]
        assert {r["extension_id"] for r in only} == {"oracle-cdc"}
        assert len(only) == 3


def test_timeseries_is_cumulative_against_capacity(server: ServerProcess) -> None:
    server.install_license(capacity_units=50)
    with server.client() as c:
        report(c, "t1")
        report(c, "t2")
        series = c.get("/usage/timeseries", params={"bucket": "hour"}).json()
        assert series["capacity_units"] == 50
        assert series["warning_units"] == 45
        assert series["points"][-1]["cumulative"] == 10
        assert sum(p["units"] for p in series["points"]) == 10
