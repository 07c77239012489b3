"""The Python SDK's sustained reports/s with a fixed number of reports in flight.

Runs against a server started by the harness (bench/sdk_parity.sh) and prints one
JSON line, like the Go and Java programs:
``{"sdk": "python", "reports": N, "seconds": S, "per_second": R, "in_flight": K}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time

from unitledger_sdk import Extension


async def measure(ext: Extension, in_flight: int, seconds: float, limit: int) -> tuple[int, float]:
    """Keeps ``in_flight`` reports outstanding until the time or count runs out."""
    done = failed = 0
    deadline = time.perf_counter() + seconds

    async def reporter() -> None:
        nonlocal done, failed
        while time.perf_counter() < deadline and done < limit:
            try:
                result = await ext.report_usage({"tables_replicated": 1})
            except Exception:
                # Any failure spoils the measurement: counted, and refused below.
                failed += 1
                continue
            if result.buffered:
                failed += 1
            else:
                done += 1

    start = time.perf_counter()
    await asyncio.gather(*(reporter() for _ in range(in_flight)))
    elapsed = time.perf_counter() - start
    if failed:
        raise SystemExit(
            f"{failed} reports failed or were buffered: the server is not keeping up or not reachable"
        )
    return done, elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--in-flight", type=int, default=100, help="reports in flight at once")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds to measure")
    parser.add_argument("--max-reports", type=int, default=200_000, help="measured report cap")
    parser.add_argument("--extension", default=os.environ.get("UNITLEDGER_TEST_EXTENSION_ID"))
    args = parser.parse_args()
    async with Extension("sdk parity (Python)", args.extension) as ext:
        await measure(ext, args.in_flight, args.warmup, args.max_reports)
        reports, seconds = await measure(ext, args.in_flight, args.duration, args.max_reports)
    line = {
        "sdk": "python",
        "reports": reports,
        "seconds": round(seconds, 3),
        "per_second": round(reports / seconds, 1),
        "in_flight": args.in_flight,
    }
    sys.stdout.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
