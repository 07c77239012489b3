"""Prometheus exposition and the OpenAPI document, checked by outside tools."""

from __future__ import annotations

import shutil
import subprocess

import httpx
from openapi_spec_validator import validate

from support import ServerProcess


def test_metrics_pass_promtool_and_use_the_reference_names(server: ServerProcess) -> None:
    server.install_license(capacity_units=100)
    with server.client() as c:
        c.post(
            "/usage",
            json={
                "extension_id": "oracle-cdc",
                "dimensions": {"tables_replicated": 4},
                "idempotency_key": "m",
            },
        )
    text = httpx.get(f"{server.url}/metrics").text
    for name in (
        "licensing_usage_units",
        "licensing_usage_units_available",
        "licensing_usage_units_remaining",
        "licensing_checks_total",
        "licensing_enforcements_blocked_total",
        "http_request_duration_seconds_bucket",
    ):
        assert f"\n{name}" in text, name
    assert 'licensing_usage_units_by_extension{extension="oracle-cdc"} 4.0' in text
    assert 'route="/api/v1/usage"' in text
    assert "licensing_usage_units_remaining 96.0" in text
    promtool = shutil.which("promtool")
    assert promtool, "promtool comes from Debian's prometheus package (scripts/apt-deps.sh)"
    result = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_openapi_document_is_valid(server: ServerProcess) -> None:
    document = httpx.get(f"{server.url}/api/v1/openapi.json").json()
    validate(document)
    assert "/api/v1/usage" in document["paths"]
