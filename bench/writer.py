"""The ingest writer alone: ``_apply_batch`` over batches of parsed reports, in-process.

Measures what one group-commit transaction costs per report (rules, hashing,
SQL), without NATS, HTTP or the event loop. Optionally profiles with cProfile.

    .venv/bin/python bench/writer.py --batches 10 --size 1000 [--profile] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support import license_spec
from unitledger.bootstrap import build_service
from unitledger.config import Settings
from unitledger.domain import UsageReport
from unitledger.issuing import issue_license
from unitledger.service.auth import Principal, Role
from unitledger.signing import KeyPair

ADMIN = Principal("bench-admin", Role.ADMIN, "writer-bench")


def reports(batch: int, size: int, service: object) -> list[UsageReport]:
    out = []
    for n in range(size):
        raw = {
            "extension_id": ("oracle-cdc", "kafka-sink")[n % 2],
            "account": f"svc-{n % 7}@bench",
            "dimensions": {"tables_replicated": 1 + n % 5, "bytes_transferred_gb": (n % 4) * 0.25},
            "idempotency_key": f"w-{batch}-{n}",
        }
        out.append(service.parse(raw))  # type: ignore[attr-defined]
    return out


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    vendor = KeyPair.generate()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        runtime = build_service(
            Settings(
                data_dir=Path(tmp) / "data",
                database_url=url,
                vendor_public_key=vendor.public_pem().decode(),
            )
        )
        service = runtime.service
        await service.start()
        try:
            spec = license_spec(service.deployment_id, capacity_units=1e12)
            await service.install_license(json.dumps(issue_license(spec, vendor)), ADMIN)
            batches = [reports(b, args.size, service) for b in range(args.batches + 1)]
            service._apply_batch(batches[0])  # warm caches and the connection pool
            profiler = cProfile.Profile() if args.profile else None
            started = time.perf_counter()
            cpu_started = time.thread_time()
            if profiler:
                profiler.enable()
            for batch in batches[1:]:
                result = service._apply_batch(batch)
                assert result.records == len(batch)
            if profiler:
                profiler.disable()
            cpu = time.thread_time() - cpu_started
            elapsed = time.perf_counter() - started
            total = args.batches * args.size
            print(
                f"writer: {total} reports in {args.batches} batches of {args.size}: "
                f"{elapsed * 1e6 / total:.1f} us/report wall ({total / elapsed:,.0f} reports/s), "
                f"{cpu * 1e6 / total:.1f} us/report CPU"
            )
            assert service.verify_ledger().ok
            if profiler:
                pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
        finally:
            await service.stop()
            runtime.engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
