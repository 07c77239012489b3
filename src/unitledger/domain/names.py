"""Names extensions and licenses use: dimension names, extension ids, accounts."""

from __future__ import annotations

import re

from unitledger.errors import InvalidReport

DIMENSION_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
# Extension ids are slugs that also appear in NATS subjects, so no dots or wildcards.
EXTENSION_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
# Accounts are free-form identities (``svc-etl@finance``) but printable and bounded.
ACCOUNT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+:/\\-]{0,127}")


def check_dimension_name(name: object, *, field: str) -> str:
    """Return ``name`` if it is a valid dimension name, else raise InvalidReport."""
    if not isinstance(name, str) or not DIMENSION_NAME.fullmatch(name):
        raise InvalidReport(
            f"dimension name {name!r} is invalid: names match [a-z][a-z0-9_]{{0,63}} "
            "(lower-case letter first, then letters, digits or underscores)",
            field=field,
        )
    return name


def check_extension_id(value: object, *, field: str = "extension_id") -> str:
    """Return ``value`` if it is a valid extension id, else raise InvalidReport."""
    if not isinstance(value, str) or not EXTENSION_ID.fullmatch(value):
        raise InvalidReport(
            f"extension_id {value!r} is invalid: use 1-64 characters from a-z, 0-9, '-' "
            "and '_', starting with a letter or digit",
            field=field,
        )
    return value


def check_account(value: object, *, field: str = "account") -> str:
    """Return ``value`` if it is a valid account name, else raise InvalidReport."""
    if not isinstance(value, str) or not ACCOUNT.fullmatch(value):
        raise InvalidReport(
            f"account {value!r} is invalid: use 1-128 printable ASCII characters "
            "(letters, digits and . _ @ + : / -), starting with a letter or digit",
            field=field,
        )
    return value
