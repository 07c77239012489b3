"""The one place that turns use-case outcomes and errors into NATS reply bodies."""

from __future__ import annotations

import json
import logging

import orjson

from unitledger.errors import UnitledgerError
from unitledger.service.ingest import ReportOutcome

__all__ = ["error_reply", "ok_reply"]

log = logging.getLogger(__name__)


def ok_reply(outcome: ReportOutcome) -> bytes:
    return orjson.dumps({"ok": True, "result": outcome.to_dict()})


def error_reply(exc: BaseException) -> bytes:
    """The error envelope; unexpected exceptions become a retryable ``unavailable``."""
    if isinstance(exc, UnitledgerError):
        body = exc.to_dict()
    else:
        log.exception("report over NATS failed", exc_info=exc)
        body = {
            "code": "unavailable",
            "status": 503,
            "title": "Service unavailable",
            "detail": f"the report could not be processed ({type(exc).__name__}); retry",
            "retryable": True,
        }
    return json.dumps({"ok": False, "error": body}, separators=(",", ":")).encode()
