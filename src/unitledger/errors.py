"""Errors raised by unitledger.

Every error the product raises derives from :class:`UnitledgerError` and falls in
one of five categories. Each category also subclasses the builtin it resembles,
so callers can catch either. Exactly one place maps categories to HTTP problem
details (``adapters.http.problems``) and one to NATS error replies
(``adapters.nats.replies``)::

    UnitledgerError
    ├── ValidationFailed (ValueError)          400 / "invalid"
    │   ├── InvalidReport                      400 / "invalid_report"
    │   └── InvalidLicense                     400 / "invalid_license"
    ├── NotFound (LookupError)                 404 / "not_found"
    ├── Conflict                               409 / "conflict"
    │   └── IdempotencyConflict                409 / "idempotency_conflict"
    ├── Unauthorized (PermissionError)         401 / "unauthorized"
    ├── Forbidden (PermissionError)            403 / "forbidden"
    └── Unavailable (ConnectionError)          503 / "unavailable" (retryable)
        └── Overloaded                         429 / "overloaded" (retryable)
"""

from __future__ import annotations

__all__ = [
    "Conflict",
    "Forbidden",
    "IdempotencyConflict",
    "InvalidLicense",
    "InvalidReport",
    "NotFound",
    "Overloaded",
    "Unauthorized",
    "Unavailable",
    "UnitledgerError",
    "ValidationFailed",
]


class UnitledgerError(Exception):
    """Root of every error unitledger raises.

    Attributes:
        code: stable machine-readable code, the same in every SDK.
        status: HTTP status the error maps to.
        title: short human summary of the category.
        detail: what was wrong and how to fix it.
        field: the input field at fault, when there is one.
        retryable: whether the same request may succeed later unchanged.
    """

    code = "error"
    status = 500
    title = "Internal error"
    retryable = False

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field

    def to_dict(self) -> dict[str, object]:
        """The error as the JSON body both HTTP and NATS send."""
        body: dict[str, object] = {
            "code": self.code,
            "status": self.status,
            "title": self.title,
            "detail": self.detail,
            "retryable": self.retryable,
        }
        if self.field is not None:
            body["field"] = self.field
        return body


class ValidationFailed(UnitledgerError, ValueError):
    code = "invalid"
    status = 400
    title = "Invalid input"


class InvalidReport(ValidationFailed):
    code = "invalid_report"
    title = "Invalid usage report"


class InvalidLicense(ValidationFailed):
    code = "invalid_license"
    title = "Invalid license"


class NotFound(UnitledgerError, LookupError):
    code = "not_found"
    status = 404
    title = "Not found"


class Conflict(UnitledgerError):
    code = "conflict"
    status = 409
    title = "Conflict"


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"
    title = "Idempotency key reused with a different report"


class Unauthorized(UnitledgerError, PermissionError):
    code = "unauthorized"
    status = 401
    title = "Authentication required"


class Forbidden(UnitledgerError, PermissionError):
    code = "forbidden"
    status = 403
    title = "Forbidden"


class Unavailable(UnitledgerError, ConnectionError):
    code = "unavailable"
    status = 503
    title = "Service unavailable"
    retryable = True

    def __init__(self, detail: str, *, field: str | None = None, retry_after: float = 1.0) -> None:
        super().__init__(detail, field=field)
        self.retry_after = retry_after


class Overloaded(Unavailable):
    code = "overloaded"
    status = 429
    title = "Too many reports in flight"
