"""Several replicas on one database, hammered at once: accounting stays exact.

The mechanism under test (docs/deployment.md, "Exact accounting across
replicas"): every writing transaction first locks the single ``ledger_head`` row,
then the license pools, so charging is one serial step across all replicas.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ledger_checks import check_charging
from replicas import all_records, hammer, running_replicas
from support import stamp
from unitledger.signing import KeyPair

pytestmark = pytest.mark.slow


def test_replicas_under_concurrent_load_charge_exactly_what_they_acknowledged(
    tmp_path: Path, vendor_key: KeyPair, database_url: str
) -> None:
    now = datetime.now(UTC)
    with running_replicas(tmp_path, vendor_key, database_url, 3) as replicas:
        first, second, third = replicas
        assert first.deployment_id == second.deployment_id == third.deployment_id
        # Two pools that run out in the middle of the load, through different replicas.
        first.install_license(
            license_id="LIC-SOONER", capacity_units=300, expires_at=stamp(now + timedelta(days=30))
        )
        second.install_license(
            license_id="LIC-LATER", capacity_units=300, expires_at=stamp(now + timedelta(days=60))
        )

        load = hammer(replicas, 360, workers=12)

        assert load.refused == []
        acked = load.first_acks()
        assert len(acked) == 360
        assert {a.replica for a in load.acked} == {0, 1, 2}
        # The resent copies were answered as duplicates of one record.
        assert sum(a.duplicate for a in load.acked) == len(load.acked) - 360

        records = all_records(third)
        by_key = {r["idempotency_key"]: r for r in records}
        assert len(records) == len(by_key) == 360
        for key, ack in acked.items():
            assert by_key[key]["record_id"] == ack.record_id
            assert by_key[key]["units"] == ack.units

        with third.client() as c:
            licenses = c.get("/licenses").json()
            summary = c.get("/usage/summary").json()
            chain = c.get("/ledger/verify").json()
        used = check_charging(records, licenses)
        total = sum(a.units for a in acked.values())
        assert used["LIC-SOONER"] == 300.0
        assert sum(used.values()) == pytest.approx(total)
        assert summary["used_units"] == pytest.approx(total)
        assert summary["over_units"] == pytest.approx(total - 600.0)
        assert chain == {"ok": True, "records": 360, "first_bad_record": None, "problem": None}

        # Every replica reads the same state, computed once from the shared ledger.
        for replica in replicas:
            with replica.client() as c:
                body = c.get("/enforcement").json()
            assert body["state"] == "WARNING"
            assert body["used_units"] == pytest.approx(total)
