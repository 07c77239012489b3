"""Two replicas on one database and one external nats-server: shared ingest, relayed broadcast."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import nats
import pytest

from nats_cluster import nats_server_binary
from support import ServerProcess, free_port
from unitledger.signing import KeyPair

pytestmark = [pytest.mark.nats, pytest.mark.slow]


@pytest.fixture
def external_nats(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            nats_server_binary(),
            "-a",
            "127.0.0.1",
            "-p",
            str(port),
            "-js",
            "-sd",
            str(tmp_path / "js"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield f"nats://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def replicas(
    tmp_path: Path, vendor_key: KeyPair, external_nats: str
) -> Iterator[list[ServerProcess]]:
    database = f"sqlite:///{tmp_path / 'shared.db'}"
    started: list[ServerProcess] = []
    try:
        for name in ("a", "b"):
            proc = ServerProcess(
                tmp_path / name,
                vendor_key,
                database_url=database,
                extra_env={
                    "UNITLEDGER_NATS_URL": external_nats,
                    "UNITLEDGER_IDENTITY_KEY_FILE": str(tmp_path / "identity.key"),
                },
            )
            started.append(proc.start())
        yield started
    finally:
        for proc in started:
            proc.stop()


async def test_a_change_computed_on_one_replica_reaches_sse_clients_of_the_other(
    replicas: list[ServerProcess], external_nats: str
) -> None:
    a, b = replicas
    with a.client() as c:
        assert c.get("/info").json()["nats_url"] == external_nats
    events: list[dict[str, object]] = []

    async def listen() -> None:
        headers = {"Authorization": f"Bearer {b.admin_token}"}
        async with (
            httpx.AsyncClient(timeout=30) as client,
            client.stream("GET", f"{b.url}/api/v1/enforcement/stream", headers=headers) as response,
        ):
            kind = ""
            async for line in response.aiter_lines():
                if line.startswith("event:"):
                    kind = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and kind == "enforcement":
                    events.append(json.loads(line.split(":", 1)[1]))
                    return

    listener = asyncio.create_task(listen())
    await asyncio.sleep(1.0)
    await asyncio.to_thread(a.install_license)
    await asyncio.wait_for(listener, 15)
    assert events[0]["scope"] == "global"
    assert (events[0]["previous_state"], events[0]["state"]) == ("UNLICENSED", "OK")


async def test_replicas_share_report_requests_and_each_is_answered_once(
    replicas: list[ServerProcess], external_nats: str
) -> None:
    a, _ = replicas
    await asyncio.to_thread(a.install_license)
    token = await asyncio.to_thread(a.token, "extension", "oracle-cdc")
    nc = await nats.connect(external_nats)
    try:
        for _ in range(20):
            body = {
                "extension_id": "oracle-cdc",
                "dimensions": {"tables_replicated": 1},
                "idempotency_key": uuid.uuid4().hex,
            }
            reply = await nc.request(
                "unitledger.v1.report.oracle-cdc",
                json.dumps(body).encode(),
                headers={"Authorization": f"Bearer {token}"},
                timeout=10,
            )
            assert json.loads(reply.data)["ok"] is True
    finally:
        await nc.close()
    with a.client() as c:
        assert (
            len(c.get("/usage/records", params={"extension_id": "oracle-cdc"}).json()["items"])
            == 20
        )
