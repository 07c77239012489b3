"""The shared SDK test vectors (sdk/conformance/) agree with the server and the schemas.

Every SDK replays these vectors in its own unit tests; this test keeps them true to
what the server actually does, so a vector can never drift from the product.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from unitledger.domain.usage import parse_report
from unitledger.errors import UnitledgerError

CONFORMANCE = Path(__file__).resolve().parents[2] / "sdk" / "conformance"


def load(kind: str, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((CONFORMANCE / kind / f"{name}.json").read_text())
    return data


def validator(name: str) -> Draft202012Validator:
    schema = load("schemas", name)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


REQUESTS = load("vectors", "report-requests")
REPLIES = load("vectors", "report-replies")
CHANGES = load("vectors", "state-changes")
HEARTBEATS = load("vectors", "heartbeats")


def by_name(doc: dict[str, Any]) -> list[Any]:
    return [pytest.param(case, id=case["name"]) for case in doc["cases"]]


@pytest.mark.parametrize("case", by_name(REQUESTS))
def test_request_vector_matches_the_servers_parser(case: dict[str, Any]) -> None:
    now = datetime.fromisoformat(REQUESTS["now"])
    if case["valid"]:
        parse_report(case["request"], now=now)
        return
    with pytest.raises(UnitledgerError) as raised:
        parse_report(case["request"], now=now)
    expected = case["error"]
    assert (raised.value.code, raised.value.field, raised.value.detail) == (
        expected["code"],
        expected["field"],
        expected["detail"],
    )


@pytest.mark.parametrize("case", [c for c in by_name(REQUESTS) if c.values[0]["valid"]])
def test_valid_request_vector_fits_the_request_schema(case: dict[str, Any]) -> None:
    validator("report-request").validate(case["request"])


def test_request_schema_refuses_the_schema_expressible_faults() -> None:
    schema = validator("report-request")
    refused = {
        c["name"] for c in REQUESTS["cases"] if not c["valid"] and not schema.is_valid(c["request"])
    }
    assert {"negative integer", "unknown field", "empty dimensions", "65 dimensions"} <= refused


@pytest.mark.parametrize("case", by_name(REPLIES))
def test_reply_vector_fits_the_reply_schema(case: dict[str, Any]) -> None:
    valid = validator("report-reply").is_valid(case["reply"])
    assert valid == (case["name"] != "neither result nor error")


@pytest.mark.parametrize("case", by_name(CHANGES))
def test_state_change_vector_fits_the_schema(case: dict[str, Any]) -> None:
    schema = validator("state-change")
    for change in case["changes"]:
        schema.validate(change)


@pytest.mark.parametrize("case", by_name(HEARTBEATS))
def test_heartbeat_vector_validity_matches_the_schema(case: dict[str, Any]) -> None:
    assert validator("heartbeat").is_valid(case["heartbeat"]) == case["valid"]
    if case["valid"]:
        beat = case["heartbeat"]
        assert case["key"] == f"{beat['extension_id']}.{beat['instance_id']}"
