"""Validation of usage reports (SPEC §3): each bad input names its field."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import NOW

from unitledger.domain import parse_report
from unitledger.errors import InvalidReport

GOOD = {
    "extension_id": "oracle-cdc",
    "dimensions": {"tables_replicated": 5},
    "idempotency_key": "k1",
}


def test_a_good_report_parses_with_defaults() -> None:
    report = parse_report(GOOD, now=NOW)
    assert report.account == "unknown"
    assert report.occurred_at == NOW
    assert report.dimensions == {"tables_replicated": 5.0}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"surprise": 1}, "surprise"),
        ({"dimensions": {}}, "dimensions"),
        ({"dimensions": {"tables_replicated": -1}}, "dimensions.tables_replicated"),
        ({"dimensions": {"tables_replicated": float("nan")}}, "dimensions.tables_replicated"),
        ({"dimensions": {"tables_replicated": float("inf")}}, "dimensions.tables_replicated"),
        ({"dimensions": {"tables_replicated": True}}, "dimensions.tables_replicated"),
        ({"dimensions": {"tables_replicated": "5"}}, "dimensions.tables_replicated"),
        ({"dimensions": {"Tables": 1}}, "dimensions.Tables"),
        ({"dimensions": {"9lives": 1}}, "dimensions.9lives"),
        ({"dimensions": {"a" * 65: 1}}, "dimensions"),
        ({"dimensions": {f"d{i}": 1 for i in range(65)}}, "dimensions"),
        ({"extension_id": "Oracle CDC"}, "extension_id"),
        ({"extension_id": "ext.*"}, "extension_id"),
        ({"account": ""}, "account"),
        ({"idempotency_key": "has space"}, "idempotency_key"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"occurred_at": "2026-06-15T12:00:00"}, "occurred_at"),
        ({"occurred_at": "2030-01-01T00:00:00Z"}, "occurred_at"),
        ({"occurred_at": "2020-01-01T00:00:00Z"}, "occurred_at"),
        ({"dimensions": {"tables_replicated": 1e300}}, "dimensions.tables_replicated"),
    ],
)
def test_bad_input_names_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidReport) as caught:
        parse_report({**GOOD, **change}, now=NOW)
    assert caught.value.field == field
    assert caught.value.detail


def test_missing_required_fields_are_named() -> None:
    for name in ("extension_id", "dimensions", "idempotency_key"):
        body = {k: v for k, v in GOOD.items() if k != name}
        with pytest.raises(InvalidReport) as caught:
            parse_report(body, now=NOW)
        assert caught.value.field == name


json_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


@given(
    st.dictionaries(
        st.sampled_from(
            ["extension_id", "account", "dimensions", "idempotency_key", "occurred_at", "x"]
        ),
        json_values,
    )
)
def test_the_validator_accepts_or_rejects_cleanly_any_json(body: dict[str, Any]) -> None:
    try:
        report = parse_report(body, now=NOW)
    except InvalidReport as exc:
        error: InvalidReport | None = exc
    else:
        error = None
        assert report.dimensions
        assert all(v >= 0 for v in report.dimensions.values())
    if error is not None:
        assert error.field
