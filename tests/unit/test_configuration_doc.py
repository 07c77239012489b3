"""docs/configuration.md lists every setting the server reads, and no other."""

from __future__ import annotations

import re
from pathlib import Path

from unitledger.config import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_configuration_table_matches_the_settings() -> None:
    documented = set(re.findall(r"`(UNITLEDGER_[A-Z_]+)`", DOC.read_text()))
    expected = {f"UNITLEDGER_{name.upper()}" for name in Settings.model_fields}
    # The CLI's own variables and the identity key path are documented beside the table.
    cli_and_files = {
        "UNITLEDGER_URL",
        "UNITLEDGER_TOKEN",
        "UNITLEDGER_CLI_CONFIG",
        "UNITLEDGER_CONFIG",
        "UNITLEDGER_IDENTITY_KEY_FILE",
    }
    assert expected <= documented, f"undocumented: {sorted(expected - documented)}"
    assert documented - expected <= cli_and_files, (
        f"unknown: {sorted(documented - expected - cli_and_files)}"
    )
