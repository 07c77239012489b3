"""Fixtures of the browser tests: demo servers and Debian's Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from browser_support import AXE, CHROMIUM, DIST
from support import ServerProcess
from unitledger.signing import KeyPair


def start_demo(base: Path) -> ServerProcess:
    assert DIST.exists(), "the dashboard is not built: run `make web`"
    assert AXE.exists(), "axe-core is missing: run `npm ci` in web/"
    return ServerProcess(base / "data", KeyPair.generate()).start("--demo", timeout=60)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One demo server per test module, for tests that only read or add their own data."""
    server = start_demo(tmp_path_factory.mktemp("dashboard"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fresh_demo(tmp_path: Path) -> Iterator[ServerProcess]:
    """A demo server of its own, for a test that changes usage or licenses."""
    server = start_demo(tmp_path)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"], headless=True
        )
        try:
            yield chromium
        finally:
            chromium.close()
