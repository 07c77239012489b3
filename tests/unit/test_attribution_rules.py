"""Attribution rules: glob matching, precedence, and validation of business units."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from unitledger.domain.attribution import (
    AttributionRule,
    check_business_unit,
    check_pattern,
    choose_rule,
    pattern_matches,
    slugify,
)
from unitledger.errors import ValidationFailed


def rule(
    rule_id: str,
    ext: str = "*",
    account: str = "*",
    bu: str = "bu",
    priority: int = 0,
    created: int = 0,
) -> AttributionRule:
    return AttributionRule(rule_id, ext, account, bu, priority, created_at_us=created)


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("*", "anything", True),
        ("oracle-cdc", "oracle-cdc", True),
        ("oracle-cdc", "oracle-cdc2", False),
        ("oracle-*", "oracle-cdc", True),
        ("oracle-*", "mysql-cdc", False),
        ("svc-?@finance", "svc-a@finance", True),
        ("svc-?@finance", "svc-ab@finance", False),
        ("*@finance", "svc-etl@finance", True),
        ("*@finance", "svc-etl@Finance", False),
        ("[abc]", "a", False),
        ("[abc]", "[abc]", True),
        ("a[b]*", "a[b]-x", True),
    ],
)
def test_patterns_are_globs_with_literal_brackets(pattern: str, value: str, expected: bool) -> None:
    assert pattern_matches(pattern, value) is expected


def test_higher_priority_wins_over_specificity() -> None:
    exact = rule("r1", "oracle-cdc", "svc@finance", "finance", priority=0)
    broad = rule("r2", "*", "*", "platform", priority=10)
    decision = choose_rule([exact, broad], "oracle-cdc", "svc@finance")
    assert decision.winner == broad
    assert decision.candidates == (broad, exact)


def test_on_equal_priority_the_pattern_with_fewer_wildcards_wins() -> None:
    broad = rule("r1", "*", "*", "platform", created=1)
    ext_only = rule("r2", "oracle-cdc", "*", "data", created=2)
    exact = rule("r3", "oracle-cdc", "svc@finance", "finance", created=3)
    decision = choose_rule([broad, ext_only, exact], "oracle-cdc", "svc@finance")
    assert [r.rule_id for r in decision.candidates] == ["r3", "r2", "r1"]


def test_on_equal_wildcards_the_pattern_with_more_literal_characters_wins() -> None:
    everyone = rule("r1", "*", "*", "platform", created=1)
    finance = rule("r2", "*", "*@finance", "finance", created=2)
    assert choose_rule([everyone, finance], "kafka", "svc@finance").winner == finance


def test_on_a_full_tie_the_older_rule_wins() -> None:
    newer = rule("a-new", "oracle-*", "*", "x", created=20)
    older = rule("z-old", "oracle-*", "*", "y", created=10)
    assert choose_rule([newer, older], "oracle-cdc", "u").winner == older


def test_no_matching_rule_leaves_the_record_unattributed() -> None:
    decision = choose_rule([rule("r", "mysql-*")], "oracle-cdc", "u")
    assert decision.winner is None
    assert decision.candidates == ()


names = st.text(alphabet="ab-*?", min_size=1, max_size=5)


@given(
    st.lists(
        st.tuples(names, names, st.integers(-3, 3), st.integers(0, 5)), min_size=0, max_size=12
    ),
    st.text(alphabet="ab-", min_size=1, max_size=4),
    st.text(alphabet="ab-", min_size=1, max_size=4),
    st.randoms(use_true_random=False),
)
def test_rule_choice_does_not_depend_on_rule_order(
    specs: list[tuple[str, str, int, int]], ext: str, account: str, rnd: random.Random
) -> None:
    rules = [rule(f"r{i}", e, a, f"bu{i}", p, c) for i, (e, a, p, c) in enumerate(specs)]
    first = choose_rule(rules, ext, account)
    shuffled = list(rules)
    rnd.shuffle(shuffled)
    second = choose_rule(shuffled, ext, account)
    assert first == second
    if first.winner is not None:
        assert all(r.matches(ext, account) for r in first.candidates)
        assert first.winner.priority == max(r.priority for r in first.candidates)


def test_business_unit_identifier_is_derived_from_the_name() -> None:
    unit = check_business_unit(name="  Data Platform & Analytics ")
    assert unit.business_unit_id == "data-platform-analytics"
    assert unit.name == "Data Platform & Analytics"
    assert slugify("Équipe Finance") == "equipe-finance"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 129}, "name"),
        ({"name": "Ok", "business_unit_id": "Not A Slug"}, "business_unit_id"),
        ({"name": "!!!"}, "business_unit_id"),
        ({"name": "Ok", "contact_email": "not-an-email"}, "contact_email"),
        ({"name": "Ok", "soft_quota_units": -5}, "soft_quota_units"),
        ({"name": "Ok", "soft_quota_units": float("nan")}, "soft_quota_units"),
        ({"name": "Ok", "soft_quota_units": True}, "soft_quota_units"),
    ],
)
def test_invalid_business_unit_fields_are_named(fields: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        check_business_unit(**fields)
    assert caught.value.field == field


@pytest.mark.parametrize("pattern", ["", "a b", "x" * 129, "ext;drop"])
def test_invalid_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(ValidationFailed):
        check_pattern(pattern, field="extension_pattern")
