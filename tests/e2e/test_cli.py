"""The ``unitledger`` CLI end to end against a live server."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

from support import UNITLEDGER, ServerProcess
from unitledger.signing import KeyPair


def run_json(server: ServerProcess, *args: str) -> object:
    result = server.cli(*args, "--json", check=True)
    return json.loads(result.stdout)


def test_every_command_has_help() -> None:
    groups = ["license", "token", "usage", "quarantine", "ledger", "db", "observability"]
    for args in [[], *([g] for g in groups), ["usage", "report"], ["license", "issue"]]:
        result = subprocess.run(
            [UNITLEDGER, *args, "--help"], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stderr
        assert "Usage" in result.stdout


def test_license_lifecycle_through_the_cli(server: ServerProcess, tmp_path: Path) -> None:
    key = tmp_path / "vendor.key"
    server.cli("license", "keygen", "--out", str(key), check=True)
    assert key.exists() and key.with_suffix(".pub").exists()
    spec = tmp_path / "spec.toml"
    spec.write_text(
        f'license_id = "CLI-1"\ncustomer = "Acme"\ndeployment_id = "{server.deployment_id}"\n'
        "valid_from = 2026-01-01T00:00:00Z\nexpires_at = 2099-01-01T00:00:00Z\ngrace_days = 7\n"
        'capacity_units = 250\nperiod = "term"\n[rates."*"]\ntables_replicated = 1\n'
    )
    signed = tmp_path / "cli-1.license"
    # A server trusts only its configured vendor key: sign with the one it trusts.
    vendor = tmp_path / "trusted.key"
    vendor.write_bytes(server.vendor.private_pem())
    server.cli(
        "license", "issue", str(spec), "--key", str(vendor), "--out", str(signed), check=True
    )
    view = run_json(server, "license", "install", str(signed))
    assert isinstance(view, dict) and view["status"] == "ACTIVE"
    listed = run_json(server, "license", "list")
    assert isinstance(listed, list) and [v["license_id"] for v in listed] == ["CLI-1"]
    assert run_json(server, "license", "show", "CLI-1")["capacity_units"] == 250  # type: ignore[index]

    untrusted = tmp_path / "untrusted.license"
    server.cli(
        "license",
        "issue",
        str(spec),
        "--key",
        str(key),
        "--out",
        str(untrusted),
        "--deployment",
        server.deployment_id,
        check=True,
    )
    refused = server.cli("license", "install", str(untrusted))
    assert refused.returncode == 1
    assert "signature does not verify" in refused.stderr
    assert run_json(server, "license", "revoke", "CLI-1")["status"] == "REVOKED"  # type: ignore[index]


def test_report_summary_records_and_metrics(server: ServerProcess) -> None:
    server.install_license(capacity_units=100)
    result = run_json(
        server,
        "usage",
        "report",
        "--extension",
        "oracle-cdc",
        "--account",
        "svc@fin",
        "tables_replicated=5",
        "bytes_transferred_gb=10",
    )
    assert isinstance(result, dict) and result["units"] == 10
    summary = run_json(server, "usage", "summary")
    assert isinstance(summary, dict) and summary["used_units"] == 10
    human = server.cli("usage", "summary", check=True).stdout
    assert "Units remaining" in human and "90.00" in human
    records = run_json(server, "usage", "records", "--extension", "oracle-cdc")
    assert isinstance(records, dict) and records["items"][0]["account"] == "svc@fin"
    assert (
        server.cli(
            "observability", "query_scalar_metrics", "licensing.usage.units", check=True
        ).stdout.strip()
        == "10"
    )
    for name, value in [
        ("licensing.usage.units_available", "100"),
        ("licensing.usage.units_remaining", "90"),
        ("licensing.checks.total", "1"),
        ("licensing.enforcements.blocked", "0"),
    ]:
        assert (
            server.cli("observability", "query_scalar_metrics", name, check=True).stdout.strip()
            == value
        )
    per_ext = server.cli(
        "observability",
        "query_scalar_metrics",
        "licensing.usage.units",
        "--extension",
        "kafka-bridge",
        check=True,
    )
    assert per_ext.stdout.strip() == "0"


def test_cli_errors_are_one_clear_line(server: ServerProcess) -> None:
    bad = server.cli("usage", "report", "--extension", "oracle-cdc", "tables_replicated=abc")
    assert bad.returncode == 2
    assert "not a number" in bad.stderr
    negative = server.cli("usage", "report", "--extension", "oracle-cdc", "tables_replicated=-4")
    assert negative.returncode == 1
    assert "negative" in negative.stderr and "Traceback" not in negative.stderr
    unknown = server.cli("observability", "query_scalar_metrics", "licensing.nope")
    assert unknown.returncode == 1 and "unknown metric" in unknown.stderr
    unauthorised = server.cli("usage", "summary", token="ul_wrong")
    assert unauthorised.returncode == 1 and "token" in unauthorised.stderr


def test_token_create_prints_a_working_token_once(server: ServerProcess) -> None:
    created = run_json(
        server, "token", "create", "--role", "extension", "--extension", "oracle-cdc"
    )
    assert isinstance(created, dict)
    token = created["token"]
    server.install_license()
    ok = server.cli(
        "usage", "report", "--extension", "oracle-cdc", "tables_replicated=1", token=token
    )
    assert ok.returncode == 0, ok.stderr
    listed = server.cli("token", "list", check=True).stdout
    assert token not in listed


def test_ledger_verify_detects_a_changed_row(tmp_path: Path, vendor_key: KeyPair) -> None:
    db = tmp_path / "ledger.db"
    server = ServerProcess(tmp_path / "data", vendor_key, database_url=f"sqlite:///{db}").start()
    try:
        server.install_license(capacity_units=1000)
        for i in range(5):
            server.cli(
                "usage",
                "report",
                "--extension",
                "oracle-cdc",
                f"tables_replicated={i + 1}",
                check=True,
            )
        assert "5 records" in server.cli("ledger", "verify", check=True).stdout
    finally:
        server.stop()
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE usage_records SET units = 0.5 WHERE record_id = 3")
    result = subprocess.run(
        [UNITLEDGER, "ledger", "verify", "--database", f"sqlite:///{db}", "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert json.loads(result.stdout)["first_bad_record"] == 3
