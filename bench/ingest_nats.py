"""Ingest over NATS: concurrent SDK reporters against a real server, bounded in time.

Runs, in one go and against the same embedded nats-server:

1. the raw NATS request/reply ceiling: the same client library (nats-py) and the same
   number of connections and requests in flight, answered by a trivial responder in
   its own process;
2. unitledger: ``Extension.report_usage`` from the same number of SDK clients and
   requests in flight, each answered after the report is durably stored.

Prints reports/s, p50/p99 ack latency and the ratio of the two rates.

    .venv/bin/python bench/ingest_nats.py --seconds 10 --clients 8 --in-flight 1000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import nats
from unitledger_sdk import Extension

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support import ServerProcess
from unitledger.signing import KeyPair

RESPONDER = """
import asyncio, sys, nats
async def main():
    nc = await nats.connect(sys.argv[1], token=sys.argv[2], pending_size=64 * 1024 * 1024)
    reply = b'{"ok":true,"result":{"record_id":1,"units":1.25}}'
    async def answer(msg):
        await msg.respond(reply)
    await nc.subscribe("bench.echo", queue="bench", cb=answer, pending_msgs_limit=1_000_000)
    await nc.flush()
    print("ready", flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


def summary(name: str, done: int, seconds: float, latencies: list[float]) -> float:
    rate = done / seconds
    ordered = sorted(latencies)
    p50 = ordered[len(ordered) // 2] * 1000 if ordered else float("nan")
    p99 = ordered[int(len(ordered) * 0.99)] * 1000 if ordered else float("nan")
    print(
        f"{name:<28} {done:>8} acks in {seconds:5.1f}s  {rate:>9,.0f}/s  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms"
    )
    return rate


async def drive(
    call: Callable[[], Awaitable[object]], workers: int, seconds: float
) -> tuple[int, float, list[float]]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - start)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return len(latencies), time.perf_counter() - started, latencies


async def raw_ceiling(
    url: str, token: str, clients: int, in_flight: int, seconds: float
) -> tuple[int, float, list[float]]:
    responder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", RESPONDER, url, token, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert responder.stdout is not None
        await responder.stdout.readline()
        conns = [
            await nats.connect(url, token=token, pending_size=64 * 1024 * 1024)
            for _ in range(clients)
        ]
        body = (
            b'{"extension_id":"bench","dimensions":{"tables_replicated":1},"idempotency_key":"x"}'
        )
        turn = iter(range(1 << 62))

        async def call() -> object:
            return await conns[next(turn) % clients].request("bench.echo", body, timeout=30)

        await drive(call, in_flight, 1.0)  # warm-up
        client_before = time.process_time()
        result = await drive(call, in_flight, seconds)
        client = time.process_time() - client_before
        print(
            f"raw clients (this process) CPU: {client * 1e6 / max(result[0], 1):.0f} us/request "
            f"({client / result[1]:.2f} cores)"
        )
        for nc in conns:
            await nc.close()
        return result
    finally:
        responder.kill()
        await responder.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def sdk_ingest(
    url: str, tokens: list[str], in_flight: int, seconds: float, server_pid: int
) -> tuple[int, float, list[float]]:
    exts = [
        Extension(f"bench {i}", f"bench-{i}", token=tokens[i], servers=url, request_timeout=30)
        for i in range(len(tokens))
    ]
    for ext in exts:
        await ext.open()
    turn = iter(range(1 << 62))

    async def call() -> object:
        ext = exts[next(turn) % len(exts)]
        result = await ext.report_usage({"tables_replicated": 1, "bytes_transferred_gb": 0.5})
        assert not result.buffered
        assert result.record_id is not None
        return result

    await drive(call, in_flight, 1.0)  # warm-up
    cpu_before = cpu_seconds(server_pid)
    client_before = time.process_time()
    result = await drive(call, in_flight, seconds)
    cpu = cpu_seconds(server_pid) - cpu_before
    client = time.process_time() - client_before
    for name, used in (("unitledger serve", cpu), ("SDK clients (this process)", client)):
        print(
            f"{name} CPU: {used:.1f} s for {result[0]} reports = "
            f"{used * 1e6 / max(result[0], 1):.0f} us/report ({used / result[1]:.2f} cores)"
        )
    for ext in exts:
        await ext.close()
    return result


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(
            Path(tmp) / "data", KeyPair.generate(), extra_env={"UNITLEDGER_LOG_LEVEL": "error"}
        )
        server.start()
        try:
            server.install_license(
                capacity_units=10**12,
                rates={"*": {"tables_replicated": 1, "bytes_transferred_gb": 0.5}},
            )
            url = f"nats://127.0.0.1:{server.nats_port}"
            assert server.proc is not None
            server_pid = server.proc.pid
            tokens = [server.token("extension", f"bench-{i}") for i in range(args.clients)]
            print(
                f"{args.clients} connections, {args.in_flight} requests in flight, {args.seconds:g}s each"
            )
            raw = summary(
                "raw NATS request/reply",
                *await raw_ceiling(
                    url, server.admin_token, args.clients, args.in_flight, args.seconds
                ),
            )
            if args.profile:
                from pyinstrument import Profiler

                profiler = Profiler(async_mode="enabled")
                profiler.start()
            ours = summary(
                "unitledger report_usage",
                *await sdk_ingest(url, tokens, args.in_flight, args.seconds, server_pid),
            )
            if args.profile:
                profiler.stop()
                print(profiler.output_text(unicode=False, color=False, show_all=False)[:6000])
            print(f"ratio unitledger / raw ceiling: {ours / raw:.2f}x")
        finally:
            server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=8, help="SDK clients (NATS connections)")
    parser.add_argument(
        "--in-flight", type=int, default=1000, help="requests outstanding at any time"
    )
    parser.add_argument(
        "--profile", action="store_true", help="profile the client side with pyinstrument"
    )
    asyncio.run(main(parser.parse_args()))
