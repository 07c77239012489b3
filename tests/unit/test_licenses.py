"""License documents: parsing, signing and verification."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from unitledger.domain import parse_license
from unitledger.errors import InvalidLicense
from unitledger.issuing import issue_license
from unitledger.signing import LICENSE_FORMAT, KeyPair, open_envelope

SPEC: dict[str, Any] = {
    "license_id": "L-1",
    "customer": "Acme",
    "deployment_id": "dep_x",
    "issued_at": "2026-01-01T00:00:00Z",
    "valid_from": "2026-01-01T00:00:00Z",
    "expires_at": "2027-01-01T00:00:00Z",
    "grace_days": 7,
    "capacity_units": 1000,
    "period": "term",
    "rates": {"*": {"tables_replicated": 1}},
    "cost": {"amount": 1200, "currency": "EUR"},
}


def test_a_signed_license_verifies_under_the_vendor_key() -> None:
    key = KeyPair.generate()
    envelope = issue_license(SPEC, key)
    payload = open_envelope(json.dumps(envelope), [key.public], LICENSE_FORMAT)
    lic = parse_license(payload)
    assert lic.license_id == "L-1"
    assert str(lic.cost_per_unit) == "1.2"


def test_a_license_signed_by_another_key_is_refused() -> None:
    envelope = issue_license(SPEC, KeyPair.generate())
    with pytest.raises(InvalidLicense, match="does not verify"):
        open_envelope(json.dumps(envelope), [KeyPair.generate().public], LICENSE_FORMAT)


@given(st.data())
def test_changing_any_byte_of_the_payload_breaks_the_signature(data: st.DataObject) -> None:
    key = KeyPair.generate()
    text = json.dumps(issue_license(SPEC, key), sort_keys=True)
    start = text.index('"license"')
    position = data.draw(st.integers(start, len(text) - 1))
    replacement = data.draw(st.sampled_from("0123456789abcXYZ"))
    tampered = text[:position] + replacement + text[position + 1 :]
    if tampered == text:
        return
    try:
        payload = open_envelope(tampered, [key.public], LICENSE_FORMAT)
    except InvalidLicense:
        return
    # Only a change outside the signed content (e.g. key order whitespace) may pass, and then
    # the payload is byte-for-byte the original.
    assert payload == json.loads(text)["license"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"capacity_units": 0}, "capacity_units"),
        ({"capacity_units": "lots"}, "capacity_units"),
        ({"period": "weekly"}, "period"),
        ({"grace_days": -1}, "grace_days"),
        ({"expires_at": "2025-01-01T00:00:00Z"}, "expires_at"),
        ({"rates": {}}, "rates"),
        ({"rates": {"*": {"Bad Name": 1}}}, "rates"),
        ({"cost": {"amount": 5, "currency": "euro"}}, "cost"),
        ({"valid_from": "not a date"}, "valid_from"),
        ({"extra": 1}, "extra"),
    ],
)
def test_malformed_license_fields_are_named(change: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidLicense) as caught:
        parse_license({**SPEC, **change})
    assert caught.value.field == field


def test_garbage_file_is_refused_with_a_clear_reason() -> None:
    with pytest.raises(InvalidLicense, match="not valid JSON"):
        open_envelope("{nope", [KeyPair.generate().public], LICENSE_FORMAT)
    with pytest.raises(InvalidLicense, match="format"):
        open_envelope("{}", [KeyPair.generate().public], LICENSE_FORMAT)
