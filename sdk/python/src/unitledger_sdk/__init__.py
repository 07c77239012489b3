"""unitledger SDK: report usage over NATS and follow license enforcement live.

::

    from unitledger_sdk import Extension

    async with Extension("Oracle CDC", "oracle-cdc") as ext:
        result = await ext.report_usage({"tables_replicated": 5})
"""

from unitledger_sdk._errors import (
    BufferFull,
    Conflict,
    ExtensionDisabled,
    Forbidden,
    IdempotencyConflict,
    InvalidReport,
    NotConnected,
    NotFound,
    Overloaded,
    Unauthorized,
    Unavailable,
    UnitledgerError,
    ValidationFailed,
)
from unitledger_sdk._extension import SDK_VERSION, Extension
from unitledger_sdk._wire import EnforcementChange, UsageResult

__version__ = SDK_VERSION

__all__ = [
    "BufferFull",
    "Conflict",
    "EnforcementChange",
    "Extension",
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
    "UsageResult",
    "ValidationFailed",
    "__version__",
]
