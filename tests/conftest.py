"""Shared fixtures: databases (SQLite always, PostgreSQL when configured) and live servers."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy import create_engine, text

from support import ServerProcess
from unitledger.signing import KeyPair

# The machines are shared and noisy: judge properties, not timing.
settings.register_profile("unitledger", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("unitledger")

POSTGRES_URL = os.environ.get("UNITLEDGER_TEST_POSTGRES_URL")
DATABASES = ["sqlite", "postgres"] if POSTGRES_URL else ["sqlite"]


def _fresh_postgres_database() -> Iterator[str]:
    assert POSTGRES_URL
    name = f"ul_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base = POSTGRES_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, and a PostgreSQL database when configured."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
    else:
        yield from _fresh_postgres_database()


@pytest.fixture
def vendor_key() -> KeyPair:
    return KeyPair.generate()


@pytest.fixture
def server(tmp_path: Path, vendor_key: KeyPair, database_url: str) -> Iterator[ServerProcess]:
    """A running ``unitledger serve`` on free ports with a fresh database."""
    proc = ServerProcess(tmp_path / "data", vendor_key, database_url=database_url)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()
