"""Scale-out: HTTP ingest through 1 replica vs 2 replicas on one PostgreSQL, side by side.

Each configuration gets a fresh database, the same number of concurrent HTTP
reporters (spread evenly over the replicas) and the same time budget. Printed
per configuration: durable reports/s, p50/p99 acknowledgement latency, CPU time
per report of each replica process and of PostgreSQL (from /proc, so the cost
of coordination shows up even when throughput is bound by shared cores), and
the 2-vs-1 ratio. The ledger is verified after each run.

    .venv/bin/python bench/scaleout.py --seconds 8 --concurrency 48

Without ``--postgres-url`` a throw-away PostgreSQL cluster is started with
scripts/postgres.sh (needs root for ``runuser``) and removed afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from support import ServerProcess, free_port  # noqa: E402
from unitledger.signing import KeyPair  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int, *, children: bool = False) -> float:
    """utime + stime of ``pid`` (plus reaped children's with ``children``), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the command name: state is fields[0], so utime/stime/cutime/cstime are 11..14.
    used = int(fields[11]) + int(fields[12])
    if children:
        used += int(fields[13]) + int(fields[14])
    return used / TICKS


def postgres_cpu_seconds(postmaster: int) -> float:
    """The postmaster, its live backends, and every backend that already exited."""
    total = cpu_seconds(postmaster, children=True)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == postmaster:
            try:
                total += cpu_seconds(int(entry.name))
            except (OSError, IndexError):
                continue
    return total


@contextmanager
def postgres(url: str | None) -> Iterator[tuple[str, int | None]]:
    """(admin URL, postmaster pid or None when the cluster is not ours to measure)."""
    if url:
        yield url, None
        return
    directory = tempfile.mkdtemp(prefix="unitledger-bench-pg-")
    script = str(ROOT / "scripts" / "postgres.sh")
    started = subprocess.run(
        [script, "start", directory, str(free_port())], check=True, capture_output=True, text=True
    )
    try:
        pid = int(Path(directory, "postmaster.pid").read_text().split()[0])
        yield started.stdout.strip(), pid
    finally:
        subprocess.run([script, "stop", directory], check=False)
        subprocess.run(["rm", "-rf", directory], check=False)


@contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    name = f"ul_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{admin_url.rsplit('/', 1)[0]}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@dataclass
class Run:
    replicas: int
    reports: list[int]
    seconds: float
    latencies: list[float]
    replica_cpu: list[float]
    postgres_cpu: float | None
    verified: bool

    @property
    def total(self) -> int:
        return sum(self.reports)

    @property
    def rate(self) -> float:
        return self.total / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(int(len(ordered) * q), len(ordered) - 1)] * 1000


async def reporter(
    session: aiohttp.ClientSession, worker: int, deadline: float, latencies: list[float] | None
) -> int:
    sent = 0
    while time.perf_counter() < deadline:
        body = {
            "extension_id": f"bench-{worker % 8}",
            "account": f"svc-{worker}@bench",
            "dimensions": {"tables_replicated": 1, "bytes_transferred_gb": 0.25},
            "idempotency_key": uuid.uuid4().hex,
        }
        start = time.perf_counter()
        async with session.post("/api/v1/usage", json=body) as response:
            answer = await response.text()
        if response.status != 200:
            raise RuntimeError(f"report refused: {response.status} {answer}")
        if latencies is not None:
            latencies.append(time.perf_counter() - start)
        sent += 1
    return sent


async def drive(
    servers: Sequence[ServerProcess], seconds: float, concurrency: int, record: bool
) -> tuple[list[int], float, list[float]]:
    """Workers are spread evenly over the replicas; returns reports per replica."""
    latencies: list[float] = []
    sessions = [
        aiohttp.ClientSession(
            s.url,
            headers={"Authorization": f"Bearer {s.admin_token}"},
            connector=aiohttp.TCPConnector(limit=concurrency),
        )
        for s in servers
    ]
    try:
        start = time.perf_counter()
        deadline = start + seconds
        counts = await asyncio.gather(
            *(
                reporter(sessions[w % len(servers)], w, deadline, latencies if record else None)
                for w in range(concurrency)
            )
        )
        elapsed = time.perf_counter() - start
    finally:
        for session in sessions:
            await session.close()
    per_replica = [
        sum(counts[w] for w in range(i, concurrency, len(servers))) for i in range(len(servers))
    ]
    return per_replica, elapsed, latencies


