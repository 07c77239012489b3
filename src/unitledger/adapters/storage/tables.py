"""SQLAlchemy Core tables, kept apart from the domain types they store.

Times are integer microseconds since the epoch (``*_us``): exact, portable
between SQLite and PostgreSQL, and what the ledger hash covers. JSON columns
hold canonical JSON text so the hash chain can be re-checked byte for byte.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

__all__ = ["metadata"]

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
Serial = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

licenses = Table(
    "licenses",
    metadata,
    Column("license_id", String(64), primary_key=True),
    Column("payload", Text, nullable=False),
    Column("envelope", Text, nullable=False),
    Column("installed_at_us", BigInteger, nullable=False),
    Column("revoked_at_us", BigInteger, nullable=True),
    Column("revoked_by", String(128), nullable=True),
)

license_pools = Table(
    "license_pools",
    metadata,
    Column("license_id", String(64), primary_key=True),
    Column("period", String(16), primary_key=True),
    Column("used_units", Float, nullable=False, default=0.0),
    Column("exhausted_at_us", BigInteger, nullable=True),
)

# One row: the last record's sequence number and hash. Writers lock it, which
# serialises the charging step across replicas and keeps the chain linear.
ledger_head = Table(
    "ledger_head",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)

usage_records = Table(
    "usage_records",
    metadata,
    Column("record_id", BigInteger, primary_key=True, autoincrement=False),
    Column("extension_id", String(64), nullable=False),
    Column("account", String(128), nullable=False),
    Column("idempotency_key", String(128), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("occurred_at_us", BigInteger, nullable=False),
    Column("received_at_us", BigInteger, nullable=False),
    Column("dimensions", Text, nullable=False),
    Column("units_by_dimension", Text, nullable=False),
    Column("units", Float, nullable=False),
    Column("rates", Text, nullable=False),
    Column("charges", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("extension_state", String(16), nullable=False),
    Column("business_unit_id", String(64), nullable=True),
    Column("attribution_method", String(16), nullable=True),
    Column("attribution_rule_id", String(64), nullable=True),
    Column("attribution_rule_version", Integer, nullable=True),
    UniqueConstraint("extension_id", "idempotency_key", name="uq_usage_records_key"),
    Index("ix_usage_records_ext_time", "extension_id", "occurred_at_us"),
    Index("ix_usage_records_time", "occurred_at_us"),
    Index("ix_usage_records_account", "account"),
)

# Hourly rollups, maintained in the same transaction as the records they sum.
# business_unit_id is '' for unattributed usage so it can be part of the key.
usage_rollups = Table(
    "usage_rollups_hourly",
    metadata,
    Column("hour_us", BigInteger, primary_key=True),
    Column("extension_id", String(64), primary_key=True),
    Column("account", String(128), primary_key=True),
    Column("business_unit_id", String(64), primary_key=True),
    Column("dimension", String(64), primary_key=True),
    Column("value", Float, nullable=False),
    Column("units", Float, nullable=False),
    Column("records", BigInteger, nullable=False),
    Index("ix_rollups_hour", "hour_us"),
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("quarantine_id", Serial, primary_key=True, autoincrement=True),
    Column("extension_id", String(64), nullable=False),
    Column("account", String(128), nullable=False),
    Column("idempotency_key", String(128), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("occurred_at_us", BigInteger, nullable=False),
    Column("received_at_us", BigInteger, nullable=False),
    Column("dimensions", Text, nullable=False),
    Column("uncovered", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("record_id", BigInteger, nullable=True),
    UniqueConstraint("extension_id", "idempotency_key", name="uq_quarantine_key"),
    Index("ix_quarantine_status", "status"),
)

extensions = Table(
    "extensions",
    metadata,
    Column("extension_id", String(64), primary_key=True),
    Column("first_seen_us", BigInteger, nullable=False),
    Column("last_report_us", BigInteger, nullable=True),
    Column("uncovered", Text, nullable=False, default="[]"),
    Column("reports", BigInteger, nullable=False, default=0),
)

enforcement_states = Table(
    "enforcement_states",
    metadata,
    Column("scope", String(80), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("changed_at_us", BigInteger, nullable=False),
    Column("seq", BigInteger, nullable=False, default=0),
)

enforcement_events = Table(
    "enforcement_events",
    metadata,
    Column("event_id", Serial, primary_key=True, autoincrement=True),
    Column("at_us", BigInteger, nullable=False),
    Column("scope", String(80), nullable=False),
    Column("state", String(16), nullable=False),
    Column("previous", String(16), nullable=True),
    Column("reason", Text, nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("token_id", String(32), primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("extension_id", String(64), nullable=True),
    Column("name", String(128), nullable=False),
    Column("created_at_us", BigInteger, nullable=False),
    Column("revoked_at_us", BigInteger, nullable=True),
)

counters = Table(
    "counters",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("extension_id", String(64), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("audit_id", Serial, primary_key=True, autoincrement=True),
    Column("at_us", BigInteger, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("action", String(64), nullable=False),
    Column("subject", String(128), nullable=False),
    Column("detail", Text, nullable=False),
)

# Attribution (SPEC §4). Business units are referenced by id without foreign keys:
# deleting one moves its records to Unattributed explicitly, in one transaction.
business_units = Table(
    "business_units",
    metadata,
    Column("business_unit_id", String(64), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("contact_email", String(254), nullable=True),
    Column("soft_quota_units", Float, nullable=True),
    Column("created_at_us", BigInteger, nullable=False),
    Column("updated_at_us", BigInteger, nullable=False),
)

attribution_rules = Table(
    "attribution_rules",
    metadata,
    Column("rule_id", String(64), primary_key=True),
    Column("extension_pattern", String(128), nullable=False),
    Column("account_pattern", String(128), nullable=False),
    Column("business_unit_id", String(64), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("version", Integer, nullable=False),
    Column("created_at_us", BigInteger, nullable=False),
    Column("updated_at_us", BigInteger, nullable=False),
    Index("ix_attribution_rules_bu", "business_unit_id"),
)

# Every version a rule ever had, so a record's (rule_id, rule_version) stays explainable.
attribution_rule_versions = Table(
    "attribution_rule_versions",
    metadata,
    Column("rule_id", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("rule", Text, nullable=False),
    Column("changed_at_us", BigInteger, nullable=False),
    Column("changed_by", String(128), nullable=False),
    Column("change", String(16), nullable=False),
)

attribution_audit = Table(
    "attribution_audit",
    metadata,
    Column("audit_id", Serial, primary_key=True, autoincrement=True),
    Column("at_us", BigInteger, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("action", String(32), nullable=False),
    Column("to_business_unit_id", String(64), nullable=True),
    Column("records", BigInteger, nullable=False),
    Column("units", Float, nullable=False),
    Column("moves", Text, nullable=False),
    Column("selection", Text, nullable=False),
    Index("ix_attribution_audit_at", "at_us"),
)

# Soft-quota crossings: one row per (business unit, month, threshold), so each goes out once.
quota_alerts = Table(
    "quota_alerts",
    metadata,
    Column("alert_id", Serial, primary_key=True, autoincrement=True),
    Column("business_unit_id", String(64), nullable=False),
    Column("period", String(7), nullable=False),
    Column("threshold_percent", Integer, nullable=False),
    Column("soft_quota_units", Float, nullable=False),
    Column("used_units", Float, nullable=False),
    Column("at_us", BigInteger, nullable=False),
    UniqueConstraint("business_unit_id", "period", "threshold_percent", name="uq_quota_alerts_key"),
)

# Daily units per (extension, business unit, dimension), maintained with the hourly
# rollups: allocation reports read whole days here and only the edge hours above.
usage_rollups_daily = Table(
    "usage_rollups_daily",
    metadata,
    Column("day_us", BigInteger, primary_key=True),
    Column("extension_id", String(64), primary_key=True),
    Column("business_unit_id", String(64), primary_key=True),
    Column("dimension", String(64), primary_key=True),
    Column("value", Float, nullable=False),
    Column("units", Float, nullable=False),
    Column("records", BigInteger, nullable=False),
    # Clustered by day on SQLite: a month is one contiguous range of the table.
    sqlite_with_rowid=False,
)
