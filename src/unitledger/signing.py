"""Ed25519 keys, signed license files and signed documents.

A license file is JSON: ``{"format": "unitledger-license/1", "license": {...},
"key_id": "...", "signature": "<base64>"}``; the signature covers the canonical
JSON of ``license`` (sorted keys, no spaces). The same envelope with format
``unitledger-signed/1`` carries signed reports, signed with a deployment key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from unitledger.domain.usage import canonical_json
from unitledger.errors import InvalidLicense, ValidationFailed

__all__ = [
    "LICENSE_FORMAT",
    "SIGNED_FORMAT",
    "KeyPair",
    "deployment_id_for",
    "key_id",
    "load_or_create_key",
    "load_private_key",
    "load_public_key",
    "open_envelope",
    "sign_envelope",
]

LICENSE_FORMAT = "unitledger-license/1"
SIGNED_FORMAT = "unitledger-signed/1"
MAX_LICENSE_BYTES = 64 * 1024


def _raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public: Ed25519PublicKey) -> str:
    """A short fingerprint of a public key, printed beside signatures."""
    return hashlib.sha256(_raw(public)).hexdigest()[:16]


def deployment_id_for(public: Ed25519PublicKey) -> str:
    """The deployment id an installation's identity key derives."""
    return "dep_" + hashlib.sha256(b"unitledger-deployment" + _raw(public)).hexdigest()[:20]


@dataclass(frozen=True)
class KeyPair:
    private: Ed25519PrivateKey

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    def private_pem(self) -> bytes:
        return self.private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def public_pem(self) -> bytes:
        return self.public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @classmethod
    def generate(cls) -> KeyPair:
        return cls(Ed25519PrivateKey.generate())

    def write(self, private_path: Path, public_path: Path | None = None) -> None:
        """Write the private key (mode 0600) and optionally the public key."""
        private_path.parent.mkdir(parents=True, exist_ok=True)
        private_path.touch(mode=0o600, exist_ok=True)
        private_path.write_bytes(self.private_pem())
        if public_path is not None:
            public_path.write_bytes(self.public_pem())


def load_private_key(path: Path) -> KeyPair:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise ValidationFailed(f"{path} is not a PEM Ed25519 private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ValidationFailed(f"{path} holds a private key that is not Ed25519")
    return KeyPair(key)


def load_public_key(data: bytes | str) -> Ed25519PublicKey:
    """Load a public key from PEM bytes/text or from base64 of the 32 raw bytes."""
    blob = data.encode() if isinstance(data, str) else data
    try:
        if b"BEGIN" in blob:
            key = serialization.load_pem_public_key(blob)
        else:
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(blob.strip(), validate=True))
    except (ValueError, TypeError, binascii.Error) as exc:
        raise ValidationFailed(f"not an Ed25519 public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ValidationFailed("the public key is not Ed25519")
    return key


def load_or_create_key(path: Path) -> KeyPair:
    """Load the key at ``path``, creating a fresh one on first use."""
    if path.exists():
        return load_private_key(path)
    pair = KeyPair.generate()
    pair.write(path, path.with_suffix(".pub"))
    return pair


def sign_envelope(payload: dict[str, Any], key: KeyPair, fmt: str) -> dict[str, Any]:
    """Wrap ``payload`` in a signed envelope."""
    signature = key.private.sign(canonical_json(payload).encode())
    return {
        "format": fmt,
        key_field(fmt): payload,
        "key_id": key_id(key.public),
        "public_key": base64.b64encode(_raw(key.public)).decode(),
        "signature": base64.b64encode(signature).decode(),
    }


def key_field(fmt: str) -> str:
    return "license" if fmt == LICENSE_FORMAT else "document"


def open_envelope(
    data: bytes | str, trusted: list[Ed25519PublicKey] | None, fmt: str
) -> dict[str, Any]:
    """Verify a signed envelope and return its payload.

    With ``trusted`` keys the signature must verify under one of them (licenses:
    the vendor key); with None it must verify under the key the envelope names
    (signed reports, checked by anyone offline). Raises InvalidLicense naming
    what is wrong, so a caller can show it to a person.
    """
    what = "license file" if fmt == LICENSE_FORMAT else "signed document"
    if len(data) > MAX_LICENSE_BYTES and fmt == LICENSE_FORMAT:
        raise InvalidLicense(f"{what} is larger than {MAX_LICENSE_BYTES} bytes", field="file")
    try:
        envelope = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise InvalidLicense(f"{what} is not valid JSON", field="file") from None
    except RecursionError:
        raise InvalidLicense(f"{what} is nested too deeply to be a {what}", field="file") from None
    if not isinstance(envelope, dict) or envelope.get("format") != fmt:
        raise InvalidLicense(
            f"{what} has no format {fmt!r}: is this the right file?", field="format"
        )
    payload = envelope.get(key_field(fmt))
    signature = envelope.get("signature")
    if not isinstance(payload, dict) or not isinstance(signature, str):
        raise InvalidLicense(f"{what} lacks its payload or signature", field="signature")
    try:
        raw_sig = base64.b64decode(signature, validate=True)
    except (ValueError, binascii.Error):
        raise InvalidLicense(f"{what} signature is not base64", field="signature") from None
    # Without trusted keys, the envelope's own key is checked (anyone can verify offline).
    keys = [load_public_key(str(envelope.get("public_key", "")))] if trusted is None else trusted
    if not keys:
        raise InvalidLicense(
            "no vendor public key is configured, so no license can be verified: "
            "set UNITLEDGER_VENDOR_PUBLIC_KEY (or start with --demo)",
            field="signature",
        )
    message = canonical_json(payload).encode()
    for key in keys:
        try:
            key.verify(raw_sig, message)
        except InvalidSignature:
            continue
        return payload
    raise InvalidLicense(
        f"{what} signature does not verify: the file was altered or signed by another key",
        field="signature",
    )
