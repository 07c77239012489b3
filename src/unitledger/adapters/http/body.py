"""Reading JSON bodies with a size bound and errors that name the problem."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from unitledger.errors import ValidationFailed

__all__ = ["PayloadTooLarge", "read_body", "read_json"]


class PayloadTooLarge(ValidationFailed):
    code = "payload_too_large"
    status = 413
    title = "Payload too large"


async def read_body(request: Request) -> bytes:
    limit: int = request.app.state.runtime.settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(
            f"the body is {declared} bytes; at most {limit} are accepted", field="body"
        )
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise PayloadTooLarge(f"the body is larger than {limit} bytes", field="body")
    return bytes(body)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


async def read_json(request: Request) -> Any:
    body = await read_body(request)
    try:
        return json.loads(body, parse_constant=_no_constants)
    except RecursionError:
        raise ValidationFailed("the JSON body is nested too deeply", field="body") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed(f"the body is not valid JSON: {exc}", field="body") from None
