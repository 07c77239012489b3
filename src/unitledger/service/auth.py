"""API tokens and roles. Only a SHA-256 hash of each token is ever stored."""

from __future__ import annotations

import enum
import hashlib
import secrets
from dataclasses import dataclass

from unitledger.errors import Forbidden

__all__ = ["Principal", "Role", "hash_token", "new_token", "require"]

TOKEN_PREFIX = "ul_"  # noqa: S105 - a public prefix, not a secret


class Role(enum.StrEnum):
    ADMIN = "admin"
    VIEWER = "viewer"
    EXTENSION = "extension"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a token's id, role and, for extension tokens, its extension."""

    token_id: str
    role: Role
    name: str
    extension_id: str | None = None

    @property
    def actor(self) -> str:
        return f"{self.role.value}:{self.name}"


def new_token() -> tuple[str, str]:
    """A fresh (token_id, secret token). The token embeds its id for quick lookup in logs."""
    token_id = secrets.token_hex(6)
    return token_id, f"{TOKEN_PREFIX}{token_id}_{secrets.token_urlsafe(24)}"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def require(principal: Principal, *roles: Role, extension_id: str | None = None) -> None:
    """Raise Forbidden unless ``principal`` has one of ``roles`` (and owns ``extension_id``)."""
    if principal.role not in roles:
        allowed = " or ".join(r.value for r in roles)
        raise Forbidden(
            f"this action needs the {allowed} role; your token has role {principal.role.value}"
        )
    if (
        principal.role is Role.EXTENSION
        and extension_id is not None
        and principal.extension_id != extension_id
    ):
        raise Forbidden(
            f"this token belongs to extension {principal.extension_id!r} and cannot act as "
            f"{extension_id!r}",
            field="extension_id",
        )
