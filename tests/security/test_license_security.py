"""License security: tampered files, other deployments, replayed revoked licenses and a
clock set back are refused or flagged.

In-process, with the service's clock injected (``build_service(settings, clock=...)``):
the clock-rollback rule must hold whatever the machine's clock says.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from support import license_spec, stamp
from unitledger.bootstrap import Runtime, build_service
from unitledger.config import Settings
from unitledger.errors import Conflict, InvalidLicense
from unitledger.issuing import issue_license
from unitledger.service.auth import Principal, Role
from unitledger.signing import KeyPair, deployment_id_for

ADMIN = Principal("license-admin", Role.ADMIN, "license-security-test")
T0 = datetime(2030, 3, 1, 12, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Deployment:
    runtime: Runtime
    clock: FakeClock
    vendor: KeyPair

    @property
    def service(self) -> Any:
        return self.runtime.service

    def license_file(self, **overrides: Any) -> str:
        spec = license_spec(self.service.deployment_id, **overrides)
        return json.dumps(issue_license(spec, self.vendor))

    async def report(self, key: str) -> dict[str, Any]:
        outcome = await self.service.report_usage(
            {
                "extension_id": "oracle-cdc",
                "dimensions": {"tables_replicated": 1},
                "idempotency_key": key,
            },
            ADMIN,
        )
        result: dict[str, Any] = outcome.to_dict()
        return result

    def audit(self) -> list[dict[str, Any]]:
        return list(reversed(self.service.queries.audit("clock.")))


async def start(tmp_path: Path, database_url: str, vendor: KeyPair, clock: FakeClock) -> Runtime:
    runtime = build_service(
        Settings(
            data_dir=tmp_path / "data",
            database_url=database_url,
            vendor_public_key=vendor.public_pem().decode(),
            enforcement_tick_seconds=3600,
        ),
        clock=clock,
    )
    await runtime.service.start()
    return runtime


@pytest.fixture
async def deployment(
    tmp_path: Path, database_url: str, vendor_key: KeyPair
) -> AsyncIterator[Deployment]:
    clock = FakeClock(T0)
    runtime = await start(tmp_path, database_url, vendor_key, clock)
    try:
        yield Deployment(runtime, clock, vendor_key)
    finally:
        await runtime.service.stop()
        runtime.engine.dispose()


def window(**days: float) -> dict[str, Any]:
    """A license valid from a day before T0 for ``expires`` days after T0."""
    return {
        "issued_at": stamp(T0 - timedelta(days=1)),
        "valid_from": stamp(T0 - timedelta(days=1)),
        "expires_at": stamp(T0 + timedelta(days=days.get("expires", 10))),
        "grace_days": int(days.get("grace", 2)),
    }


# -- tampering --------------------------------------------------------------------------


def test_a_license_file_changed_in_any_byte_is_refused_or_means_the_same(
    tmp_path: Path, vendor_key: KeyPair
) -> None:
    identity = KeyPair.generate()
    original_spec = license_spec(deployment_id_for(identity.public))
    original = json.dumps(issue_license(original_spec, vendor_key)).encode()
    settings = Settings(data_dir=tmp_path / "d", vendor_public_key=vendor_key.public_pem().decode())
    (tmp_path / "d").mkdir()
    identity.write(tmp_path / "d" / "identity.key")
    runtime = build_service(settings)
    service = runtime.service
    _, untouched = service.verify_license_file(original)
    refused = 0
    tried = 0

    @hypothesis_settings(max_examples=400)
    @given(st.integers(0, len(original) - 1), st.integers(0, 255))
    def change_one_byte(position: int, value: int) -> None:
        nonlocal refused, tried
        if original[position] == value:
            return
        tampered = original[:position] + bytes([value]) + original[position + 1 :]
        tried += 1
        try:
            _, accepted = service.verify_license_file(tampered)
        except InvalidLicense:
            refused += 1
            return
        # Only a change JSON ignores (whitespace between tokens) may pass: same license.
        assert accepted == untouched, tampered

    try:
        change_one_byte()
    finally:
        runtime.engine.dispose()
    assert refused > 0.9 * tried


async def test_a_tampered_license_installs_nothing(deployment: Deployment) -> None:
    envelope = json.loads(deployment.license_file(capacity_units=100))
    envelope["license"]["capacity_units"] = 1_000_000
    with pytest.raises(InvalidLicense) as refused:
        await deployment.service.install_license(json.dumps(envelope), ADMIN)
    assert refused.value.field == "signature"
    assert deployment.service.licenses() == []


async def test_a_license_for_another_deployment_is_refused(deployment: Deployment) -> None:
    other = deployment_id_for(KeyPair.generate().public)
    spec = license_spec(other)
    with pytest.raises(InvalidLicense) as refused:
        await deployment.service.install_license(
            json.dumps(issue_license(spec, deployment.vendor)), ADMIN
        )
    assert refused.value.field == "deployment_id"
    assert other in refused.value.detail
    assert deployment.service.licenses() == []


async def test_a_revoked_license_replayed_is_refused_and_stays_revoked(
    deployment: Deployment,
) -> None:
    text = deployment.license_file(license_id="LIC-REPLAY", **window())
    await deployment.service.install_license(text, ADMIN)
    await deployment.service.revoke_license("LIC-REPLAY", ADMIN)
    with pytest.raises(Conflict) as refused:
        await deployment.service.install_license(text, ADMIN)
    assert "revoked" in refused.value.detail
    (view,) = deployment.service.licenses()
    assert view["status"] == "REVOKED"
    assert deployment.service.enforcement()["state"] == "UNLICENSED"


# -- clock rollback ---------------------------------------------------------------------


async def test_setting_the_clock_back_does_not_revive_an_expired_license(
    deployment: Deployment,
) -> None:
    service = deployment.service
    await service.install_license(deployment.license_file(license_id="LIC-OLD", **window()), ADMIN)
    assert (await deployment.report("before"))["state"] == "OK"
    deployment.clock.now = T0 + timedelta(days=13)  # past expiry (10 d) and grace (2 d)
    await service.tick()
    assert service.license("LIC-OLD")["status"] == "EXPIRED"

    deployment.clock.now = T0 + timedelta(days=5)  # the clock set back into validity
    await service.tick()
    assert service.license("LIC-OLD")["status"] == "EXPIRED"
    assert service.enforcement()["state"] == "UNLICENSED"
    assert (await deployment.report("after"))["state"] == "UNLICENSED"
    (entry,) = deployment.audit()
    assert entry["action"] == "clock.rollback"
    detail = json.loads(entry["detail"])
    assert detail["behind_seconds"] == 8 * 86400
    assert "8.0 days behind" in detail["reason"]
    # Nor may a fresh copy of a license that expired by the latest time seen be installed.
    with pytest.raises(InvalidLicense):
        await service.install_license(
            deployment.license_file(license_id="LIC-OLD-2", **window(expires=1, grace=0)), ADMIN
        )


async def test_a_clock_set_back_turns_the_state_to_warning_with_a_reason_and_an_audit_entry(
    deployment: Deployment,
) -> None:
    service = deployment.service
    await service.install_license(deployment.license_file(**window()), ADMIN)
    deployment.clock.now = T0 + timedelta(days=1)
    await service.tick()
    assert service.enforcement()["state"] == "OK"

    deployment.clock.now = T0 + timedelta(hours=12)
    changes = await service.tick()
    await service.tick()  # a second look at the same rollback adds no second entry
    state = service.enforcement()
    assert state["state"] == "WARNING"
    assert "system clock is 12.0 hours behind" in state["reason"]
    assert [c.state for c in changes if c.scope == "global"] == ["WARNING"]
    outcome = await deployment.report("during")
    assert outcome["state"] == "WARNING"
    assert [e["action"] for e in deployment.audit()] == ["clock.rollback"]

    deployment.clock.now = T0 + timedelta(days=1, minutes=1)  # caught up again
    await service.tick()
    assert service.enforcement()["state"] == "OK"
    assert [e["action"] for e in deployment.audit()] == ["clock.rollback", "clock.recovered"]


async def test_a_small_step_back_within_the_tolerance_is_not_flagged(
    deployment: Deployment,
) -> None:
    service = deployment.service
    await service.install_license(deployment.license_file(**window()), ADMIN)
    deployment.clock.now = T0 + timedelta(hours=1)
    await service.tick()
    deployment.clock.now = T0 + timedelta(hours=1) - timedelta(minutes=2)
    await service.tick()
    assert service.enforcement()["state"] == "OK"
    assert deployment.audit() == []


async def test_the_latest_time_seen_survives_a_restart(
    tmp_path: Path, database_url: str, vendor_key: KeyPair
) -> None:
    clock = FakeClock(T0)
    runtime = await start(tmp_path, database_url, vendor_key, clock)
    spec = license_spec(runtime.service.deployment_id, **window())
    await runtime.service.install_license(json.dumps(issue_license(spec, vendor_key)), ADMIN)
    clock.now = T0 + timedelta(days=3)
    await runtime.service.tick()
    await runtime.service.stop()
    runtime.engine.dispose()

    clock.now = T0  # the machine comes back with its clock three days behind
    runtime = await start(tmp_path, database_url, vendor_key, clock)
    try:
        state = runtime.service.enforcement()
        assert state["state"] == "WARNING"
        assert "3.0 days behind" in state["reason"]
    finally:
        await runtime.service.stop()
        runtime.engine.dispose()
