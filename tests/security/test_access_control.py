"""Access control matrix: every HTTP operation by {no token, bad token, viewer, admin,
extension A} is allowed or denied as the policy below says.

The operations come from the live server's OpenAPI document, so an endpoint added
later fails ``test_the_policy_covers_every_operation`` until it is placed here.
Allowed means neither 401 nor 403 (the request may still be invalid: 400/404);
denied means 401 without a valid token and 403 with a token of the wrong role.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import MetaData, create_engine, select

from support import ServerProcess
from unitledger.service.auth import hash_token
from unitledger.signing import KeyPair

OPEN, ANY, REPORTER, VIEWER, ADMIN = "open", "any token", "reporter", "viewer", "admin"

POLICY: dict[str, str] = {
    "GET /api/v1/ping": OPEN,
    "GET /api/v1/health": OPEN,
    "GET /api/v1/ready": OPEN,
    "GET /api/v1/info": OPEN,
    "GET /api/v1/whoami": ANY,
    "GET /api/v1/enforcement": ANY,
    "GET /api/v1/enforcement/stream": ANY,
    "POST /api/v1/usage": REPORTER,  # extension tokens only as their own extension
    "GET /api/v1/extensions": VIEWER,
    "GET /api/v1/usage/records": VIEWER,
    "GET /api/v1/usage/records/{record_id}": VIEWER,
    "GET /api/v1/usage/summary": VIEWER,
    "GET /api/v1/usage/timeseries": VIEWER,
    "GET /api/v1/metrics/{name}": VIEWER,
    "GET /api/v1/licenses": VIEWER,
    "GET /api/v1/licenses/{license_id}": VIEWER,
    "GET /api/v1/quarantine": VIEWER,
    "GET /api/v1/business-units": VIEWER,
    "GET /api/v1/business-units/{business_unit_id}": VIEWER,
    "GET /api/v1/attribution/rules": VIEWER,
    "GET /api/v1/attribution/rules/{rule_id}": VIEWER,
    "GET /api/v1/attribution/rules/{rule_id}/versions": VIEWER,
    "GET /api/v1/attribution/rules/test": VIEWER,
    "GET /api/v1/attribution/audit": VIEWER,
    "GET /api/v1/attribution/alerts": VIEWER,
    "GET /api/v1/reports/allocation": VIEWER,
    "GET /api/v1/reports/allocation/export": VIEWER,
    "POST /api/v1/licenses": ADMIN,
    "POST /api/v1/licenses/{license_id}/revoke": ADMIN,
    "POST /api/v1/quarantine/replay": ADMIN,
    "GET /api/v1/tokens": ADMIN,
    "POST /api/v1/tokens": ADMIN,
    "DELETE /api/v1/tokens/{token_id}": ADMIN,
    "GET /api/v1/ledger/verify": ADMIN,
    "POST /api/v1/business-units": ADMIN,
    "PATCH /api/v1/business-units/{business_unit_id}": ADMIN,
    "DELETE /api/v1/business-units/{business_unit_id}": ADMIN,
    "POST /api/v1/attribution/rules": ADMIN,
    "POST /api/v1/attribution/rules/reorder": ADMIN,
    "PATCH /api/v1/attribution/rules/{rule_id}": ADMIN,
    "DELETE /api/v1/attribution/rules/{rule_id}": ADMIN,
    "POST /api/v1/attribution/manual": ADMIN,
    "POST /api/v1/attribution/clear": ADMIN,
    "POST /api/v1/attribution/reapply": ADMIN,
}

CALLERS = ("no token", "bad token", "viewer", "admin", "extension A")
ALLOWED = {
    OPEN: set(CALLERS),
    ANY: {"viewer", "admin", "extension A"},
    REPORTER: {"admin", "extension A"},
    VIEWER: {"viewer", "admin"},
    ADMIN: {"admin"},
}
PATH_VALUES = {
    "record_id": "1",
    "license_id": "LIC-none",
    "token_id": "nothing",
    "business_unit_id": "no-such-bu",
    "rule_id": "no-such-rule",
    "name": "licensing.usage.units",
}
EXT_A = "ext-a"


def operations(live: ServerProcess) -> list[str]:
    document = httpx.get(f"{live.url}/api/v1/openapi.json").json()
    return sorted(
        f"{method.upper()} {path}" for path, ops in document["paths"].items() for method in ops
    )


def call(live: ServerProcess, operation: str, token: str | None) -> int:
    method, template = operation.split(" ", 1)
    path = re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES[m.group(1)], template)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body: dict[str, Any] | None = None
    if method in ("POST", "PATCH"):
        body = {}
    if operation == "POST /api/v1/usage":
        body = {"extension_id": EXT_A, "dimensions": {"tables_replicated": 1}}
    with (
        httpx.Client(base_url=live.url, headers=headers, timeout=30) as http,
        http.stream(method, path, json=body) as response,
    ):
        return response.status_code


def test_the_policy_covers_every_operation(live: ServerProcess) -> None:
    assert set(operations(live)) == set(POLICY)


@pytest.mark.parametrize("caller", CALLERS)
def test_every_operation_allows_and_denies_as_the_policy_says(
    live: ServerProcess, tokens: dict[str, str | None], caller: str
) -> None:
    wrong: list[str] = []
    for operation in operations(live):
        status = call(live, operation, tokens[caller])
        allowed = caller in ALLOWED[POLICY[operation]]
        if status >= 500:
            wrong.append(f"{operation}: {status}")
        elif allowed and status in (401, 403):
            wrong.append(f"{operation}: denied ({status}) but the policy allows {caller}")
        elif not allowed:
            expected = 401 if caller in ("no token", "bad token") else 403
            if status != expected:
                wrong.append(f"{operation}: {status}, expected {expected} for {caller}")
    assert wrong == []


def test_an_extension_token_acts_only_as_its_own_extension(
    live: ServerProcess, tokens: dict[str, str | None]
) -> None:
    token_b = live.token("extension", "ext-b")
    with live.client(tokens["extension A"]) as a, live.client(token_b) as b:
        as_b = a.post(
            "/usage",
            json={
                "extension_id": "ext-b",
                "dimensions": {"tables_replicated": 1},
                "idempotency_key": "impersonate",
            },
        )
        assert as_b.status_code == 403
        assert as_b.json()["field"] == "extension_id"
        assert "'ext-a'" in as_b.json()["detail"]
        own = {"dimensions": {"tables_replicated": 1}, "idempotency_key": "own"}
        assert a.post("/usage", json={**own, "extension_id": EXT_A}).status_code == 200
        assert b.post("/usage", json={**own, "extension_id": "ext-b"}).status_code == 200
        seen_by_a = a.get("/enforcement").json()
        assert set(seen_by_a["extensions"]) == {EXT_A}
        assert a.get("/usage/records").status_code == 403
        assert a.get("/usage/records", params={"extension_id": "ext-b"}).status_code == 403
        assert a.post("/licenses", content=live.license_file()).status_code == 403
        assert a.post("/tokens", json={"role": "admin", "name": "x"}).status_code == 403
    with live.client() as admin:
        records = admin.get("/usage/records", params={"extension_id": "ext-b"}).json()["items"]
        assert [r["idempotency_key"] for r in records] == ["own"]
        assert set(admin.get("/enforcement").json()["extensions"]) >= {EXT_A, "ext-b"}


def test_the_event_stream_tells_an_extension_only_of_itself(
    live: ServerProcess, tokens: dict[str, str | None]
) -> None:
    headers = {"Authorization": f"Bearer {tokens['extension A']}"}
    with (
        httpx.Client(base_url=f"{live.url}/api/v1", headers=headers, timeout=10) as http,
        http.stream("GET", "/enforcement/stream") as stream,
    ):
        lines = stream.iter_lines()
        data = next(line for line in lines if line.startswith("data:"))
    assert '"ext-b"' not in data
    assert '"extensions": {"ext-a"' in data


def test_tokens_are_stored_only_as_hashes_and_never_logged(
    live: ServerProcess, tokens: dict[str, str | None]
) -> None:
    secrets = [t for t in tokens.values() if t]
    url = live.database_url or f"sqlite:///{live.data_dir / 'unitledger.db'}"
    engine = create_engine(url)
    try:
        metadata = MetaData()
        metadata.reflect(engine)
        with engine.connect() as conn:
            dump = "\n".join(
                repr(row) for table in metadata.sorted_tables for row in conn.execute(select(table))
            )
    finally:
        engine.dispose()
    log = live.log_text()
    assert "DEBUG" in log  # the server did log at debug level while the tokens were used
    for secret in secrets:
        assert hash_token(secret) in dump or secret == tokens["bad token"]
        assert secret not in dump
        assert secret not in log
        # Nor the part after the public id prefix.
        assert secret.split("_")[-1] not in log


def test_failed_authentication_is_rate_limited(tmp_path: Path, vendor_key: KeyPair) -> None:
    server = ServerProcess(
        tmp_path / "data", vendor_key, extra_env={"UNITLEDGER_AUTH_FAILURES_PER_MINUTE": "5"}
    )
    server.start()
    try:
        with server.client("ul_guess_0") as guess:
            statuses = [
                guess.get("/licenses", headers={"Authorization": f"Bearer ul_guess_{n}"})
                for n in range(8)
            ]
        assert [s.status_code for s in statuses[:5]] == [401] * 5
        limited = statuses[5]
        assert limited.status_code == 429
        assert limited.headers["Retry-After"] == "60"
        assert "too many failed authentication attempts" in limited.json()["detail"]
        assert all(s.status_code == 429 for s in statuses[5:])
    finally:
        server.stop()
