"""NATS access control: subjects by {no token, bad token, viewer, admin, extension A}.

The embedded nats-server asks unitledger (auth callout) who a token belongs to and
gets back per-role publish/subscribe allow-lists. Each cell below connects with
one caller's token and tries one action; a denied action is refused by the NATS
server itself (a permissions violation), an unauthenticated connection is not
accepted at all.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import nats
import pytest

from support import ServerProcess

pytestmark = pytest.mark.nats

EXT_A, EXT_B = "ext-a", "ext-b"
CALLERS = ("no token", "bad token", "viewer", "admin", "extension A")

# action -> callers allowed to do it (everyone else is refused)
POLICY: dict[str, set[str]] = {
    f"request unitledger.v1.report.{EXT_A}": {"admin", "extension A"},
    f"request unitledger.v1.report.{EXT_B}": {"admin"},
    "subscribe unitledger.v1.report.>": {"admin"},
    "subscribe unitledger.v1.enforcement.global": {"viewer", "admin", "extension A"},
    f"subscribe unitledger.v1.enforcement.ext.{EXT_A}": {"viewer", "admin", "extension A"},
    f"subscribe unitledger.v1.enforcement.ext.{EXT_B}": {"viewer", "admin"},
    "subscribe unitledger.v1.enforcement.>": {"viewer", "admin"},
    f"publish $KV.unitledger_heartbeats.{EXT_A}.x": {"admin", "extension A"},
    f"publish $KV.unitledger_heartbeats.{EXT_B}.x": {"admin"},
    "publish $SYS.REQ.USER.AUTH": set(),
    "subscribe $SYS.REQ.USER.AUTH": set(),
    "publish unitledger.v1.enforcement.global": {"admin"},
}


async def connect(live: ServerProcess, token: str | None, errors: list[str]) -> Any:
    async def on_error(exc: Exception) -> None:
        errors.append(str(exc))

    options: dict[str, Any] = {
        "servers": [f"nats://127.0.0.1:{live.nats_port}"],
        "allow_reconnect": False,
        "connect_timeout": 5,
        "error_cb": on_error,
    }
    if token:
        options["token"] = token
    return await nats.connect(**options)


async def attempt(live: ServerProcess, token: str | None, action: str) -> bool:
    """Whether NATS let the caller do ``action``."""
    errors: list[str] = []
    try:
        nc = await connect(live, token, errors)
    except Exception:  # the server refused the connection: nothing is allowed
        return False
    verb, subject = action.split(" ", 1)
    try:
        if verb == "request":
            body = {
                "extension_id": subject.rsplit(".", 1)[1],
                "dimensions": {"tables_replicated": 1},
                "idempotency_key": f"acl-{abs(hash((token, action)))}",
            }
            try:
                reply = await nc.request(
                    subject,
                    json.dumps(body).encode(),
                    timeout=3,
                    headers={"Authorization": f"Bearer {token}"},
                )
            except Exception:
                return False
            answer = json.loads(reply.data)
            return bool(answer.get("ok"))
        if verb == "subscribe":
            await nc.subscribe(subject)
        else:
            await nc.publish(subject, b"{}")
        await nc.flush(timeout=3)
        await asyncio.sleep(0.3)  # a violation arrives asynchronously
        return not any("permissions violation" in e.lower() for e in errors)
    finally:
        if not nc.is_closed:
            await nc.close()


@pytest.mark.parametrize("caller", CALLERS)
async def test_every_subject_allows_and_denies_as_the_policy_says(
    live: ServerProcess, tokens: dict[str, str | None], caller: str
) -> None:
    wrong = []
    for action, allowed_callers in POLICY.items():
        allowed = await attempt(live, tokens[caller], action)
        if allowed != (caller in allowed_callers):
            wrong.append(f"{action}: {'allowed' if allowed else 'denied'} for {caller}")
    assert wrong == []


async def test_unauthenticated_connections_are_refused(
    live: ServerProcess, tokens: dict[str, str | None]
) -> None:
    for caller in ("no token", "bad token"):
        with pytest.raises(Exception, match=r"(?i)authorization"):
            await connect(live, tokens[caller], [])


async def test_tokens_used_over_nats_never_reach_the_log(
    live: ServerProcess, tokens: dict[str, str | None]
) -> None:
    for caller in CALLERS:
        await attempt(live, tokens[caller], f"request unitledger.v1.report.{EXT_A}")
    log = live.log_text()
    assert "DEBUG" in log
    for secret in filter(None, tokens.values()):
        assert secret.split("_")[-1] not in log
