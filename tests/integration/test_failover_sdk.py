"""Failover seen from the SDK: Python clients on the cluster's seed list lose and double nothing.

Three replicas share one database and the 3-node NATS cluster; six SDK clients
connect with the three-node seed list (``servers="nats://a,nats://b,nats://c"``)
and report concurrently. A third of the way in, replica 0 is frozen for 0.3 s
(so reports are in flight on it) and then it and the NATS node that most
clients are connected to are SIGKILLed. Those clients reconnect to a
surviving node; reports that were in flight time out and wait in the SDK's
offline buffer, which replays them (same idempotency key) through the surviving
replicas. Afterwards every report a client saw acknowledged is stored once with
the record id and units it was acknowledged with, every buffered one is stored
once after ``flush``, and totals and the hash chain are exact.

The external cluster runs without unitledger's auth callout (docs/deployment.md,
"NATS authorization on an external cluster"): the responder's per-message token
check is what keeps a client to its own extension, and it is checked here too.
"""

from __future__ import annotations

import asyncio
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from unitledger_sdk import Extension, Forbidden, Unauthorized

from nats_cluster import NatsCluster, NatsNode, running_cluster
from replicas import all_records, running_replicas
from support import stamp
from unitledger.signing import KeyPair

pytestmark = [pytest.mark.slow, pytest.mark.nats]

CLIENTS = 6
PER_CLIENT = 60
REPORTS = CLIENTS * PER_CLIENT


def sdk_connections(node: NatsNode) -> set[str]:
    """Extension ids of the SDK clients connected to ``node`` (from its monitoring port)."""
    try:
        body = httpx.get(
            f"http://127.0.0.1:{node.monitor_port}/connz", params={"limit": 1000}, timeout=2
        ).json()
    except httpx.TransportError:
        return set()
    names = [str(c.get("name") or "") for c in body.get("connections") or []]
    # The SDK names its connection "<name> (<extension_id>/<instance_id>)".
    return {n.split("(", 1)[1].split("/", 1)[0] for n in names if n.startswith("SDK ")}


def busiest_node(cluster: NatsCluster) -> tuple[NatsNode, set[str]]:
    placed = [(node, sdk_connections(node)) for node in cluster.nodes]
    return max(placed, key=lambda pair: len(pair[1]))


