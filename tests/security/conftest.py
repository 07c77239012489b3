"""The live server and the five callers both access-control matrices (HTTP, NATS) use."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support import ServerProcess
from unitledger.signing import KeyPair


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server per module, logging at debug so a leaked token would show."""
    server = ServerProcess(
        tmp_path_factory.mktemp("acl") / "data",
        KeyPair.generate(),
        extra_env={
            "UNITLEDGER_AUTH_FAILURES_PER_MINUTE": "100000",
            "UNITLEDGER_LOG_LEVEL": "debug",
        },
    )
    server.start()
    server.install_license()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def tokens(request: pytest.FixtureRequest, live: ServerProcess) -> dict[str, str | None]:
    """No token, a bad one, viewer, admin, and an extension token for the module's EXT_A."""
    return {
        "no token": None,
        "bad token": "ul_000000000000_not-a-real-token",
        "viewer": live.token("viewer"),
        "admin": live.admin_token,
        "extension A": live.token("extension", request.module.EXT_A),
    }
