"""The domain core does no I/O: importing it pulls in no database, NATS, HTTP or web code."""

from __future__ import annotations

import subprocess
import sys

import unitledger
import unitledger.domain


def test_domain_imports_no_io_frameworks() -> None:
    code = (
        "import sys, unitledger.domain; "
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('sqlalchemy', 'nats', 'httpx', 'fastapi', 'starlette', 'uvicorn', 'alembic', 'typer')]; "
        "print(','.join(bad))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_public_surfaces_export_only_what_exists() -> None:
    for module in (unitledger, unitledger.domain):
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.__all__ names missing {name}"
            assert name == "__version__" or not name.startswith("_"), f"private {name} exported"
