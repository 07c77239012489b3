"""Re-checking the ledger's hash chain (``unitledger ledger verify``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from unitledger.domain import GENESIS_HASH, record_hash

__all__ = ["ChainReport", "verify_chain"]


@dataclass(frozen=True, slots=True)
class ChainReport:
    ok: bool
    records: int
    first_bad_record: int | None = None
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "records": self.records,
            "first_bad_record": self.first_bad_record,
            "problem": self.problem,
        }


def verify_chain(
    rows: Iterable[Mapping[str, Any]],
    head: tuple[int, str] | None,
    progress: Callable[[int], None] | None = None,
) -> ChainReport:
    """Walk records in order; each must hash to its stored hash and link to the one before.

    Detects changed rows (hash mismatch), deleted rows (gap in record ids or a broken
    link), inserted rows (broken link) and truncation at the end (head mismatch).
    """
    prev_hash = GENESIS_HASH
    expected_id = 1
    count = 0
    for row in rows:
        rid = int(row["record_id"])
        if rid != expected_id:
            return ChainReport(
                False, count, expected_id, f"record {expected_id} is missing (next is {rid})"
            )
        if row["prev_hash"] != prev_hash:
            return ChainReport(False, count, rid, "does not link to the record before it")
        digest = record_hash(
            record_id=rid,
            extension_id=row["extension_id"],
            account=row["account"],
            idempotency_key=row["idempotency_key"],
            occurred_at_us=int(row["occurred_at_us"]),
            received_at_us=int(row["received_at_us"]),
            dimensions=json.loads(row["dimensions"]),
            units_by_dimension=json.loads(row["units_by_dimension"]),
            units=float(row["units"]),
            rates=json.loads(row["rates"]),
            charges=json.loads(row["charges"]),
            prev_hash=row["prev_hash"],
        )
        if digest != row["hash"]:
            return ChainReport(
                False, count, rid, "content does not match its hash (the row was changed)"
            )
        prev_hash = row["hash"]
        expected_id += 1
        count += 1
        if progress is not None and count % 10_000 == 0:
            progress(count)
    if head is not None and head[0] > count:
        return ChainReport(
            False,
            count,
            count + 1,
            f"ledger head says {head[0]} records but the chain has {count}: "
            f"record {count + 1} onwards is missing",
        )
    if head is not None and head[0] < count:
        return ChainReport(
            False,
            count,
            head[0] + 1,
            f"ledger head says {head[0]} records but the chain has {count}: "
            f"record {head[0] + 1} onwards was added outside the ledger",
        )
    if head is not None and head[1] != prev_hash:
        return ChainReport(False, count, count, "the last record does not match the ledger head")
    return ChainReport(True, count)
