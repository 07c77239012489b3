"""Errors raised by the SDK, with the same codes as the server (docs/protocol.md §4).

::

    UnitledgerError
    ├── ValidationFailed (ValueError)       invalid
    │   └── InvalidReport                   invalid_report
    ├── NotFound (LookupError)              not_found
    ├── Conflict                            conflict
    │   └── IdempotencyConflict             idempotency_conflict
    ├── Unauthorized (PermissionError)      unauthorized
    ├── Forbidden (PermissionError)         forbidden
    ├── Unavailable (ConnectionError)       unavailable (retryable)
    │   └── Overloaded                      overloaded (retryable)
    ├── ExtensionDisabled                   the report was kept but this extension is disabled
    ├── NotConnected                        used outside ``async with`` / after close
    └── BufferFull                          the offline buffer has no room left
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BufferFull",
    "Conflict",
    "ExtensionDisabled",
    "Forbidden",
    "IdempotencyConflict",
    "InvalidReport",
    "NotConnected",
    "NotFound",
    "Overloaded",
    "Unauthorized",
    "Unavailable",
    "UnitledgerError",
    "ValidationFailed",
    "error_from_reply",
]


class UnitledgerError(Exception):
    """Root of every SDK error.

    Attributes:
        code: the server's stable error code (``invalid_report``, ``forbidden``, ...).
        detail: what was wrong, in the server's words.
        field: the input field at fault, when there is one.
        status: the HTTP status the code maps to.
        retryable: whether the same report may succeed later unchanged.
    """

    code = "error"
    status = 500
    retryable = False

    def __init__(
        self,
        detail: str,
        *,
        field: str | None = None,
        code: str | None = None,
        status: int | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        if retryable is not None:
            self.retryable = retryable


class ValidationFailed(UnitledgerError, ValueError):
    """The input was refused; ``field`` names the culprit."""

    code = "invalid"
    status = 400


class InvalidReport(ValidationFailed):
    """The report breaks the protocol's rules; ``field`` names the culprit."""

    code = "invalid_report"


class NotFound(UnitledgerError, LookupError):
    code = "not_found"
    status = 404


class Conflict(UnitledgerError):
    code = "conflict"
    status = 409


class IdempotencyConflict(Conflict):
    """The idempotency key was already used for a report with other content."""

    code = "idempotency_conflict"


class Unauthorized(UnitledgerError, PermissionError):
    """The token is missing, unknown or revoked."""

    code = "unauthorized"
    status = 401


class Forbidden(UnitledgerError, PermissionError):
    """The token may not report as this extension."""

    code = "forbidden"
    status = 403


class Unavailable(UnitledgerError, ConnectionError):
    """The server could not take the report now; retrying later may succeed."""

    code = "unavailable"
    status = 503
    retryable = True


class Overloaded(Unavailable):
    code = "overloaded"
    status = 429


class ExtensionDisabled(UnitledgerError):
    """Raised with ``fail_fast=True`` when the report came back DISABLED or UNLICENSED.

    The report itself was kept (recorded or quarantined); ``result`` is the outcome.
    """

    code = "extension_disabled"
    status = 403

    def __init__(self, detail: str, *, result: Any = None) -> None:
        super().__init__(detail)
        self.result = result


class NotConnected(UnitledgerError):
    """The extension is not connected: use it inside ``async with`` (or after ``connect()``)."""

    code = "not_connected"
    status = 0


class BufferFull(Unavailable):
    """The server is unreachable and the offline buffer is full; the report was not kept."""

    code = "buffer_full"
    retryable = False


_BY_CODE: dict[str, type[UnitledgerError]] = {
    "invalid": ValidationFailed,
    "invalid_report": InvalidReport,
    "not_found": NotFound,
    "conflict": Conflict,
    "idempotency_conflict": IdempotencyConflict,
    "unauthorized": Unauthorized,
    "forbidden": Forbidden,
    "unavailable": Unavailable,
    "overloaded": Overloaded,
}


def error_from_reply(body: Any) -> UnitledgerError:
    """The typed error for an error reply's ``error`` object (unknown codes → the root type)."""
    if not isinstance(body, dict):
        return UnitledgerError("the server answered without a result or an error", status=502)
    code = str(body.get("code", "error"))
    kind = _BY_CODE.get(code, UnitledgerError)
    field = body.get("field")
    status = body.get("status")
    return kind(
        str(body.get("detail") or "the server reported an error"),
        field=None if field is None else str(field),
        code=code,
        status=status if isinstance(status, int) else None,
        retryable=bool(body.get("retryable", False)),
    )
