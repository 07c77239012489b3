"""Failover under load: a replica and a NATS node die; survivors finish the work exactly once.

Three replicas share one database and the 3-node NATS cluster (by its seed
list). While reporters are busy, replica 0 and NATS node 0 are SIGKILLed.
Reporters retry unanswered reports, with the same idempotency key, on the
next replica — as SDKs and the load balancer do. Afterwards every report is
acknowledged, stored exactly once with the answer it was acknowledged with,
and pools, totals and the hash chain are exact.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nats
import pytest

from ledger_checks import check_charging
from nats_cluster import running_cluster
from replicas import all_records, hammer, running_replicas
from support import stamp
from unitledger.signing import KeyPair

pytestmark = [pytest.mark.slow, pytest.mark.nats]

REPORTS = 500


async def bucket_replicas(seed_urls: str) -> dict[str, int]:
    nc = await nats.connect(servers=seed_urls.split(","), connect_timeout=2)
    try:
        js = nc.jetstream(timeout=5)
        return {
            name: (await js.stream_info(name)).config.num_replicas or 1
            for name in ("KV_unitledger_enforcement", "KV_unitledger_heartbeats")
        }
    finally:
        await nc.close()


def test_killing_a_replica_and_a_nats_node_under_load_loses_and_doubles_nothing(
    tmp_path: Path, vendor_key: KeyPair, database_url: str
) -> None:
    now = datetime.now(UTC)
    with (
        running_cluster(tmp_path / "nats") as cluster,
        running_replicas(
            tmp_path,
            vendor_key,
            database_url,
            3,
            {"UNITLEDGER_NATS_URL": cluster.seed_urls, "UNITLEDGER_NATS_KV_REPLICAS": "3"},
        ) as replicas,
    ):
        assert asyncio.run(bucket_replicas(cluster.seed_urls)) == {
            "KV_unitledger_enforcement": 3,
            "KV_unitledger_heartbeats": 3,
        }
        replicas[1].install_license(
            license_id="LIC-SOONER", capacity_units=400, expires_at=stamp(now + timedelta(days=30))
        )
        replicas[2].install_license(
            license_id="LIC-LATER", capacity_units=400, expires_at=stamp(now + timedelta(days=60))
        )
        alive = [True, True, True]
        failed = threading.Lock()

        def fail_after_a_third(acked: int) -> None:
            if acked < REPORTS // 3 or not failed.acquire(blocking=False):
                return
            replicas[0].kill()
            cluster.nodes[0].kill()
            alive[0] = False

        load = hammer(
            replicas, REPORTS, workers=12, resend_every=11, alive=alive, on_ack=fail_after_a_third
        )
        assert not alive[0], "the load finished before the failure was injected"
        assert replicas[0].proc is not None
        assert replicas[0].proc.returncode == -9

        acked = load.first_acks()
        assert len(acked) == REPORTS
        assert {a.replica for a in load.acked} == {0, 1, 2}
        assert [r for r in load.refused if r[1] not in (429, 503)] == []

        survivor = replicas[2]
        records = all_records(survivor)
        by_key = {r["idempotency_key"]: r for r in records}
        assert len(records) == len(by_key) == REPORTS
        for key, ack in acked.items():
            assert by_key[key]["record_id"] == ack.record_id
            assert by_key[key]["units"] == ack.units

        with survivor.client() as c:
            licenses = c.get("/licenses").json()
            summary = c.get("/usage/summary").json()
            chain = c.get("/ledger/verify").json()
        used = check_charging(records, licenses)
        total = sum(a.units for a in acked.values())
        assert sum(used.values()) == pytest.approx(total)
        assert summary["used_units"] == pytest.approx(total)
        assert chain["ok"], chain
        assert chain["records"] == REPORTS