def run(admin_url: str, postmaster: int | None, replicas: int, args: argparse.Namespace) -> Run:
    vendor = KeyPair.generate()
    with tempfile.TemporaryDirectory() as tmp, fresh_database(admin_url) as url:
        key_file = Path(tmp) / "identity.key"
        KeyPair.generate().write(key_file)
        admin = f"ul_benchadmin_{uuid.uuid4().hex}"
        env = {
            "UNITLEDGER_IDENTITY_KEY_FILE": str(key_file),
            "UNITLEDGER_LOG_LEVEL": "error",
            "UNITLEDGER_ENFORCEMENT_TICK_SECONDS": "5",
        }
        servers = [
            ServerProcess(
                Path(tmp) / f"r{i}", vendor, database_url=url, extra_env=env, admin_token=admin
            )
            for i in range(replicas)
        ]
        try:
            for server in servers:
                server.data_dir.mkdir(parents=True)
                server.start(timeout=60)
            servers[0].install_license(capacity_units=1e12)
            asyncio.run(drive(servers, args.warmup, args.concurrency, record=False))
            pids = [s.proc.pid for s in servers if s.proc is not None]
            cpu_before = [cpu_seconds(pid) for pid in pids]
            pg_before = postgres_cpu_seconds(postmaster) if postmaster else None
            reports, elapsed, latencies = asyncio.run(
                drive(servers, args.seconds, args.concurrency, record=True)
            )
            cpu = [cpu_seconds(pid) - before for pid, before in zip(pids, cpu_before, strict=True)]
            pg = (
                postgres_cpu_seconds(postmaster) - pg_before
                if postmaster and pg_before is not None
                else None
            )
            with servers[-1].client() as c:
                verified = bool(c.get("/ledger/verify", timeout=300).json()["ok"])
        finally:
            for server in servers:
                server.stop()
    return Run(replicas, reports, elapsed, latencies, cpu, pg, verified)


def describe(result: Run) -> list[str]:
    lines = [
        f"{result.replicas} replica(s): {result.total:>7,} reports in {result.seconds:4.1f} s = "
        f"{result.rate:7,.0f} reports/s   ack p50 {statistics.median(result.latencies) * 1000:5.1f} ms, "
        f"p99 {result.percentile(0.99):6.1f} ms   ledger {'ok' if result.verified else 'BROKEN'}"
    ]
    for index, (count, cpu) in enumerate(zip(result.reports, result.replica_cpu, strict=True)):
        per = cpu / count * 1e6 if count else float("nan")
        lines.append(
            f"    replica {index}: {count:>7,} reports, {cpu:5.2f} s CPU = {per:6.0f} us CPU/report"
        )
    if result.postgres_cpu is not None:
        per = result.postgres_cpu / result.total * 1e6
        lines.append(f"    postgresql: {result.postgres_cpu:5.2f} s CPU = {per:6.0f} us CPU/report")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--seconds", type=float, default=8.0, help="measured load per configuration"
    )
    parser.add_argument("--warmup", type=float, default=1.5, help="unmeasured load first")
    parser.add_argument(
        "--concurrency", type=int, default=48, help="concurrent HTTP reporters in all"
    )
    parser.add_argument("--postgres-url", help="an existing server's admin URL (else start one)")
    args = parser.parse_args()
    with postgres(args.postgres_url) as (admin_url, postmaster):
        one = run(admin_url, postmaster, 1, args)
        two = run(admin_url, postmaster, 2, args)
    for line in describe(one) + describe(two):
        print(line)
    one_cpu = sum(one.replica_cpu) / one.total * 1e6
    two_cpu = sum(two.replica_cpu) / two.total * 1e6
    print(f"throughput 2 vs 1 replica: {two.rate / one.rate:.2f}x")
    print(
        f"replica CPU per report 2 vs 1: {two_cpu:.0f} vs {one_cpu:.0f} us ({two_cpu / one_cpu:.2f}x)"
    )
    if one.postgres_cpu is not None and two.postgres_cpu is not None:
        print(
            f"postgresql CPU per report 2 vs 1: {two.postgres_cpu / two.total * 1e6:.0f} vs "
            f"{one.postgres_cpu / one.total * 1e6:.0f} us"
        )
    if not (one.verified and two.verified):
        raise SystemExit("ledger verification failed")


if __name__ == "__main__":
    main()
