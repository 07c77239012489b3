"""Soak: the reliability tests at a length the regular suite cannot afford.

Runs ``tests/reliability`` with more SIGKILL cycles (default 200) and the HTTP
duplicate test at 10,000 reports, on SQLite (and PostgreSQL when
``UNITLEDGER_TEST_POSTGRES_URL`` is set), and prints the figures each test reports.

    .venv/bin/python bench/soak.py [--cycles 200] [--reports 10000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=200, help="SIGKILL cycles")
    parser.add_argument(
        "--reports", type=int, default=10_000, help="reports in the HTTP duplicate test"
    )
    args = parser.parse_args()
    env = {
        **os.environ,
        "UNITLEDGER_SOAK_CYCLES": str(args.cycles),
        "UNITLEDGER_SOAK_REPORTS": str(args.reports),
    }
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-q",
        "-s",
        "--timeout",
        str(max(1800, args.cycles * 30)),
        "tests/reliability/test_crash_durability.py",
        "tests/reliability/test_duplicates.py",
    ]
    return subprocess.run(command, cwd=ROOT, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
