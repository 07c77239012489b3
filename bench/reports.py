"""Allocation report latency at scale: the rollup-served report vs a naive GROUP BY over records.

Generates usage records over 90 days (20 extensions, 10 business units, 1,000
accounts by default) straight into a fresh database with bulk inserts, together
with the hourly and daily rollups ingest would have maintained, then times the
monthly report grouped by business unit + extension through the product's own
code path (``AllocationService``) and, in the same run, the naive
``GROUP BY`` over the raw records for the same month. Both must agree.

    .venv/bin/python bench/reports.py                      # 10M records, SQLite
    .venv/bin/python bench/reports.py --records 200000     # a quick run
    .venv/bin/python bench/reports.py --database-url postgresql://... --records 1000000

Targets (SQLite): report < 100 ms and >= 50x faster than the naive query.
Exit status 1 when a target is missed or the two disagree.
"""

from __future__ import annotations

import argparse
import math
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import Engine, text

from unitledger.adapters.storage import tables as t
from unitledger.adapters.storage.attribution import SqlAttributionStore
from unitledger.adapters.storage.engine import make_engine
from unitledger.adapters.storage.migrate import upgrade
from unitledger.domain import to_micros
from unitledger.service.allocation import AllocationService, ReportQuery
from unitledger.signing import KeyPair

HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US
RECORD_COLUMNS = [c.name for c in t.usage_records.columns]
ROLLUP_COLUMNS = [
    "hour_us",
    "extension_id",
    "account",
    "business_unit_id",
    "dimension",
    "value",
    "units",
    "records",
]
DAILY_COLUMNS = [
    "day_us",
    "extension_id",
    "business_unit_id",
    "dimension",
    "value",
    "units",
    "records",
]
# Secondary indexes are dropped while loading and rebuilt after, as a bulk import would.
RECORD_INDEXES = [
    ("ix_usage_records_ext_time", "usage_records (extension_id, occurred_at_us)"),
    ("ix_usage_records_time", "usage_records (occurred_at_us)"),
    ("ix_usage_records_account", "usage_records (account)"),
]
DIMENSIONS = [
    ("tables_replicated", 1.0),
    ("bytes_transferred_gb", 0.5),
    ("events_processed", 0.001),
]

console = Console(stderr=True)


