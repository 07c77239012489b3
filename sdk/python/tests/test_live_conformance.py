"""The live conformance scenario (sdk/conformance/scenario.md) for the Python SDK.

Runs against a real server started by the harness, like the Go and Java suites::

    .venv/bin/python sdk/conformance/harness.py run --extension-id conformance-python -- \
        .venv/bin/pytest -p no:cacheprovider sdk/python/tests
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from unitledger_sdk import EnforcementChange, Extension, InvalidReport, Unauthorized, Unavailable

pytestmark = [pytest.mark.nats]


@dataclass
class LiveEnv:
    """What the harness exported, and the HTTP calls the steps check with."""

    extension_id: str
    http: httpx.Client
    control_url: str
    updates: list[EnforcementChange] = field(default_factory=list)

    def records(self) -> list[dict[str, Any]]:
        response = self.http.get(
            "/usage/records", params={"limit": 1000, "extension_id": self.extension_id}
        )
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    def problem(self, body: dict[str, Any]) -> dict[str, Any]:
        """What the server answers over HTTP to the same report body."""
        response = self.http.post("/usage", json=body)
        assert response.status_code == 400, response.text
        answer: dict[str, Any] = response.json()
        return answer

    def control(self, action: str, body: dict[str, Any] | None = None) -> None:
        response = httpx.post(f"{self.control_url}/{action}", json=body or {}, timeout=60)
        assert response.status_code == 200, f"control {action}: {response.text}"

    def saw_extension_update(self, disabled: bool) -> Callable[[], bool]:
        return lambda: any(
            u.scope == "extension" and (u.state == "DISABLED") == disabled for u in self.updates
        )


def harness_variable(name: str) -> str:
    value = os.environ.get(name, "")
    assert value, f"{name} is not set: run the live tests through sdk/conformance/harness.py"
    return value


async def eventually(what: str, predicate: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, f"no {what} within {within}s"
        await asyncio.sleep(0.05)


@pytest.fixture
async def env() -> AsyncIterator[LiveEnv]:
    with httpx.Client(
        base_url=harness_variable("UNITLEDGER_TEST_HTTP_URL"),
        headers={"Authorization": f"Bearer {harness_variable('UNITLEDGER_TEST_ADMIN_TOKEN')}"},
        timeout=30,
    ) as http:
        yield LiveEnv(
            extension_id=harness_variable("UNITLEDGER_TEST_EXTENSION_ID"),
            http=http,
            control_url=harness_variable("UNITLEDGER_TEST_CONTROL_URL"),
        )


async def report_and_check_units(ext: Extension, env: LiveEnv) -> None:
    r = await ext.report_usage({"tables_replicated": 5, "bytes_transferred_gb": 1.5})
    assert r.units == pytest.approx(5.75)
    assert dict(r.units_by_dimension) == pytest.approx(
        {"tables_replicated": 5, "bytes_transferred_gb": 0.75}
    )
    assert r.record_id is not None
    assert (r.state, r.extension_state) == ("OK", "OK")
    assert len(r.license_ids) == 1
    assert not r.duplicate
    assert not r.buffered
    record = env.http.get(f"/usage/records/{r.record_id}").json()
    assert record["units"] == pytest.approx(5.75)
    assert record["extension_id"] == env.extension_id


async def retry_counted_once(ext: Extension, env: LiveEnv) -> None:
    key = f"conformance-python-{uuid.uuid4().hex}"
    first = await ext.report_usage({"tables_replicated": 2}, idempotency_key=key)
    again = await ext.report_usage({"tables_replicated": 2}, idempotency_key=key)
    assert again.duplicate
    assert again.record_id == first.record_id
    assert again.units == pytest.approx(2)
    records = env.records()
    assert len(records) == 2
    assert sum(r["units"] for r in records) == pytest.approx(7.75)


async def invalid_input_is_a_typed_error_with_the_servers_message(
    ext: Extension, env: LiveEnv
) -> None:
    with pytest.raises(InvalidReport) as negative:
        await ext.report_usage({"rows": -1})
    server = env.problem({"extension_id": env.extension_id, "dimensions": {"rows": -1}})
    assert negative.value.field == "dimensions.rows"
    assert (negative.value.code, negative.value.detail) == (server["code"], server["detail"])

    old = datetime.now(UTC) - timedelta(days=30)
    with pytest.raises(InvalidReport) as stale:
        await ext.report_usage({"tables_replicated": 1}, occurred_at=old)
    server = env.problem(
        {
            "extension_id": env.extension_id,
            "dimensions": {"tables_replicated": 1},
            "occurred_at": old.isoformat().replace("+00:00", "Z"),
        }
    )
    assert stale.value.field == "occurred_at"
    assert stale.value.detail == server["detail"]
    assert len(env.records()) == 2


async def uncovered_dimension_disables_and_is_quarantined(ext: Extension, env: LiveEnv) -> None:
    r = await ext.report_usage({"rows_scanned": 10})
    assert r.record_id is None
    assert r.units == 0
    assert r.extension_state == "DISABLED"
    assert r.quarantine_id is not None
    assert r.reason is not None
    assert "rows_scanned" in r.reason
    await eventually("DISABLED state", lambda: ext.state == "DISABLED" and not ext.enabled)
    await eventually("DISABLED update", env.saw_extension_update(disabled=True))
    held = env.http.get("/quarantine", params={"extension_id": env.extension_id}).json()
    assert [h["quarantine_id"] for h in held] == [r.quarantine_id]


async def license_change_arrives_as_an_enforcement_update(ext: Extension, env: LiveEnv) -> None:
    env.updates.clear()
    env.control("license", {"rates": {"*": {"rows_scanned": 0.01}}})
    await eventually("enabling update", env.saw_extension_update(disabled=False))
    await eventually("enabled state", lambda: ext.enabled)
    r = await ext.report_usage({"rows_scanned": 100})
    assert r.units == pytest.approx(1)
    assert r.record_id is not None


async def outage_reports_are_replayed_exactly_once(ext: Extension, env: LiveEnv) -> None:
    before = len(env.records())
    env.control("stop")
    keys = set()
    for i in range(5):
        started = time.monotonic()
        r = await ext.report_usage({"tables_replicated": 1})
        assert r.buffered, f"report {i} during the outage was not buffered: {r}"
        assert time.monotonic() - started < 3, f"report {i} did not return within 3 s"
        keys.add(r.idempotency_key)
    env.control("start")
    await ext.flush(timeout=30)
    assert ext.buffered == 0
    records = env.records()
    assert len(records) == before + 5
    assert sum(1 for r in records if r["idempotency_key"] in keys) == 5


async def test_refused_token_and_unreachable_server_are_typed_errors_in_the_shared_words(
    env: LiveEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Step 0.
    unknown_token = "ul_000000000000_refused"  # noqa: S105 - a token the server never issued
    refused = Extension("conformance (Python)", env.extension_id, token=unknown_token)
    with pytest.raises(Unauthorized) as unauthorized:
        await refused.open()
    assert unauthorized.value.code == "unauthorized"
    assert unauthorized.value.detail == (
        "the server refused the token: use an extension token that exists and is not revoked"
        " (unitledger token create --role extension)"
    )
    with monkeypatch.context() as without_token:
        without_token.delenv("UNITLEDGER_TOKEN")
        with pytest.raises(Unauthorized) as missing:
            Extension("conformance (Python)", env.extension_id)
    assert missing.value.detail == (
        "no token: pass a token or set UNITLEDGER_TOKEN to an extension token"
    )
    unreachable = Extension(
        "conformance (Python)", env.extension_id, servers="nats://127.0.0.1:1", connect_timeout=2
    )
    started = time.monotonic()
    with pytest.raises(Unavailable) as unavailable:
        await unreachable.open()
    assert time.monotonic() - started < 5
    assert unavailable.value.code == "unavailable"
    assert (
        unavailable.value.detail == "cannot connect to unitledger over NATS at nats://127.0.0.1:1"
    )


async def test_live_conformance_scenario(env: LiveEnv) -> None:
    # Step 1: token and NATS URL from UNITLEDGER_TOKEN and UNITLEDGER_NATS_URL.
    ext = Extension("conformance (Python)", env.extension_id, request_timeout=2.0)
    ext.on_enforcement(env.updates.append)
    await ext.open()
    try:
        assert ext.state == "OK"
        assert ext.enabled
        await report_and_check_units(ext, env)
        await retry_counted_once(ext, env)
        await invalid_input_is_a_typed_error_with_the_servers_message(ext, env)
        await uncovered_dimension_disables_and_is_quarantined(ext, env)
        await license_change_arrives_as_an_enforcement_update(ext, env)
        await outage_reports_are_replayed_exactly_once(ext, env)
    finally:
        # Step 8: closing returns without error once the buffer is empty.
        await ext.close()
