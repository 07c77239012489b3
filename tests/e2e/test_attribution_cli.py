"""Attribution and chargeback through the ``unitledger`` CLI against a real server."""

from __future__ import annotations

import csv
import json
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from support import ServerProcess, stamp

ROOT = Path(__file__).resolve().parents[2]
# focus-validator pins old pandas/pydantic, so it lives in its own venv (make install-test).
FOCUS_VALIDATOR = Path(
    os.environ.get("UNITLEDGER_FOCUS_VALIDATOR", ROOT / ".venv-focus/bin/focus-validator")
)


def cli_json(server: ServerProcess, *args: str) -> Any:
    result = server.cli(*args, "--json", check=True)
    return json.loads(result.stdout)


def span() -> list[str]:
    now = datetime.now(UTC)
    return ["--start", stamp(now - timedelta(days=1)), "--end", stamp(now + timedelta(hours=1))]


def test_business_units_rules_and_rule_test_from_the_cli(server: ServerProcess) -> None:
    created = cli_json(
        server, "bu", "create", "Data Platform", "--email", "dp@example.com", "--quota", "100"
    )
    assert created["business_unit_id"] == "data-platform"
    refused = server.cli("bu", "create", "Other", "--email", "not-an-email")
    assert refused.returncode == 1
    assert "contact_email" in refused.stderr
    assert cli_json(server, "bu", "edit", "data-platform", "--no-quota")["soft_quota_units"] is None
    assert [u["business_unit_id"] for u in cli_json(server, "bu", "list")] == ["data-platform"]
    cli_json(server, "bu", "create", "Finance")

    broad = cli_json(server, "rules", "create", "--bu", "data-platform")
    finance = cli_json(
        server, "rules", "create", "--bu", "finance", "-e", "oracle-*", "-a", "*@finance"
    )
    tested = cli_json(
        server, "rules", "test", "--extension", "oracle-cdc", "--account", "svc@finance"
    )
    assert tested["rule_id"] == finance["rule_id"]
    assert [c["rule_id"] for c in tested["candidates"]] == [finance["rule_id"], broad["rule_id"]]
    human = server.cli(
        "rules", "test", "--extension", "oracle-cdc", "--account", "svc@finance", check=True
    )
    assert "finance" in human.stdout
    assert "wins" in human.stdout
    reordered = cli_json(server, "rules", "reorder", broad["rule_id"], finance["rule_id"])
    assert [r["rule_id"] for r in reordered] == [broad["rule_id"], finance["rule_id"]]
    assert cli_json(server, "rules", "edit", finance["rule_id"], "--priority", "99")["version"] == 3
    unknown = server.cli("rules", "test", "--extension", "mysql", "--account", "x")
    assert "data-platform" in unknown.stdout
    server.cli("rules", "delete", broad["rule_id"], check=True)
    assert "Unattributed" in server.cli("rules", "test", "--extension", "mysql", check=True).stdout


def test_manual_attribution_reapply_and_audit_from_the_cli(server: ServerProcess) -> None:
    server.install_license(capacity_units=1000)
    cli_json(server, "bu", "create", "Finance")
    cli_json(server, "bu", "create", "Ops")
    for n in range(3):
        server.cli(
            "usage",
            "report",
            "tables_replicated=2",
            "-e",
            "kafka",
            "-a",
            f"svc{n}@finance",
            check=True,
        )
    moved = cli_json(
        server, "attribute", "set", "--bu", "ops", "--extension", "kafka", "--unattributed"
    )
    assert moved["moved"] == 3
    cli_json(server, "rules", "create", "--bu", "finance", "-a", "*@finance")
    preview = cli_json(server, "attribute", "reapply", *span())
    assert preview["moved"] == 0  # every record is manual: re-applying never overrides that
    cleared = cli_json(server, "attribute", "clear", "--extension", "kafka")
    assert cleared["moves"] == [{"from": "ops", "to": "finance", "records": 3, "units": 6.0}]
    human = server.cli("attribute", "reapply", *span(), check=True)
    assert "dry run" in human.stdout
    audit = cli_json(server, "attribute", "audit")
    assert [a["action"] for a in audit] == ["clear", "manual"]
    report = cli_json(server, "report", "show", "--start", span()[1], "--end", span()[3])
    assert [(r["business_unit_id"], r["units"]) for r in report["rows"]] == [("finance", 6.0)]
    shown = server.cli("report", "show", "-g", "business_unit_extension", check=True)
    assert "Finance" in shown.stdout
    assert "kafka" in shown.stdout
    deleted = cli_json(server, "bu", "delete", "finance", "--yes")
    assert deleted["records_unattributed"] == 3


