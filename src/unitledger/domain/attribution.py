"""Business units and attribution rules: which business unit a record is charged to (SPEC §4).

A rule matches an extension pattern and an account pattern and names a business
unit. Patterns are exact names or globs: ``*`` matches any run of characters,
``?`` exactly one, everything else (``[`` included) stands for itself, and
matching is case-sensitive.

When several rules match, the winner is decided by, in order:

1. higher ``priority``;
2. the more specific rule: fewer wildcards (``*`` and ``?``) across both
   patterns, then, on equal wildcards, more literal characters (``*@finance``
   is more specific than ``*``);
3. the older rule (earlier ``created_at_us``), then the smaller ``rule_id``.

The order is total, so the same rules always pick the same winner.
"""

from __future__ import annotations

import fnmatch
import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from unitledger.errors import ValidationFailed

__all__ = [
    "AttributionRule",
    "BusinessUnit",
    "RuleDecision",
    "check_business_unit",
    "check_business_unit_id",
    "check_pattern",
    "check_priority",
    "choose_rule",
    "pattern_matches",
    "precedence",
    "slugify",
    "wildcards",
]

BUSINESS_UNIT_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
# Patterns may hold anything an extension id or account may, plus the two wildcards.
PATTERN = re.compile(r"[A-Za-z0-9._@+:/\\*?\[\]-]{1,128}")
EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{1,63}")
MAX_NAME = 128
MAX_DESCRIPTION = 2000
MAX_PRIORITY = 1_000_000


@dataclass(frozen=True, slots=True)
class BusinessUnit:
    """A department, team or cost centre that usage is charged to."""

    business_unit_id: str
    name: str
    description: str = ""
    contact_email: str | None = None
    soft_quota_units: float | None = None


@dataclass(frozen=True, slots=True)
class AttributionRule:
    """(extension pattern, account pattern) → business unit, with a priority."""

    rule_id: str
    extension_pattern: str
    account_pattern: str
    business_unit_id: str
    priority: int = 0
    description: str = ""
    version: int = 1
    created_at_us: int = 0

    def matches(self, extension_id: str, account: str) -> bool:
        return pattern_matches(self.extension_pattern, extension_id) and pattern_matches(
            self.account_pattern, account
        )

    @property
    def wildcards(self) -> int:
        return wildcards(self.extension_pattern) + wildcards(self.account_pattern)

    @property
    def literals(self) -> int:
        """Characters that must match exactly, across both patterns."""
        both = self.extension_pattern + self.account_pattern
        return len(both) - self.wildcards


@dataclass(frozen=True, slots=True)
class RuleDecision:
    """The winning rule (None: unattributed) and every matching rule, best first."""

    winner: AttributionRule | None
    candidates: tuple[AttributionRule, ...]


def wildcards(pattern: str) -> int:
    """How many ``*`` and ``?`` a pattern holds; fewer means more specific."""
    return pattern.count("*") + pattern.count("?")


def pattern_matches(pattern: str, value: str) -> bool:
    """Whether ``value`` matches ``pattern`` (``*`` and ``?`` globs, ``[`` literal)."""
    if pattern == "*":
        return True
    if wildcards(pattern) == 0:
        return pattern == value
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


def precedence(rule: AttributionRule) -> tuple[int, int, int, int, str]:
    """Sort key putting the rule that wins first (see the module docstring)."""
    return (-rule.priority, rule.wildcards, -rule.literals, rule.created_at_us, rule.rule_id)


def choose_rule(rules: Iterable[AttributionRule], extension_id: str, account: str) -> RuleDecision:
    """Pick the rule that attributes a record of ``extension_id`` for ``account``."""
    candidates = tuple(
        sorted((r for r in rules if r.matches(extension_id, account)), key=precedence)
    )
    return RuleDecision(candidates[0] if candidates else None, candidates)


def slugify(name: str) -> str:
    """A business unit identifier derived from its name: ``"Data Platform"`` → ``data-platform``."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug[:64].rstrip("-")


def check_business_unit_id(value: object, *, field: str = "business_unit_id") -> str:
    """Return ``value`` if it is a valid business unit identifier, else raise."""
    if not isinstance(value, str) or not BUSINESS_UNIT_ID.fullmatch(value):
        raise ValidationFailed(
            f"{field} {value!r} is invalid: use 1-64 characters from a-z, 0-9 and '-', "
            "starting with a letter or digit",
            field=field,
        )
    return value


def check_pattern(value: object, *, field: str) -> str:
    """Return ``value`` if it is a valid extension or account pattern, else raise."""
    if not isinstance(value, str) or not PATTERN.fullmatch(value):
        raise ValidationFailed(
            f"{field} {value!r} is invalid: give an exact name or a glob (* for any run of "
            "characters, ? for one), 1-128 characters from letters, digits and . _ @ + : / - [ ]",
            field=field,
        )
    return value


def check_priority(value: object, *, field: str = "priority") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > MAX_PRIORITY:
        raise ValidationFailed(
            f"{field} must be a whole number between -{MAX_PRIORITY} and {MAX_PRIORITY}",
            field=field,
        )
    return value


def check_description(value: object, *, field: str = "description") -> str:
    if not isinstance(value, str) or len(value) > MAX_DESCRIPTION:
        raise ValidationFailed(
            f"{field} must be text of at most {MAX_DESCRIPTION} characters", field=field
        )
    return value


def check_business_unit(
    *,
    name: object,
    business_unit_id: object = None,
    description: object = "",
    contact_email: object = None,
    soft_quota_units: object = None,
) -> BusinessUnit:
    """Validate a business unit's fields; the identifier is derived from the name when absent."""
    if not isinstance(name, str) or not name.strip():
        raise ValidationFailed("name is required: give the business unit a name", field="name")
    name = name.strip()
    if len(name) > MAX_NAME or any(unicodedata.category(c) == "Cc" for c in name):
        raise ValidationFailed(
            f"name must be at most {MAX_NAME} printable characters", field="name"
        )
    if business_unit_id is None or business_unit_id == "":
        derived = slugify(name)
        if not derived:
            raise ValidationFailed(
                f"no identifier can be derived from the name {name!r}; pass business_unit_id "
                "(a-z, 0-9 and '-')",
                field="business_unit_id",
            )
        business_unit_id = derived
    bu_id = check_business_unit_id(business_unit_id)
    text = check_description(description if description is not None else "")
    if contact_email is not None and contact_email != "":
        if not isinstance(contact_email, str) or not EMAIL.fullmatch(contact_email):
            raise ValidationFailed(
                f"contact_email {contact_email!r} is not an email address (name@example.com)",
                field="contact_email",
            )
    else:
        contact_email = None
    quota: float | None = None
    if soft_quota_units is not None:
        if (
            isinstance(soft_quota_units, bool)
            or not isinstance(soft_quota_units, int | float)
            or not math.isfinite(soft_quota_units)
            or soft_quota_units <= 0
        ):
            raise ValidationFailed(
                "soft_quota_units must be a positive number of units (or null for no quota)",
                field="soft_quota_units",
            )
        quota = float(soft_quota_units)
    return BusinessUnit(bu_id, name, text, contact_email, quota)


def order_for(rules: Sequence[AttributionRule]) -> list[AttributionRule]:
    """Rules in the order they are tried (the winner of a tie first)."""
    return sorted(rules, key=precedence)
