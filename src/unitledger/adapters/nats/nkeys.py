"""NATS nkeys and JWTs, just enough to answer auth callout requests.

An nkey is an Ed25519 key written as base32 of ``prefix byte + key + CRC-16``;
its first letter says what it is (``A`` account, ``U`` user, ``N`` server). NATS
JWTs are ordinary JWTs signed with such a key (``alg: ed25519-nkey``). Only the
parts the callout needs are here: an account signing key, decoding and checking
a server-signed request, and encoding signed claims.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = ["AccountKey", "decode_jwt", "encode_jwt", "public_nkey"]

PREFIX_ACCOUNT = 0 << 3
PREFIX_SERVER = 13 << 3
PREFIX_USER = 20 << 3
_PREFIXES = {"A": PREFIX_ACCOUNT, "N": PREFIX_SERVER, "U": PREFIX_USER}


def _crc16(data: bytes) -> int:
    return binascii.crc_hqx(data, 0)  # CRC-16/XMODEM, as nkeys uses


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode().rstrip("=")


def _unb32(text: str) -> bytes:
    return base64.b32decode(text + "=" * (-len(text) % 8))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_nkey(prefix: int, raw: bytes) -> str:
    """Encode a 32-byte Ed25519 public key as an nkey string."""
    body = bytes([prefix]) + raw
    return _b32(body + _crc16(body).to_bytes(2, "little"))


def _decode_public(nkey: str) -> Ed25519PublicKey:
    raw = _unb32(nkey)
    body, crc = raw[:-2], int.from_bytes(raw[-2:], "little")
    if len(body) != 33 or _crc16(body) != crc or body[0] != _PREFIXES.get(nkey[:1], -1):
        raise ValueError(f"not a valid public nkey: {nkey[:8]}…")
    return Ed25519PublicKey.from_public_bytes(body[1:])


class AccountKey:
    """An account nkey pair, generated per server start; it signs callout answers."""

    def __init__(self, private: Ed25519PrivateKey | None = None) -> None:
        self._private = private or Ed25519PrivateKey.generate()
        raw = self._private.public_key().public_bytes_raw()
        self.public = public_nkey(PREFIX_ACCOUNT, raw)

    def sign(self, data: bytes) -> bytes:
        return self._private.sign(data)


def encode_jwt(claims: dict[str, Any], key: AccountKey) -> str:
    """Sign ``claims`` (``iss``, ``iat`` and ``jti`` are filled in) as a NATS JWT."""
    body = {
        "iat": int(time.time()),
        "jti": _b32(secrets.token_bytes(20)),
        **claims,
        "iss": key.public,
    }
    header = _b64url(json.dumps({"typ": "JWT", "alg": "ed25519-nkey"}).encode())
    payload = _b64url(json.dumps(body, separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode()
    return f"{header}.{payload}.{_b64url(key.sign(signing_input))}"


def decode_jwt(token: str) -> dict[str, Any]:
    """Decode a NATS JWT and check its signature against its own ``iss`` nkey.

    Raises:
        ValueError: the token is malformed or its signature does not verify.
    """
    try:
        header, payload, signature = token.split(".")
        claims: dict[str, Any] = json.loads(_unb64url(payload))
        issuer = _decode_public(str(claims["iss"]))
        issuer.verify(_unb64url(signature), f"{header}.{payload}".encode())
    except (KeyError, ValueError, InvalidSignature, binascii.Error) as exc:
        raise ValueError(f"invalid NATS JWT: {exc}") from None
    return claims
