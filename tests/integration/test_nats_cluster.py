"""The 3-node NATS test cluster itself: JetStream quorum and replicated KV survive a lost node."""

from __future__ import annotations

import asyncio
from pathlib import Path

import nats
import pytest

from nats_cluster import running_cluster

pytestmark = [pytest.mark.nats, pytest.mark.slow]


async def test_replicated_kv_bucket_keeps_serving_when_one_node_is_killed(tmp_path: Path) -> None:
    with running_cluster(tmp_path / "nats") as cluster:
        nc = await nats.connect(
            servers=cluster.seed_urls.split(","),
            reconnect_time_wait=0.2,
            max_reconnect_attempts=-1,
            connect_timeout=2,
        )
        try:
            js = nc.jetstream(timeout=5)
            kv = await js.create_key_value(bucket="failover_probe", replicas=3, history=1)
            await kv.put("global", b"OK")
            info = await js.stream_info("KV_failover_probe")
            assert info.config.num_replicas == 3
            assert info.cluster is not None
            assert len(info.cluster.replicas or []) == 2

            # Kill the node this client is connected to: it fails over to a survivor.
            connected = str(nc.connected_url.port) if nc.connected_url else ""
            victim = next(n for n in cluster.nodes if str(n.port) == connected)
            victim.kill()
            for _ in range(100):
                try:
                    await kv.put("global", b"WARNING")
                    break
                except Exception:  # leader election and reconnect are in progress
                    await asyncio.sleep(0.2)
            entry = await kv.get("global")
            assert entry.value == b"WARNING"
            assert nc.connected_url is not None
            assert nc.connected_url.port != victim.port

            # The restarted node rejoins; /healthz flips while it catches the stream up, so
            # wait for all three to report healthy together (raises if they never do).
            cluster.restart(cluster.nodes.index(victim))
            cluster.wait_healthy(60)
            assert all(node.running for node in cluster.nodes)
            assert (await kv.get("global")).value == b"WARNING"
        finally:
            await nc.close()
