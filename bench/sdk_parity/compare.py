"""Prints the SDKs' reports/s side by side with the ratio to the fastest.

Reads one JSON line per SDK ({"sdk", "reports", "seconds", "per_second"}) on stdin;
exits 1 when an SDK is slower than ``FLOOR`` times the fastest.
"""

from __future__ import annotations

import json
import sys

FLOOR = 0.5


def main() -> int:
    rows = [json.loads(line) for line in sys.stdin if line.strip().startswith("{")]
    if not rows:
        print("no SDK result to compare", file=sys.stderr)
        return 1
    fastest = max(row["per_second"] for row in rows)
    print(f"{'sdk':<8} {'reports':>9} {'seconds':>8} {'reports/s':>10} {'vs fastest':>10}")
    slow = []
    for row in rows:
        ratio = row["per_second"] / fastest
        print(
            f"{row['sdk']:<8} {row['reports']:>9} {row['seconds']:>8.2f} "
            f"{row['per_second']:>10.0f} {ratio:>9.2f}x"
        )
        if ratio < FLOOR:
            slow.append(row["sdk"])
    in_flight = rows[0].get("in_flight", "?")
    print(f"{in_flight} reports in flight per SDK, same server, one SDK at a time")
    if slow:
        print(f"slower than {FLOOR}x the fastest: {', '.join(slow)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