@pytest.fixture
def chargeback_server(server: ServerProcess) -> ServerProcess:
    server.install_license(capacity_units=2000, cost={"amount": "1000", "currency": "EUR"})
    cli_json(server, "bu", "create", "Finance", "--quota", "50")
    cli_json(server, "rules", "create", "--bu", "finance", "-a", "*@finance")
    for n, (ext, account) in enumerate(
        [("oracle-cdc", "svc@finance"), ("kafka", "svc@finance"), ("kafka", "svc@ops")] * 3
    ):
        server.cli(
            "usage",
            "report",
            "tables_replicated=3",
            "bytes_transferred_gb=2",
            "-e",
            ext,
            "-a",
            account,
            "--idempotency-key",
            f"exp-{n}",
            check=True,
        )
    return server


def test_exports_in_csv_json_and_focus_match_the_report(
    chargeback_server: ServerProcess, tmp_path: Path
) -> None:
    server = chargeback_server
    window = span()
    report = cli_json(server, "report", "show", *window, "-g", "business_unit_extension")
    assert report["total_units"] == 36.0
    assert report["total_amount"] == 18.0

    out = tmp_path / "report.csv"
    server.cli(
        "report",
        "export",
        "--format",
        "csv",
        "-o",
        str(out),
        *window,
        "-g",
        "business_unit_extension",
        check=True,
    )
    rows = list(csv.DictReader(out.open()))
    assert [(r["business_unit_name"], r["extension_id"], float(r["units"])) for r in rows] == [
        ("Finance", "kafka", 12.0),
        ("Finance", "oracle-cdc", 12.0),
        ("Unattributed", "kafka", 12.0),
    ]
    assert {r["currency"] for r in rows} == {"EUR"}

    as_json = tmp_path / "report.json"
    server.cli(
        "report",
        "export",
        "-f",
        "json",
        "-o",
        str(as_json),
        *window,
        "-g",
        "business_unit_extension",
        check=True,
    )
    exported = json.loads(as_json.read_text())
    assert exported["rows"] == report["rows"]

    focus = tmp_path / "focus.csv"
    server.cli("report", "export", "-f", "focus", "-o", str(focus), *window, check=True)
    lines = list(csv.DictReader(focus.open()))
    assert len(lines) == 6  # 3 (business unit, extension) pairs x 2 dimensions, all today
    assert sum(float(r["PricingQuantity"]) for r in lines) == pytest.approx(36.0)
    assert sum(float(r["BilledCost"]) for r in lines) == pytest.approx(18.0)
    kafka_finance = [
        r for r in lines if r["ServiceName"] == "kafka" and r["x_BusinessUnit"] == "finance"
    ]
    assert {(r["ConsumedUnit"], float(r["ConsumedQuantity"])) for r in kafka_finance} == {
        ("tables_replicated", 9.0),
        ("bytes_transferred_gb", 6.0),
    }
    assert {r["BillingCurrency"] for r in lines} == {"EUR"}
    assert FOCUS_VALIDATOR.exists(), f"{FOCUS_VALIDATOR} is missing: run `make install-test`"
    # The validator reads its currency list relative to the working directory.
    site = next((FOCUS_VALIDATOR.parent.parent / "lib").glob("python3*/site-packages"))
    checked = subprocess.run(
        [str(FOCUS_VALIDATOR), "--data-file", str(focus), "--validate-version", "1.0"],
        cwd=site,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Validation succeeded" in checked.stdout


def test_signed_report_verifies_offline_and_any_changed_byte_fails(
    chargeback_server: ServerProcess, tmp_path: Path
) -> None:
    server = chargeback_server
    signed = tmp_path / "report.signed.json"
    server.cli("report", "export", "-f", "signed", "-o", str(signed), *span(), check=True)
    offline = {**os.environ, "UNITLEDGER_URL": "http://127.0.0.1:9", "UNITLEDGER_TOKEN": ""}
    verify = [
        str(Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin/unitledger"),
        "report",
        "verify",
    ]
    ok = subprocess.run(
        [*verify, str(signed), "--json"],
        env=offline,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    result = json.loads(ok.stdout)
    assert result["valid"] is True
    assert result["deployment_id"] == server.deployment_id
    assert result["total_units"] == 36.0

    data = signed.read_bytes()
    for position in (data.index(b'"total_units"') + 15, len(data) // 2, 10):
        tampered = tmp_path / f"tampered-{position}.json"
        flipped = bytes([data[position] ^ 0x01])
        tampered.write_bytes(data[:position] + flipped + data[position + 1 :])
        bad = subprocess.run(
            [*verify, str(tampered)],
            env=offline,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert bad.returncode == 1, (position, bad.stdout)
        assert "error" in bad.stderr
    other_key = tmp_path / "other.pub"
    from unitledger.signing import KeyPair

    other_key.write_bytes(KeyPair.generate().public_pem())
    pinned = subprocess.run(
        [*verify, str(signed), "--public-key", str(other_key)],
        env=offline,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert pinned.returncode == 1
    assert "does not verify" in pinned.stderr
