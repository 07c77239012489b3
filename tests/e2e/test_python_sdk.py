"""The Python SDK against a real ``unitledger serve`` with its embedded nats-server."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
from unitledger_sdk import (
    EnforcementChange,
    Extension,
    ExtensionDisabled,
    Forbidden,
    InvalidReport,
    Unauthorized,
)

from support import ServerProcess
from unitledger.signing import KeyPair

pytestmark = [pytest.mark.nats]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "python" / "replicator.py"


@pytest.fixture
def live(tmp_path: Path, vendor_key: KeyPair) -> Iterator[ServerProcess]:
    """A server with a 2-second heartbeat TTL and the base license installed."""
    proc = ServerProcess(
        tmp_path / "data", vendor_key, extra_env={"UNITLEDGER_HEARTBEAT_TTL_SECONDS": "2"}
    )
    proc.start()
    try:
        proc.install_license(capacity_units=1000)
        yield proc
    finally:
        proc.stop()


def nats_url(server: ServerProcess) -> str:
    return f"nats://127.0.0.1:{server.nats_port}"


@pytest.fixture
async def ext(live: ServerProcess) -> AsyncIterator[Extension]:
    token = live.token("extension", "oracle-cdc")
    async with Extension("Oracle CDC", "oracle-cdc", token=token, servers=nats_url(live)) as e:
        yield e


async def wait_for(predicate: object, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


def records(server: ServerProcess, extension_id: str) -> list[dict[str, object]]:
    with server.client() as c:
        page = c.get("/usage/records", params={"extension_id": extension_id, "limit": 1000})
        assert page.status_code == 200, page.text
        items: list[dict[str, object]] = page.json()["items"]
        return items


async def test_report_returns_units_as_the_license_rates_say(
    ext: Extension, live: ServerProcess
) -> None:
    result = await ext.report_usage({"tables_replicated": 5, "bytes_transferred_gb": 1.5})
    assert result.units == 5.75
    assert dict(result.units_by_dimension) == {
        "tables_replicated": 5.0,
        "bytes_transferred_gb": 0.75,
    }
    assert (result.state, result.extension_state, result.buffered) == ("OK", "OK", False)
    assert result.record_id is not None
    with live.client() as c:
        stored = c.get(f"/usage/records/{result.record_id}").json()
    assert stored["extension_id"] == "oracle-cdc"
    assert stored["units"] == 5.75


async def test_retried_report_is_counted_once(ext: Extension, live: ServerProcess) -> None:
    key = uuid.uuid4().hex
    first = await ext.report_usage({"tables_replicated": 2}, idempotency_key=key)
    again = await ext.report_usage({"tables_replicated": 2}, idempotency_key=key)
    assert again.duplicate and not first.duplicate
    assert again.record_id == first.record_id
    assert len(records(live, "oracle-cdc")) == 1


async def test_invalid_report_fails_locally_with_the_field_named(ext: Extension) -> None:
    with pytest.raises(InvalidReport) as caught:
        await ext.report_usage({"rows": -1})
    assert caught.value.field == "dimensions.rows"


async def test_uncovered_dimension_disables_the_reporter_and_quarantines_the_report(
    ext: Extension, live: ServerProcess
) -> None:
    changes: list[EnforcementChange] = []
    ext.on_enforcement(changes.append)
    result = await ext.report_usage({"rows_scanned": 10})
    assert result.record_id is None and result.units == 0
    assert result.extension_state == "DISABLED" and result.quarantine_id is not None
    await wait_for(lambda: not ext.enabled)
    assert ext.state == "DISABLED"
    assert any(c.extension_id == "oracle-cdc" and c.state == "DISABLED" for c in changes)
    with live.client() as c:
        held = c.get("/quarantine", params={"extension_id": "oracle-cdc"}).json()
    assert [q["quarantine_id"] for q in held] == [result.quarantine_id]
    with pytest.raises(ExtensionDisabled):
        await ext.report_usage({"rows_scanned": 1}, fail_fast=True)


async def test_a_new_subscriber_reads_the_current_state_at_once(
    ext: Extension, live: ServerProcess
) -> None:
    await ext.report_usage({"rows_scanned": 10})
    await wait_for(lambda: ext.state == "DISABLED")
    token = live.token("extension", "oracle-cdc")
    async with Extension("late", "oracle-cdc", token=token, servers=nats_url(live)) as late:
        assert late.state == "DISABLED" and not late.enabled


async def test_crossing_ninety_percent_reaches_a_subscribed_client(ext: Extension) -> None:
    changes = ext.enforcement_changes()
    await ext.report_usage({"tables_replicated": 905})
    change = await asyncio.wait_for(anext(changes), 10)
    while change.key != "global":
        change = await asyncio.wait_for(anext(changes), 10)
    assert (change.previous_state, change.state) == ("OK", "WARNING")
    assert ext.state == "WARNING" and ext.enabled


async def test_installing_and_revoking_a_license_reach_a_subscribed_client(
    ext: Extension, live: ServerProcess
) -> None:
    await ext.report_usage({"rows_scanned": 10})
    await wait_for(lambda: ext.state == "DISABLED")
    covering = await asyncio.to_thread(live.install_license, rates={"*": {"rows_scanned": 0.01}})
    await wait_for(lambda: ext.enabled)
    assert (await ext.report_usage({"rows_scanned": 100})).units == 1.0
    with live.client() as c:
        for lic in c.get("/licenses").json():
            assert c.post(f"/licenses/{lic['license_id']}/revoke").status_code == 200
    await wait_for(lambda: ext.global_state == "UNLICENSED")
    assert not ext.enabled
    assert covering["license_id"]


async def test_client_without_a_valid_token_is_refused(live: ServerProcess) -> None:
    with pytest.raises(Unauthorized):
        async with Extension("x", "oracle-cdc", token="ul_nope_nope", servers=nats_url(live)):
            pass
    # A connection that is allowed in (admin) but sends a bad per-message token.
    nc = await nats.connect(nats_url(live), token=live.admin_token)
    try:
        body = {
            "extension_id": "oracle-cdc",
            "dimensions": {"tables_replicated": 1},
            "idempotency_key": "k1",
        }
        reply = await nc.request(
            "unitledger.v1.report.oracle-cdc",
            json.dumps(body).encode(),
            headers={"Authorization": "Bearer ul_bad_bad"},
            timeout=5,
        )
        assert json.loads(reply.data)["error"]["code"] == "unauthorized"
    finally:
        await nc.close()
    assert records(live, "oracle-cdc") == []


async def test_extension_token_cannot_report_as_another_extension(live: ServerProcess) -> None:
    token = live.token("extension", "kafka-bridge")
    errors: list[Exception] = []

    async def on_error(exc: Exception) -> None:
        errors.append(exc)

    nc = await nats.connect(nats_url(live), token=token, error_cb=on_error)
    try:
        body = {
            "extension_id": "oracle-cdc",
            "dimensions": {"tables_replicated": 1},
            "idempotency_key": "k2",
        }
        with pytest.raises(nats.errors.Error):
            await nc.request(
                "unitledger.v1.report.oracle-cdc",
                json.dumps(body).encode(),
                headers={"Authorization": f"Bearer {token}"},
                timeout=2,
            )
        await wait_for(lambda: any("ermissions" in str(e) for e in errors))
    finally:
        await nc.close()
    # The per-message check refuses it too, whatever the NATS permissions say.
    async with Extension(
        "kb", "kafka-bridge", token=live.admin_token, servers=nats_url(live)
    ) as admin_ext:
        admin_ext.token = token
        admin_ext.extension_id = "oracle-cdc"
        with pytest.raises(Forbidden):
            await admin_ext.report_usage({"tables_replicated": 1})
    assert records(live, "oracle-cdc") == []


def test_killed_extension_process_becomes_inactive(live: ServerProcess) -> None:
    token = live.token("extension", "demo-replicator")
    env = {**live.env, "UNITLEDGER_TOKEN": token, "UNITLEDGER_NATS_URL": nats_url(live)}
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLE), "--extension-id", "demo-replicator", "--interval", "0.2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        with live.client() as c:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                rows = {r["extension_id"]: r for r in c.get("/extensions").json()}
                if rows.get("demo-replicator", {}).get("connection") == "connected":
                    break
                time.sleep(0.2)
            row = rows["demo-replicator"]
            assert row["connection"] == "connected" and row["health"] == "OK"
            assert row["instances"][0]["sdk"] == "python/0.1.0"
            listed = live.cli("extension", "list", "--json", check=True)
            assert json.loads(listed.stdout)[0]["connection"] == "connected"
            proc.kill()
            killed_at = time.monotonic()
            while time.monotonic() - killed_at < 15:
                rows = {r["extension_id"]: r for r in c.get("/extensions").json()}
                if rows["demo-replicator"]["connection"] == "inactive":
                    break
                time.sleep(0.2)
            assert rows["demo-replicator"]["connection"] == "inactive"
            # Inactive within one TTL (2 s) of the last beat, plus scheduling slack.
            assert time.monotonic() - killed_at < 6
            assert rows["demo-replicator"]["units"] > 0
    finally:
        proc.kill()
        proc.wait(10)


async def test_reports_during_a_server_outage_are_replayed_exactly_once(
    live: ServerProcess,
) -> None:
    token = live.token("extension", "oracle-cdc")
    async with Extension(
        "Oracle CDC", "oracle-cdc", token=token, servers=nats_url(live), request_timeout=1.0
    ) as ext:
        await ext.report_usage({"tables_replicated": 1})
        await asyncio.to_thread(live.stop)
        started = time.monotonic()
        results = [await ext.report_usage({"tables_replicated": 1}) for _ in range(5)]
        assert all(r.buffered for r in results)
        assert time.monotonic() - started < 5
        assert ext.buffered == 5 and ext.status == "WARNING"
        await asyncio.to_thread(live.start)
        await ext.flush(30)
        assert ext.buffered == 0
    stored = records(live, "oracle-cdc")
    assert len(stored) == 6
    keys = {r["idempotency_key"] for r in stored}
    assert {r.idempotency_key for r in results} <= keys
