"""Settings: one typed object, read once from ``UNITLEDGER_*`` variables or a TOML file.

Precedence: explicit arguments (CLI flags) > environment > TOML file named by
``UNITLEDGER_CONFIG`` > defaults. The defaults make ``unitledger serve`` work with
no set-up: SQLite in the data directory and an embedded NATS server.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

__all__ = ["Settings", "default_data_dir"]


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "unitledger"


class Settings(BaseSettings):
    """Every setting of the server. See docs/deployment.md for the table."""

    model_config = SettingsConfigDict(env_prefix="UNITLEDGER_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8417
    nats_url: str | None = None
    nats_port: int = 4222
    nats_monitor_port: int | None = None
    nats_kv_replicas: int = Field(default=1, ge=1, le=5)
    vendor_public_key: str | None = None
    demo: bool = False
    admin_token: str | None = None
    batch_max_size: int = Field(default=1000, ge=1, le=100_000)
    batch_max_delay_ms: float = Field(default=2.0, ge=0, le=1000)
    max_in_flight: int = Field(default=20_000, ge=1)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    max_concurrent_requests: int = Field(default=1000, ge=1)
    heartbeat_ttl_seconds: float = Field(default=60.0, gt=0)
    enforcement_tick_seconds: float = Field(default=5.0, gt=0)
    clock_rollback_tolerance_seconds: float = Field(default=300, ge=0)
    report_max_past_seconds: float = Field(default=7 * 86400, gt=0)
    report_max_future_seconds: float = Field(default=300, ge=0)
    auth_failures_per_minute: int = Field(default=30, ge=1)
    webhook_url: str | None = None
    log_level: str = "info"

    @field_validator("data_dir", mode="after")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("UNITLEDGER_CONFIG")
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'unitledger.db'}"

    @property
    def embedded_nats(self) -> bool:
        return self.nats_url is None

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with the given non-None values replaced (used for CLI flags)."""
        clean = {k: v for k, v in changes.items() if v is not None}
        return self.model_copy(update=clean)
