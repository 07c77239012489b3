"""Attribution and cost allocation over HTTP against a real server (SQLite, and PostgreSQL)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import httpx
import pytest

from support import ServerProcess, free_port, stamp


def report(c: httpx.Client, ext: str, account: str, key: str, **dims: float) -> dict[str, Any]:
    body = {"extension_id": ext, "account": account, "dimensions": dims, "idempotency_key": key}
    response = c.post("/usage", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def record(c: httpx.Client, record_id: int) -> dict[str, Any]:
    result: dict[str, Any] = c.get(f"/usage/records/{record_id}").json()
    return result


def window() -> dict[str, str]:
    now = datetime.now(UTC)
    return {
        "period_start": stamp(now - timedelta(days=2)),
        "period_end": stamp(now + timedelta(hours=2)),
    }


def rows_by_bu(c: httpx.Client, **params: Any) -> dict[str | None, float]:
    body = c.get("/reports/allocation", params={**window(), **params}).json()
    assert math.isclose(sum(r["units"] for r in body["rows"]), body["total_units"], abs_tol=1e-9)
    return {r["business_unit_id"]: r["units"] for r in body["rows"]}


def test_business_units_are_created_validated_edited_and_listed(server: ServerProcess) -> None:
    with server.client() as c:
        created = c.post(
            "/business-units",
            json={
                "name": "Data Platform",
                "contact_email": "dp@example.com",
                "soft_quota_units": 500,
            },
        )
        assert created.status_code == 201, created.text
        assert created.json()["business_unit_id"] == "data-platform"
        again = c.post("/business-units", json={"name": "Data Platform"})
        assert again.status_code == 409
        assert again.json()["field"] == "business_unit_id"
        for body, field in [
            ({"name": ""}, "name"),
            ({"name": "X", "contact_email": "nope"}, "contact_email"),
            ({"name": "X", "soft_quota_units": -1}, "soft_quota_units"),
            ({"name": "X", "business_unit_id": "Bad Id"}, "business_unit_id"),
            ({"name": "X", "colour": "red"}, "colour"),
        ]:
            refused = c.post("/business-units", json=body)
            assert refused.status_code == 400, body
            assert refused.json()["field"] == field
        edited = c.patch(
            "/business-units/data-platform", json={"soft_quota_units": None, "description": "DP"}
        )
        assert edited.status_code == 200, edited.text
        assert edited.json()["soft_quota_units"] is None
        assert edited.json()["description"] == "DP"
        assert [u["business_unit_id"] for u in c.get("/business-units").json()] == ["data-platform"]
        assert c.get("/business-units/nope").status_code == 404
    with server.client(server.token("viewer")) as viewer:
        assert viewer.get("/business-units").status_code == 200
        assert viewer.post("/business-units", json={"name": "Ops"}).status_code == 403


def test_records_are_attributed_by_the_winning_rule_when_written(server: ServerProcess) -> None:
    server.install_license(capacity_units=1000)
    with server.client() as c:
        for name in ("Finance", "Platform", "Oracle Team"):
            assert c.post("/business-units", json={"name": name}).status_code == 201
        broad = c.post("/attribution/rules", json={"business_unit_id": "platform"}).json()
        by_account = c.post(
            "/attribution/rules",
            json={"account_pattern": "*@finance", "business_unit_id": "finance"},
        ).json()
        exact = c.post(
            "/attribution/rules",
            json={
                "extension_pattern": "oracle-cdc",
                "account_pattern": "svc@finance",
                "business_unit_id": "oracle-team",
                "priority": -1,
            },
        ).json()
        assert [r["rule_id"] for r in c.get("/attribution/rules").json()] == [
            by_account["rule_id"],
            broad["rule_id"],
            exact["rule_id"],
        ]
        tested = c.get(
            "/attribution/rules/test",
            params={"extension_id": "oracle-cdc", "account": "svc@finance"},
        )
        body = tested.json()
        assert body["business_unit_id"] == "finance"
        assert [x["rule_id"] for x in body["candidates"]] == [
            by_account["rule_id"],
            broad["rule_id"],
            exact["rule_id"],
        ]
        assert body["candidates"][0]["outcome"] == "wins"
        assert "less specific" in body["candidates"][1]["outcome"]
        assert "lower priority" in body["candidates"][2]["outcome"]

        first = record(
            c, report(c, "oracle-cdc", "svc@finance", "a1", tables_replicated=3)["record_id"]
        )
        assert (first["business_unit_id"], first["attribution_method"]) == ("finance", "auto")
        assert (first["attribution_rule_id"], first["attribution_rule_version"]) == (
            by_account["rule_id"],
            1,
        )

        # An edit takes effect on the very next record, with the new version.
        edited = c.patch(
            f"/attribution/rules/{by_account['rule_id']}", json={"priority": -5}
        ).json()
        assert edited["version"] == 2
        second = record(
            c, report(c, "oracle-cdc", "svc@finance", "a2", tables_replicated=1)["record_id"]
        )
        assert second["business_unit_id"] == "platform"
        versions = c.get(f"/attribution/rules/{by_account['rule_id']}/versions").json()
        assert [v["version"] for v in versions] == [1, 2]
        # The first record keeps the rule version that attributed it.
        assert record(c, first["record_id"])["attribution_rule_version"] == 1

        assert c.delete(f"/attribution/rules/{broad['rule_id']}").status_code == 204
        third = record(c, report(c, "mysql-cdc", "svc@ops", "a3", tables_replicated=1)["record_id"])
        assert third["business_unit_id"] is None
        assert third["attribution_method"] is None
        refused = c.post("/attribution/rules", json={"business_unit_id": "nope"})
        assert refused.status_code == 400
        assert refused.json()["field"] == "business_unit_id"
        bad_glob = c.post(
            "/attribution/rules", json={"business_unit_id": "finance", "extension_pattern": "a b"}
        )
        assert bad_glob.json()["field"] == "extension_pattern"


def test_manual_attribution_overrides_rules_is_audited_and_can_be_cleared(
    server: ServerProcess,
) -> None:
    server.install_license(capacity_units=1000)
    with server.client() as c:
        for name in ("Finance", "Marketing"):
            c.post("/business-units", json={"name": name})
        ids = [
            report(c, "kafka", f"u{n}", f"m{n}", tables_replicated=2)["record_id"] for n in range(4)
        ]
        assert rows_by_bu(c) == {None: 8.0}

        one = c.post(
            "/attribution/manual", json={"record_ids": [ids[0]], "to_business_unit_id": "finance"}
        )
        assert one.status_code == 200, one.text
        assert one.json()["moves"] == [{"from": None, "to": "finance", "records": 1, "units": 2.0}]
        rest = c.post(
            "/attribution/manual",
            json={
                "extension_id": "kafka",
                "unattributed": True,
                "to_business_unit_id": "marketing",
            },
        ).json()
        assert rest["moved"] == 3
        assert rows_by_bu(c) == {"finance": 2.0, "marketing": 6.0}
        assert record(c, ids[1])["attribution_method"] == "manual"

        audit = c.get("/attribution/audit").json()
        assert [a["action"] for a in audit] == ["manual", "manual"]
        assert audit[0]["to_business_unit_id"] == "marketing"
        assert audit[0]["records"] == 3
        assert audit[0]["actor"].startswith("admin:")
        assert audit[0]["selection"]["unattributed"] is True

        # A rule that matches does not override a manual choice, even when re-applied.
        c.post(
            "/attribution/rules", json={"extension_pattern": "kafka", "business_unit_id": "finance"}
        )
        everything = {
            "start": stamp(datetime.now(UTC) - timedelta(days=1)),
            "end": stamp(datetime.now(UTC) + timedelta(hours=1)),
        }
        preview = c.post("/attribution/reapply", json=everything).json()
        assert preview["dry_run"] is True
        assert preview["moved"] == 0
        cleared = c.post("/attribution/clear", json={"record_ids": ids[1:3]}).json()
        assert cleared["moves"] == [
            {"from": "marketing", "to": "finance", "records": 2, "units": 4.0}
        ]
        assert record(c, ids[1])["attribution_method"] == "auto"
        assert rows_by_bu(c) == {"finance": 6.0, "marketing": 2.0}
        refused = c.post("/attribution/manual", json={"to_business_unit_id": "finance"})
        assert refused.status_code == 400
        assert refused.json()["field"] == "record_ids"
        assert (
            c.post(
                "/attribution/manual", json={"record_ids": [ids[0]], "to_business_unit_id": "nope"}
            ).status_code
            == 404
        )


def test_reapplying_rules_previews_then_moves_past_records(server: ServerProcess) -> None:
    server.install_license(capacity_units=1000)
    with server.client() as c:
        c.post("/business-units", json={"name": "Finance"})
        c.post("/business-units", json={"name": "Ops"})
        for n in range(5):
            report(
                c, "oracle-cdc", "svc@finance", f"r{n}", tables_replicated=1, bytes_transferred_gb=2
            )
        manual = report(c, "oracle-cdc", "svc@finance", "r-manual", tables_replicated=10)[
            "record_id"
        ]
        c.post("/attribution/manual", json={"record_ids": [manual], "to_business_unit_id": "ops"})
        c.post(
            "/attribution/rules",
            json={"account_pattern": "*@finance", "business_unit_id": "finance"},
        )
        span = {
            "start": stamp(datetime.now(UTC) - timedelta(hours=2)),
            "end": stamp(datetime.now(UTC) + timedelta(hours=1)),
        }

        preview = c.post("/attribution/reapply", json=span).json()
        assert preview == {
            **preview,
            "applied": False,
            "matched": 5,
            "moved": 5,
            "units_moved": 10.0,
        }
        assert preview["moves"] == [{"from": None, "to": "finance", "records": 5, "units": 10.0}]
        assert rows_by_bu(c) == {None: 10.0, "ops": 10.0}

        applied = c.post("/attribution/reapply", json={**span, "dry_run": False}).json()
        assert applied["applied"] is True
        assert applied["moves"] == preview["moves"]
        assert rows_by_bu(c) == {"finance": 10.0, "ops": 10.0}
        by_dim = c.get(
            "/reports/allocation", params={**window(), "business_unit_id": "finance"}
        ).json()
        assert by_dim["rows"][0]["dimensions"] == {
            "bytes_transferred_gb": {"value": 10.0, "units": 5.0},
            "tables_replicated": {"value": 5.0, "units": 5.0},
        }
        assert record(c, manual)["business_unit_id"] == "ops"
        again = c.post("/attribution/reapply", json={**span, "dry_run": False}).json()
        assert again["changed"] == 0
        assert c.get("/attribution/audit").json()[0]["action"] == "reapply"


def test_reports_group_filter_price_and_add_up(server: ServerProcess) -> None:
    server.install_license(capacity_units=1000, cost={"amount": "2500.00", "currency": "EUR"})
    with server.client() as c:
        c.post("/business-units", json={"name": "Finance", "soft_quota_units": 40})
        c.post(
            "/attribution/rules",
            json={"account_pattern": "*@finance", "business_unit_id": "finance"},
        )
        report(c, "oracle-cdc", "svc@finance", "p1", tables_replicated=10)
        report(c, "kafka", "svc@finance", "p2", tables_replicated=4)
        report(c, "kafka", "svc@ops", "p3", tables_replicated=6)

        by_bu = c.get("/reports/allocation", params=window()).json()
        assert by_bu["cost_per_unit"] == "2.5"
        assert by_bu["currency"] == "EUR"
        assert by_bu["total_units"] == 20.0
        assert by_bu["total_amount"] == 50.0
        finance, unattributed = by_bu["rows"]
        assert (finance["business_unit_name"], finance["units"], finance["amount"]) == (
            "Finance",
            14.0,
            35.0,
        )
        assert finance["quota_used_ratio"] == pytest.approx(14 / 40)
        assert (unattributed["business_unit_name"], unattributed["units"]) == ("Unattributed", 6.0)

        both = c.get(
            "/reports/allocation", params={**window(), "group_by": "business_unit_extension"}
        ).json()
        assert [(r["business_unit_id"], r["extension_id"], r["units"]) for r in both["rows"]] == [
            ("finance", "kafka", 4.0),
            ("finance", "oracle-cdc", 10.0),
            (None, "kafka", 6.0),
        ]
        ext = c.get(
            "/reports/allocation",
            params={**window(), "group_by": "extension", "extension_id": "kafka"},
        )
        assert [(r["extension_id"], r["units"]) for r in ext.json()["rows"]] == [("kafka", 10.0)]
        days = c.get(
            "/reports/allocation", params={**window(), "group_by": "time", "bucket": "day"}
        ).json()
        assert sum(r["units"] for r in days["rows"]) == 20.0
        assert all(r["bucket_start"] for r in days["rows"])
        only = c.get("/reports/allocation", params={**window(), "unattributed": True}).json()
        assert only["total_units"] == 6.0
        bad = c.get(
            "/reports/allocation", params={"period_start": "2024-02-01", "period_end": "2024-01-01"}
        )
        assert bad.status_code == 400
        assert bad.json()["field"] == "period_end"
        assert c.get("/reports/allocation", params={"group_by": "colour"}).status_code == 400


def test_deleting_a_business_unit_keeps_its_records_as_unattributed(server: ServerProcess) -> None:
    server.install_license(capacity_units=1000)
    with server.client() as c:
        c.post("/business-units", json={"name": "Finance"})
        rule = c.post("/attribution/rules", json={"business_unit_id": "finance"}).json()
        ids = [report(c, "kafka", "u", f"d{n}", tables_replicated=3)["record_id"] for n in range(3)]
        assert rows_by_bu(c) == {"finance": 9.0}
        deleted = c.delete("/business-units/finance").json()
        assert deleted == {
            "business_unit_id": "finance",
            "records_unattributed": 3,
            "units_unattributed": 9.0,
            "rules_deleted": [rule["rule_id"]],
        }
        assert rows_by_bu(c) == {None: 9.0}
        assert record(c, ids[0])["business_unit_id"] is None
        assert c.get("/attribution/rules").json() == []
        assert len(c.get("/usage/records", params={"unattributed": True}).json()["items"]) == 3
        assert c.get("/ledger/verify").json()["ok"] is True


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[bytes]] = []
    failures_left = 1

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if _Hook.failures_left > 0:
            _Hook.failures_left -= 1
            self.send_response(503)
        else:
            _Hook.received.append(body)
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def webhook() -> Iterator[tuple[str, type[_Hook]]]:
    _Hook.received = []
    _Hook.failures_left = 1
    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), _Hook)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/hook", _Hook
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_crossing_a_soft_quota_alerts_once_per_threshold_and_calls_the_webhook(
    tmp_path: Any, vendor_key: Any, database_url: str, webhook: tuple[str, type[_Hook]]
) -> None:
    url, hook = webhook
    server = ServerProcess(
        tmp_path / "data",
        vendor_key,
        database_url=database_url,
        extra_env={"UNITLEDGER_WEBHOOK_URL": url},
    )
    server.data_dir.mkdir(parents=True)
    server.start()
    try:
        server.install_license(capacity_units=1000)
        with server.client() as c:
            c.post("/business-units", json={"name": "Finance", "soft_quota_units": 10})
            c.post("/attribution/rules", json={"business_unit_id": "finance"})
            report(c, "kafka", "u", "q1", tables_replicated=8)
            report(c, "kafka", "u", "q2", tables_replicated=1)
            alerts = _wait(lambda: c.get("/attribution/alerts").json(), 1)
            assert [(a["threshold_percent"], a["used_units"]) for a in alerts] == [(90, 9.0)]
            report(c, "kafka", "u", "q3", tables_replicated=5)
            report(c, "kafka", "u", "q4", tables_replicated=5)
            alerts = _wait(lambda: c.get("/attribution/alerts").json(), 2)
            assert [a["threshold_percent"] for a in alerts] == [100, 90]
            assert alerts[0]["period"] == f"{datetime.now(UTC):%Y-%m}"
            time.sleep(1.0)
            assert len(c.get("/attribution/alerts").json()) == 2
        delivered = _wait(lambda: hook.received, 2, timeout=20)
        assert sorted(b'"threshold_percent": 90' in body for body in delivered) == [False, True]
    finally:
        server.stop()


def _wait(read: Any, count: int, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if len(value) >= count or time.monotonic() > deadline:
            return value
        time.sleep(0.1)
