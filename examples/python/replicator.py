"""A tiny example extension: reports replicated tables every few seconds and obeys enforcement.

export UNITLEDGER_TOKEN=ul_…            # unitledger token create --role extension --extension oracle-cdc
export UNITLEDGER_NATS_URL=nats://127.0.0.1:4222
python examples/python/replicator.py --interval 5    (see README.md beside this file)
"""

from __future__ import annotations

import argparse
import asyncio
import random

from unitledger_sdk import EnforcementChange, Extension, InvalidReport


async def main(extension_id: str, interval: float, rounds: int | None) -> None:
    async with Extension("Demo replicator", extension_id, account="svc-etl@finance") as ext:

        def announce(change: EnforcementChange) -> None:
            print(
                f"enforcement: {change.key} {change.previous_state} → {change.state} ({change.reason})"
            )

        ext.on_enforcement(announce)
        print(
            f"connected as {extension_id} (instance {ext.instance_id}); state {ext.state}",
            flush=True,
        )
        done = 0
        while rounds is None or done < rounds:
            if not ext.enabled:
                print(f"disabled ({ext.state}); pausing work", flush=True)
            else:
                tables = random.randint(1, 5)
                try:
                    result = await ext.report_usage(
                        {
                            "tables_replicated": tables,
                            "bytes_transferred_gb": round(random.random(), 3),
                        }
                    )
                except InvalidReport as exc:
                    print(f"refused: {exc.detail} [{exc.field}]")
                else:
                    where = "buffered" if result.buffered else f"record {result.record_id}"
                    print(f"{where}: {result.units:.2f} units, state {result.state}", flush=True)
            done += 1
            await asyncio.sleep(interval)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--extension-id", default="oracle-cdc")
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=None, help="stop after this many reports")
    args = parser.parse_args()
    asyncio.run(main(args.extension_id, args.interval, args.rounds))
