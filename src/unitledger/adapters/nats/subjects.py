"""Subject and bucket names of protocol v1 (docs/protocol.md), in one place."""

from __future__ import annotations

__all__ = [
    "ENFORCEMENT_BUCKET",
    "ENFORCEMENT_PREFIX",
    "HEARTBEAT_BUCKET",
    "INGEST_QUEUE",
    "REPORT_PREFIX",
    "enforcement_subject",
    "report_subject",
]

REPORT_PREFIX = "unitledger.v1.report."
ENFORCEMENT_PREFIX = "unitledger.v1.enforcement."
INGEST_QUEUE = "unitledger-ingest"
ENFORCEMENT_BUCKET = "unitledger_enforcement"
HEARTBEAT_BUCKET = "unitledger_heartbeats"


def report_subject(extension_id: str) -> str:
    return f"{REPORT_PREFIX}{extension_id}"


def enforcement_subject(key: str) -> str:
    """``key`` is a state key: ``global`` or ``ext.<extension_id>``."""
    return f"{ENFORCEMENT_PREFIX}{key}"
