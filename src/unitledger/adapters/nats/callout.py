"""NATS auth callout: nats-server asks us who a connecting client is.

The client presents its unitledger API token as the NATS connection token. We
look it up exactly as the HTTP API does (``service.authenticate``, by hash) and
answer with a user JWT whose permissions follow the token's role
(docs/protocol.md §3). Unknown or revoked tokens are refused.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from unitledger.adapters.nats.nkeys import AccountKey, decode_jwt, encode_jwt
from unitledger.adapters.nats.subjects import (
    ENFORCEMENT_BUCKET,
    ENFORCEMENT_PREFIX,
    HEARTBEAT_BUCKET,
    REPORT_PREFIX,
)
from unitledger.errors import UnitledgerError
from unitledger.service.auth import Principal, Role
from unitledger.service.service import UnitledgerService

__all__ = ["AUTH_SUBJECT", "AuthCallout", "permissions_for"]

log = logging.getLogger(__name__)

AUTH_SUBJECT = "$SYS.REQ.USER.AUTH"
# The user's account in a server without named accounts: the global account.
GLOBAL_ACCOUNT = "$G"

_READ_STATE = [
    f"$JS.API.STREAM.INFO.KV_{ENFORCEMENT_BUCKET}",
    f"$JS.API.DIRECT.GET.KV_{ENFORCEMENT_BUCKET}.>",
    f"$JS.API.STREAM.MSG.GET.KV_{ENFORCEMENT_BUCKET}",
    f"$JS.API.STREAM.INFO.KV_{HEARTBEAT_BUCKET}",
]


def permissions_for(principal: Principal) -> dict[str, dict[str, list[str]]]:
    """Publish/subscribe allow-lists for a connection made with ``principal``'s token."""
    if principal.role is Role.ADMIN:
        # Everything but the system subjects: an admin client must not see or answer the
        # auth callout's requests, which carry other clients' tokens.
        return {
            "pub": {"allow": [">"], "deny": ["$SYS.>"]},
            "sub": {"allow": [">"], "deny": ["$SYS.>"]},
        }
    if principal.role is Role.EXTENSION and principal.extension_id:
        ext = principal.extension_id
        return {
            "pub": {
                "allow": [f"{REPORT_PREFIX}{ext}", f"$KV.{HEARTBEAT_BUCKET}.{ext}.>", *_READ_STATE]
            },
            "sub": {
                "allow": [
                    f"{ENFORCEMENT_PREFIX}global",
                    f"{ENFORCEMENT_PREFIX}ext.{ext}",
                    "_INBOX.>",
                ]
            },
        }
    return {
        "pub": {"allow": list(_READ_STATE)},
        "sub": {"allow": [f"{ENFORCEMENT_PREFIX}>", "_INBOX.>"]},
    }


class AuthCallout:
    """Answers ``$SYS.REQ.USER.AUTH`` requests for the embedded server."""

    def __init__(self, service: UnitledgerService, key: AccountKey) -> None:
        self.service = service
        self.key = key
        self.accepted = 0
        self.refused = 0

    async def start(self, nc: Any) -> None:
        self._sub = await nc.subscribe(AUTH_SUBJECT, cb=self._on_request)

    async def _on_request(self, msg: Any) -> None:
        try:
            answer = await self.answer(msg.data.decode())
        except ValueError:
            log.warning("ignored an auth callout request that is not a valid server-signed JWT")
            return
        await msg.respond(answer.encode())

    async def answer(self, request_jwt: str) -> str:
        """The signed authorization response for one signed authorization request."""
        request = decode_jwt(request_jwt)
        claims = request.get("nats", {})
        user_nkey = str(claims.get("user_nkey", ""))
        server_id = str(claims.get("server_id", {}).get("id", ""))
        options = claims.get("connect_opts", {}) or {}
        token = options.get("auth_token") or options.get("pass")
        response: dict[str, Any] = {
            "sub": user_nkey,
            "aud": server_id,
            "nats": {"type": "authorization_response", "version": 2},
        }
        try:
            principal = await asyncio.to_thread(self.service.authenticate, token)
        except UnitledgerError as exc:
            self.refused += 1
            response["nats"]["error"] = exc.detail
            return encode_jwt(response, self.key)
        self.accepted += 1
        user = {
            "sub": user_nkey,
            "aud": GLOBAL_ACCOUNT,
            "name": f"{principal.role.value}:{principal.name}:{principal.token_id}",
            "nats": {
                **permissions_for(principal),
                "subs": -1,
                "data": -1,
                "payload": -1,
                "type": "user",
                "version": 2,
            },
        }
        response["nats"]["jwt"] = encode_jwt(user, self.key)
        return encode_jwt(response, self.key)
