"""Hostile input gets a clear 4xx naming what is wrong, and changes nothing.

Property tests fuzz the report validator and the license parser and envelope
in-process; the rest is sent to a live server: oversize and deeply nested
bodies, unicode tricks in names (homoglyphs, right-to-left override, zero-width,
NUL), NaN/Infinity/negative/huge numbers, and SQL or glob metacharacters in
filters and attribution patterns.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from support import ServerProcess
from unitledger.domain import parse_license, parse_report
from unitledger.domain.names import ACCOUNT, DIMENSION_NAME, EXTENSION_ID
from unitledger.domain.usage import IDEMPOTENCY_KEY
from unitledger.errors import InvalidLicense, InvalidReport
from unitledger.signing import LICENSE_FORMAT, KeyPair, open_envelope

NOW = datetime(2030, 1, 1, tzinfo=UTC)

TRICKS = [
    "оracle-cdc",  # Cyrillic o
    "oracle‐cdc",  # U+2010 hyphen
    "oracle-cdc\u200b",  # zero-width space
    "\u202eoracle-cdc",  # right-to-left override
    "oracle\x00cdc",  # NUL
    "oracle-cdc\n",  # trailing newline (a regex with $ would let it through)
    "ｏｒａｃｌｅ",  # full-width
    "Oracle-CDC",
    "",
    "a" * 65,
]
NUMBERS = [
    ("NaN", "NaN"),
    ("Infinity", "Infinity"),
    ("-Infinity", "-Infinity"),
    ("-1", "negative"),
    ("1e309", "finite"),
    ("1e16", "too large"),
    ("1" + "0" * 400, "finite"),
    ("true", "must be a number"),
    ('"5"', "must be a number"),
    ("null", "must be a number"),
]

# -- in-process property tests -----------------------------------------------------------

json_leaf = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(TRICKS)
)
json_values = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=8) | st.sampled_from(TRICKS), inner, max_size=4)
    ),
    max_leaves=16,
)
report_fields = st.sampled_from(
    ["extension_id", "account", "dimensions", "idempotency_key", "occurred_at", "extra"]
)


@hypothesis_settings(max_examples=500)
@given(
    st.dictionaries(report_fields, json_values, max_size=6)
    | st.fixed_dictionaries(
        {
            "extension_id": st.sampled_from(["oracle-cdc", *TRICKS]),
            "dimensions": st.dictionaries(
                st.sampled_from(["tables_replicated", *TRICKS]), json_leaf, max_size=3
            ),
            "idempotency_key": st.text(max_size=10) | st.just("k-1"),
        }
    )
)
def test_the_report_validator_accepts_only_clean_reports_and_names_the_field(
    body: dict[str, Any],
) -> None:
    try:
        report = parse_report(body, now=NOW)
    except InvalidReport as refused:
        problem = refused.to_dict()
        assert problem["field"], problem
        assert problem["detail"]
        return
    assert EXTENSION_ID.fullmatch(report.extension_id)
    assert report.account == "unknown" or ACCOUNT.fullmatch(report.account)
    for name, value in report.dimensions.items():
        assert DIMENSION_NAME.fullmatch(name)
        assert 0 <= value <= 1e15


license_fields = st.sampled_from(
    [
        "license_id",
        "customer",
        "deployment_id",
        "issued_at",
        "valid_from",
        "expires_at",
        "grace_days",
        "capacity_units",
        "period",
        "rates",
        "cost",
    ]
)


@hypothesis_settings(max_examples=400)
@given(st.dictionaries(license_fields, json_values, max_size=11))
def test_the_license_parser_refuses_anything_malformed_with_a_named_field(
    payload: dict[str, Any],
) -> None:
    try:
        parse_license(payload)
    except InvalidLicense as refused:
        problem = refused.to_dict()
        assert problem["field"], problem


@hypothesis_settings(max_examples=300)
@given(
    st.binary(max_size=300)
    | json_values.map(lambda v: json.dumps(v).encode())
    | st.fixed_dictionaries(
        {"format": st.just(LICENSE_FORMAT), "license": json_values, "signature": json_values}
    ).map(lambda v: json.dumps(v).encode())
)
def test_the_license_envelope_refuses_garbage_cleanly(data: bytes) -> None:
    with pytest.raises(InvalidLicense):
        open_envelope(data, [KeyPair.generate().public], LICENSE_FORMAT)


# -- a live server -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(
        tmp_path_factory.mktemp("hostile") / "data",
        KeyPair.generate(),
        extra_env={"UNITLEDGER_AUTH_FAILURES_PER_MINUTE": "100000"},
    )
    server.start()
    server.install_license()
    with server.client() as c:
        for n in range(3):
            body = {"extension_id": "oracle-cdc", "dimensions": {"tables_replicated": 1}}
            assert (
                c.post("/usage", json={**body, "idempotency_key": f"base-{n}"}).status_code == 200
            )
    try:
        yield server
    finally:
        server.stop()


def state(c: httpx.Client) -> dict[str, Any]:
    """Everything a hostile request could have changed."""
    return {
        "records": c.get("/usage/records", params={"limit": 1000}).json()["items"],
        "summary": c.get("/usage/summary").json()["used_units"],
        "quarantine": c.get("/quarantine").json(),
        "licenses": c.get("/licenses").json(),
        "rules": c.get("/attribution/rules").json(),
        "business_units": c.get("/business-units").json(),
    }


def assert_problem(
    response: httpx.Response, status: int, field: str | None = None
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = response.json()
    assert problem["detail"]
    if field is not None:
        assert problem["field"] == field, problem
    return problem


def report(**fields: Any) -> dict[str, Any]:
    return {
        "extension_id": "oracle-cdc",
        "dimensions": {"tables_replicated": 1},
        "idempotency_key": "hostile",
        **fields,
    }


def test_oversize_and_deeply_nested_bodies_are_refused(live: ServerProcess) -> None:
    with live.client() as c:
        before = state(c)
        big = c.post("/usage", content=b'{"a": "' + b"x" * 70_000 + b'"}')
        assert_problem(big, 413, "body")
        nested = b"[" * 20_000 + b"]" * 20_000
        assert_problem(c.post("/usage", content=nested), 400, "body")
        deep = (
            b'{"extension_id": "oracle-cdc", "dimensions": ' + b'{"a":' * 5000 + b"1" + b"}" * 5001
        )
        assert c.post("/usage", content=deep).status_code in (400, 413)
        for path in ("/business-units", "/attribution/rules", "/tokens"):
            assert (
                c.post(
                    path, content=nested, headers={"Content-Type": "application/json"}
                ).status_code
                == 400
            )
        assert_problem(c.post("/licenses", content=nested), 400)
        assert state(c) == before


@pytest.mark.parametrize("trick", TRICKS)
def test_unicode_tricks_in_names_are_refused_naming_the_field(
    live: ServerProcess, trick: str
) -> None:
    with live.client() as c:
        before = state(c)
        assert_problem(c.post("/usage", json=report(extension_id=trick)), 400, "extension_id")
        if not ACCOUNT.fullmatch(trick):  # upper case and 65 letters make a fine account
            assert_problem(c.post("/usage", json=report(account=trick)), 400, "account")
        dims = c.post("/usage", json=report(dimensions={trick: 1}))
        assert_problem(dims, 400)
        assert dims.json()["field"].startswith("dimensions")
        if not IDEMPOTENCY_KEY.fullmatch(trick):
            key = c.post("/usage", json=report(idempotency_key=trick))
            assert_problem(key, 400, "idempotency_key")
        token = c.post("/tokens", json={"role": "extension", "name": "x", "extension_id": trick})
        assert_problem(token, 400, "extension_id")
        assert state(c) == before


@pytest.mark.parametrize(("number", "says"), NUMBERS)
def test_bad_numbers_are_refused_naming_the_dimension(
    live: ServerProcess, number: str, says: str
) -> None:
    body = (
        '{"extension_id": "oracle-cdc", "idempotency_key": "num", '
        f'"dimensions": {{"tables_replicated": {number}}}}}'
    )
    with live.client() as c:
        before = state(c)
        refused = c.post("/usage", content=body)
        problem = assert_problem(refused, 400)
        assert problem["field"] in ("dimensions.tables_replicated", "body"), problem
        assert says in problem["detail"], problem
        assert state(c) == before


METACHARACTERS = [
    "' OR '1'='1",
    "oracle-cdc' --",
    "%",
    "_",
    "oracle%",
    "*",
    "oracle-*",
    "[a-z]*",
    "\\",
    "'; DROP TABLE usage_records; --",
]


@pytest.mark.parametrize("value", METACHARACTERS)
def test_sql_and_glob_metacharacters_in_filters_match_nothing_and_leak_nothing(
    live: ServerProcess, value: str
) -> None:
    with live.client() as c:
        before = state(c)
        for path, param in (
            ("/usage/records", "extension_id"),
            ("/usage/records", "account"),
            ("/usage/records", "business_unit_id"),
            ("/usage/timeseries", "extension_id"),
            ("/metrics/licensing.usage.units", "extension_id"),
            ("/quarantine", "extension_id"),
        ):
            response = c.get(path, params={param: value})
            assert response.status_code in (200, 400), (path, param, response.text)
            if response.status_code == 400:
                assert_problem(response, 400)
                continue
            data = response.json()
            if path == "/usage/records":
                assert data["items"] == [], (param, value)
            elif path == "/metrics/licensing.usage.units":
                assert data["value"] == 0
            elif path == "/usage/timeseries":
                assert all(p["units"] == 0 for p in data["points"])
            else:
                assert data == []
        assert state(c) == before


@pytest.mark.parametrize(
    "pattern", ["' OR '1'='1", "%", "oracle%", "oracle\x00*", "*\u202e", "'; DROP TABLE x; --"]
)
def test_attribution_patterns_with_sql_or_control_characters_are_refused(
    live: ServerProcess, pattern: str
) -> None:
    with live.client() as c:
        before = state(c)
        bu = {"business_unit_id": "finance", "name": "Finance"}
        if not any(b["business_unit_id"] == "finance" for b in before["business_units"]):
            assert c.post("/business-units", json=bu).status_code == 201
            before = state(c)
        for field in ("extension_pattern", "account_pattern"):
            rule = c.post(
                "/attribution/rules", json={"business_unit_id": "finance", field: pattern}
            )
            assert_problem(rule, 400, field)
        assert state(c) == before


def test_glob_brackets_in_a_rule_match_only_themselves(live: ServerProcess) -> None:
    with live.client() as c:
        if c.get("/business-units/finance").status_code == 404:
            assert (
                c.post(
                    "/business-units", json={"business_unit_id": "finance", "name": "Finance"}
                ).status_code
                == 201
            )
        created = c.post(
            "/attribution/rules",
            json={"business_unit_id": "finance", "extension_pattern": "[o]racle-*"},
        )
        assert created.status_code == 201, created.text
        tested = c.get("/attribution/rules/test", params={"extension_id": "oracle-cdc"}).json()
        assert tested.get("business_unit_id") is None, tested
        assert c.delete(f"/attribution/rules/{created.json()['rule_id']}").status_code in (200, 204)


def test_nul_characters_anywhere_are_refused_naming_where(live: ServerProcess) -> None:
    # PostgreSQL can neither store nor compare NUL: it must never reach the database.
    with live.client() as c:
        before = state(c)
        query = c.get("/usage/records", params={"account": "svc\x00"})
        assert_problem(query, 400, "query")
        bu = {"business_unit_id": "nul-bu", "name": "Nul", "description": "a\x00b"}
        assert_problem(c.post("/business-units", json=bu), 400, "description")
        assert_problem(c.post("/tokens", json={"role": "viewer", "name": "v\x00"}), 400, "name")
        nested = c.post("/usage", json=report(dimensions={"tables_replicated": 1, "x\x00": 1}))
        assert_problem(nested, 400, "dimensions")
        assert state(c) == before
