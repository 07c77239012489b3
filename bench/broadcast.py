"""Broadcast latency: one enforcement change delivered to 1,000 subscriptions.

Starts a real server, opens ``--subscriptions`` subscriptions to the global
enforcement subject spread over ``--connections`` NATS connections (viewer token),
then installs a license (UNLICENSED → OK) and measures, per subscription, the time
from the change's ``changed_at`` (stamped by the server when it computed the change)
to its arrival. Repeats ``--rounds`` times (install, revoke, ...).

    .venv/bin/python bench/broadcast.py --subscriptions 1000 --connections 20 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import nats

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support import ServerProcess
from unitledger.signing import KeyPair

SUBJECT = "unitledger.v1.enforcement.global"


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp) / "data", KeyPair.generate())
        server.start()
        conns: list[Any] = []
        try:
            token = server.token("viewer")
            url = f"nats://127.0.0.1:{server.nats_port}"
            conns = [await nats.connect(url, token=token) for _ in range(args.connections)]
            arrivals: list[tuple[int, float]] = []

            all_arrived = asyncio.Event()

            async def on_change(msg: Any) -> None:
                arrivals.append((json.loads(msg.data)["seq"], time.time()))
                if len(arrivals) >= args.subscriptions:
                    all_arrived.set()

            for i in range(args.subscriptions):
                await conns[i % len(conns)].subscribe(SUBJECT, cb=on_change)
            for nc in conns:
                await nc.flush()
            delays: list[float] = []
            license_ids: list[str] = []
            for round_ in range(args.rounds):
                arrivals.clear()
                all_arrived.clear()
                if round_ % 2 == 0:
                    installed = await asyncio.to_thread(server.install_license)
                    license_ids.append(installed["license_id"])
                else:
                    with server.client() as c:
                        c.post(f"/licenses/{license_ids[-1]}/revoke").raise_for_status()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(all_arrived.wait(), 10)
                assert len(arrivals) == args.subscriptions, f"only {len(arrivals)} deliveries"
                with server.client() as c:
                    changed = c.get("/enforcement").json()
                seq = arrivals[0][0]
                assert all(s == seq for s, _ in arrivals)
                kv_body = await conns[0].jetstream().key_value("unitledger_enforcement")
                entry = json.loads((await kv_body.get("global")).value)
                stamp = datetime.fromisoformat(
                    entry["changed_at"].replace("Z", "+00:00")
                ).timestamp()
                delays.extend(t - stamp for _, t in arrivals)
                print(f"round {round_ + 1}: state {changed['state']}, {len(arrivals)} deliveries")
            ordered = sorted(delays)
            p50 = ordered[len(ordered) // 2] * 1000
            p99 = ordered[int(len(ordered) * 0.99)] * 1000
            print(
                f"{args.subscriptions} subscriptions over {args.connections} connections, {args.rounds} changes: "
                f"delivery after the change was computed p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {ordered[-1] * 1000:.1f} ms"
            )
        finally:
            for nc in conns:
                await nc.close()
            server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subscriptions", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    asyncio.run(main(parser.parse_args()))