async def test_sdk_clients_on_the_seed_list_survive_a_killed_replica_and_nats_node(
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
        replicas[1].install_license(
            license_id="LIC-SDK",
            capacity_units=1_000_000,
            expires_at=stamp(now + timedelta(days=30)),
        )
        ids = [f"sdk-{i}" for i in range(CLIENTS)]
        tokens = {
            ext_id: replicas[i % 3].token("extension", ext_id) for i, ext_id in enumerate(ids)
        }
        extensions = [
            Extension(
                f"SDK {i}",
                ext_id,
                token=tokens[ext_id],
                servers=cluster.seed_urls,
                request_timeout=1.0,
            )
            for i, ext_id in enumerate(ids)
        ]
        sent: dict[str, float] = {}
        acked: dict[str, dict[str, Any]] = {}
        buffered: set[str] = set()
        sent_after_kill: dict[str, list[str]] = {ext_id: [] for ext_id in ids}
        a_third_acked = asyncio.Event()
        killed = asyncio.Event()
        victims: dict[str, Any] = {}

        async def fail_over() -> None:
            await a_third_acked.wait()
            # Freeze replica 0 first, so that reports are certainly in flight on it
            # (taken from the queue group, never answered) when it dies.
            assert replicas[0].proc is not None
            replicas[0].proc.send_signal(signal.SIGSTOP)
            await asyncio.sleep(0.3)
            node, on_node = busiest_node(cluster)
            victims.update(node=node, clients=on_node)
            await asyncio.gather(asyncio.to_thread(replicas[0].kill), asyncio.to_thread(node.kill))
            killed.set()

        async def client(i: int, ext: Extension) -> None:
            for n in range(PER_CLIENT):
                key = f"{ext.extension_id}-{n}"
                units = float(1 + n % 4)
                sent[key] = units
                if killed.is_set():
                    sent_after_kill[ext.extension_id].append(key)
                result = await ext.report_usage({"tables_replicated": units}, idempotency_key=key)
                if result.buffered:
                    buffered.add(key)
                    await asyncio.sleep(0.02)
                    continue
                acked[key] = {"record_id": result.record_id, "units": result.units}
                if len(acked) >= REPORTS // 3:
                    a_third_acked.set()
                await asyncio.sleep(0.005)

        started = time.monotonic()
        try:
            for ext in extensions:
                await ext.open()
            killer = asyncio.create_task(fail_over())
            await asyncio.gather(*(client(i, ext) for i, ext in enumerate(extensions)))
            await asyncio.wait_for(killer, 5)
            for ext in extensions:
                await ext.flush(30)
                assert ext.failed == []
                assert ext.connected
            reconnected = set().union(
                *(sdk_connections(n) for n in cluster.nodes if n is not victims["node"])
            )

            # The per-message token check still holds on the open cluster. A new client
            # opens once the KV streams have leaders again: open() reads the state bucket,
            # and JetStream answers nothing while a lost leader is being replaced.
            await asyncio.to_thread(cluster.wait_healthy)
            async with Extension(
                "Wrong", "sdk-1", token=tokens["sdk-0"], servers=cluster.seed_urls
            ) as wrong:
                with pytest.raises(Forbidden):
                    await wrong.report_usage({"tables_replicated": 1.0})
            async with Extension(
                "Bogus", "sdk-1", token="ul_not_a_token", servers=cluster.seed_urls
            ) as bogus:
                with pytest.raises(Unauthorized):
                    await bogus.report_usage({"tables_replicated": 1.0})
        finally:
            for ext in extensions:
                await ext.close(flush_timeout=1)
        elapsed = time.monotonic() - started

        assert replicas[0].proc is not None
        assert replicas[0].proc.returncode == -9
        assert not victims["node"].running
        assert victims["clients"], "no SDK client was on the killed NATS node"
        assert victims["clients"] <= reconnected, "a client did not move to a surviving node"
        # Every client went on reporting after the kills (each of those reports is
        # checked below to be stored once, by a surviving replica).
        assert all(sent_after_kill.values()), sent_after_kill
        assert buffered, "no report was ever buffered: the kills proved nothing"

        survivor = replicas[2]
        records = await asyncio.to_thread(all_records, survivor)
        by_key = {r["idempotency_key"]: r for r in records}
        assert len(records) == len(by_key) == REPORTS, "a report is lost or stored twice"
        assert set(by_key) == set(sent)
        for key, answer in acked.items():
            assert by_key[key]["record_id"] == answer["record_id"]
            assert by_key[key]["units"] == pytest.approx(answer["units"])
        for key, units in sent.items():
            assert by_key[key]["dimensions"] == {"tables_replicated": units}
        total = sum(sent.values())
        assert sum(r["units"] for r in records) == pytest.approx(total)
        with survivor.client() as c:
            summary = c.get("/usage/summary").json()
            chain = c.get("/ledger/verify").json()
        assert summary["used_units"] == pytest.approx(total)
        assert chain["ok"], chain
        assert chain["records"] == REPORTS
        print(
            f"\nSDK failover: {CLIENTS} clients, {REPORTS} reports in {elapsed:.1f} s; "
            f"killed replica 0 and NATS node {victims['node'].name} "
            f"(clients {sorted(victims['clients'])} moved to survivors); "
            f"{len(acked)} acknowledged at once, {len(buffered)} buffered and replayed; "
            f"reports made after the kills per client "
            f"{ {ext_id: len(keys) for ext_id, keys in sent_after_kill.items()} }"
        )