class Loader:
    """Bulk inserts for SQLite (executemany on the raw connection) and PostgreSQL (COPY)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.raw: Any = engine.raw_connection()
        self.postgres = engine.dialect.name == "postgresql"
        if not self.postgres:
            cur = self.raw.cursor()
            # Loading only: the product itself runs with synchronous=FULL.
            cur.execute("PRAGMA synchronous=OFF")
            cur.execute("PRAGMA cache_size=-400000")
            cur.close()

    def execute(self, sql: str) -> None:
        cur = self.raw.cursor()
        cur.execute(sql)
        cur.close()
        self.raw.commit()

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
        if not rows:
            return
        cur = self.raw.cursor()
        if self.postgres:
            with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            if not self.raw.in_transaction:
                # The engine runs sqlite3 in autocommit mode; one transaction per chunk.
                cur.execute("BEGIN")
            marks = ", ".join("?" for _ in columns)
            cur.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
        cur.close()

    def commit(self) -> None:
        if self.postgres:
            self.raw.commit()
        elif self.raw.in_transaction:
            self.raw.driver_connection.execute("COMMIT")

    def close(self) -> None:
        self.raw.close()


def generate(
    loader: Loader,
    *,
    records: int,
    days: int,
    end: datetime,
    extensions: int,
    business_units: int,
    accounts: int,
    seed: int,
    progress: Callable[[int], None],
) -> None:
    """Write ``records`` records in time order, hour by hour, with their rollups."""
    rng = random.Random(seed)
    ext_ids = [f"ext-{n:02d}" for n in range(extensions)]
    ext_dims = {e: rng.sample(DIMENSIONS, 2) for e in ext_ids}
    account_ids = [f"svc-{n:04d}@team{n % 50:02d}" for n in range(accounts)]
    bu_ids = [f"bu-{n:02d}" for n in range(business_units)]
    # About 10 % of accounts have no business unit: their usage is Unattributed.
    account_bu = {a: (None if rng.random() < 0.1 else rng.choice(bu_ids)) for a in account_ids}
    # Skewed activity: a few service accounts do most of the work, as in real platforms.
    weights = [1 / (n + 1) ** 0.8 for n in range(accounts)]
    hexes = [f"{rng.getrandbits(256):064x}" for _ in range(4096)]
    hours = days * 24
    start_us = to_micros(end) - hours * HOUR_US
    now = datetime.now(UTC)
    loader.insert(
        "business_units",
        [
            "business_unit_id",
            "name",
            "description",
            "contact_email",
            "soft_quota_units",
            "created_at_us",
            "updated_at_us",
        ],
        [
            (b, f"Business unit {b[3:]}", "", None, None, to_micros(now), to_micros(now))
            for b in bu_ids
        ],
    )
    daily: dict[tuple[int, str, str, str], list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
    record_id = 0
    rows: list[tuple[Any, ...]] = []
    rollup_rows: list[tuple[Any, ...]] = []
    charges = '[{"license_id":"LIC-BENCH","over_units":0.0,"period":"term","units":%s}]'
    for hour in range(hours):
        hour_us = start_us + hour * HOUR_US
        count = records * (hour + 1) // hours - records * hour // hours
        picked = rng.choices(account_ids, weights=weights, k=count)
        rollup: dict[tuple[str, str, str, str], list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
        for account in picked:
            record_id += 1
            ext = ext_ids[rng.randrange(extensions)]
            (d1, r1), (d2, r2) = ext_dims[ext]
            v1 = float(rng.randint(1, 20))
            v2 = float(rng.randint(1, 40))
            u1, u2 = v1 * r1, v2 * r2
            units = u1 + u2
            bu = account_bu[account]
            at = hour_us + rng.randrange(HOUR_US)
            rows.append(
                (
                    record_id,
                    ext,
                    account,
                    f"k{record_id}",
                    hexes[record_id & 4095],
                    at,
                    at + 1000,
                    f'{{"{d1}":{v1},"{d2}":{v2}}}',
                    f'{{"{d1}":{u1},"{d2}":{u2}}}',
                    units,
                    f'{{"{d1}":{r1},"{d2}":{r2}}}',
                    charges % units,
                    hexes[(record_id - 1) & 4095],
                    hexes[record_id & 4095],
                    "OK",
                    bu,
                    "auto" if bu else None,
                    "rule_bench" if bu else None,
                    1 if bu else None,
                )
            )
            for dim, value, u in ((d1, v1, u1), (d2, v2, u2)):
                acc = rollup[(ext, account, bu or "", dim)]
                acc[0] += value
                acc[1] += u
                acc[2] += 1
        rollup_rows.extend(
            (hour_us, k[0], k[1], k[2], k[3], v[0], v[1], int(v[2])) for k, v in rollup.items()
        )
        day_us = hour_us - hour_us % DAY_US
        for (ext, _account, bu_key, dim), v in rollup.items():
            acc = daily[(day_us, ext, bu_key, dim)]
            acc[0] += v[0]
            acc[1] += v[1]
            acc[2] += v[2]
        if len(rows) >= 50_000 or hour == hours - 1:
            loader.insert("usage_records", RECORD_COLUMNS, rows)
            loader.insert("usage_rollups_hourly", ROLLUP_COLUMNS, rollup_rows)
            loader.commit()
            progress(len(rows))
            rows, rollup_rows = [], []
    loader.insert(
        "usage_rollups_daily",
        DAILY_COLUMNS,
        [(k[0], k[1], k[2], k[3], v[0], v[1], int(v[2])) for k, v in daily.items()],
    )
    loader.commit()


def timed(fn: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    times = []
    result = None
    for _ in range(repeat):
        began = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - began) * 1000)
    return times, result


def naive(engine: Engine, start_us: int, end_us: int) -> dict[tuple[str | None, str], float]:
    sql = text(
        "SELECT business_unit_id, extension_id, SUM(units) FROM usage_records "
        "WHERE occurred_at_us >= :s AND occurred_at_us < :e GROUP BY business_unit_id, extension_id"
    )
    with engine.connect() as conn:
        return {
            (bu, ext): float(u) for bu, ext, u in conn.execute(sql, {"s": start_us, "e": end_us})
        }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--extensions", type=int, default=20)
    parser.add_argument("--business-units", type=int, default=10)
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument(
        "--database-url", help="default: a fresh SQLite file in a temporary directory"
    )
    parser.add_argument("--repeat", type=int, default=7, help="timed runs of the rollup report")
    parser.add_argument("--naive-repeat", type=int, default=3, help="timed runs of the naive query")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the generated SQLite database")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="unitledger-bench-"))
    url = args.database_url or f"sqlite:///{workdir / 'bench.db'}"
    engine = make_engine(url)
    upgrade(engine)
    # The report month: the last full calendar month inside the generated window.
    end = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    month_start = (end - timedelta(days=1)).replace(day=1)
    if end - timedelta(days=args.days) > month_start:
        parser.error("--days must cover a full calendar month (at least 31)")

    loader = Loader(engine)
    for name, _ in RECORD_INDEXES:
        loader.execute(f"DROP INDEX IF EXISTS {name}")
    began = time.perf_counter()
    with Progress(
        TextColumn("generating records"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("records", total=args.records)
        generate(
            loader,
            records=args.records,
            days=args.days,
            end=end,
            extensions=args.extensions,
            business_units=args.business_units,
            accounts=args.accounts,
            seed=args.seed,
            progress=lambda n: bar.advance(task, n),
        )
    console.print(
        f"generated {args.records:,} records in {time.perf_counter() - began:.0f}s; building indexes"
    )
    for name, spec in RECORD_INDEXES:
        loader.execute(f"CREATE INDEX {name} ON {spec}")
    loader.execute("ANALYZE")
    loader.close()

    with engine.connect() as conn:
        hourly_rows = conn.execute(text("SELECT COUNT(*) FROM usage_rollups_hourly")).scalar_one()
        daily_rows = conn.execute(text("SELECT COUNT(*) FROM usage_rollups_daily")).scalar_one()

    reports = AllocationService(
        store=lambda write=False, lock=True: SqlAttributionStore(engine, write=write, lock=lock),
        clock=lambda: end,
        licenses=list,
        identity=KeyPair.generate(),
    )
    query = ReportQuery(start=month_start, end=end, group_by="business_unit_extension")
    report_times, report = timed(lambda: reports.allocation(query), args.repeat)
    start_us, end_us = to_micros(month_start), to_micros(end)
    naive_times, naive_rows = timed(lambda: naive(engine, start_us, end_us), args.naive_repeat)

    fast = statistics.median(report_times)
    slow = statistics.median(naive_times)
    ratio = slow / fast
    naive_total = math.fsum(naive_rows.values())
    agree = math.isclose(report.total_units, naive_total, rel_tol=1e-9) and len(report.rows) == len(
        naive_rows
    )
    month_records = None
    with engine.connect() as conn:
        month_records = conn.execute(
            text(
                "SELECT COUNT(*) FROM usage_records WHERE occurred_at_us >= :s AND occurred_at_us < :e"
            ),
            {"s": start_us, "e": end_us},
        ).scalar_one()
    backend = engine.dialect.name
    print(
        f"backend: {backend}  records: {args.records:,} over {args.days} days  "
        f"({args.extensions} extensions, {args.business_units} business units, {args.accounts} accounts)"
    )
    print(f"rollups: {hourly_rows:,} hourly rows, {daily_rows:,} daily rows")
    print(
        f"report month {month_start:%Y-%m}: {month_records:,} records, {len(report.rows)} rows, "
        f"{report.total_units:,.1f} units (naive: {naive_total:,.1f}) -> {'agree' if agree else 'DISAGREE'}"
    )
    print(
        f"monthly report by business unit + extension (rollups): median {fast:.1f} ms  "
        f"(runs: {', '.join(f'{x:.1f}' for x in report_times)})"
    )
    print(
        f"naive GROUP BY over raw records:                      median {slow:.1f} ms  "
        f"(runs: {', '.join(f'{x:.0f}' for x in naive_times)})"
    )
    print(f"ratio: {ratio:.0f}x faster")
    ok = agree and fast < 100 and ratio >= 50
    print(f"targets (< 100 ms, >= 50x): {'met' if ok else 'MISSED'}")
    engine.dispose()
    if args.keep:
        console.print(f"database kept at {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
