"""The domain core: licensing, conversion, charging, enforcement and usage rules.

Plain functions and small immutable types, no I/O; ``now`` is always passed in.
"""

from unitledger.domain.charging import (
    Assessment,
    Charge,
    Charged,
    LicensePool,
    Uncovered,
    assess,
    charging_order,
    convert,
    pool_for,
)
from unitledger.domain.clock import ClockReading, read_clock, with_clock_warning
from unitledger.domain.enforcement import (
    WARNING_RATIO,
    EnforcementState,
    GlobalEnforcement,
    extension_state,
    global_enforcement,
)
from unitledger.domain.licenses import (
    License,
    LicenseCost,
    LicenseStatus,
    LicenseView,
    Period,
    PoolUsage,
    license_status,
    parse_license,
    period_key,
)
from unitledger.domain.usage import (
    GENESIS_HASH,
    ReportLimits,
    UsageRecord,
    UsageReport,
    canonical_json,
    from_micros,
    parse_report,
    record_hash,
    to_micros,
)

__all__ = [
    "GENESIS_HASH",
    "WARNING_RATIO",
    "Assessment",
    "Charge",
    "Charged",
    "ClockReading",
    "EnforcementState",
    "GlobalEnforcement",
    "License",
    "LicenseCost",
    "LicensePool",
    "LicenseStatus",
    "LicenseView",
    "Period",
    "PoolUsage",
    "ReportLimits",
    "Uncovered",
    "UsageRecord",
    "UsageReport",
    "assess",
    "canonical_json",
    "charging_order",
    "convert",
    "extension_state",
    "from_micros",
    "global_enforcement",
    "license_status",
    "parse_license",
    "parse_report",
    "period_key",
    "pool_for",
    "read_clock",
    "record_hash",
    "to_micros",
    "with_clock_warning",
]
