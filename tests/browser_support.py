"""Helpers for the dashboard's browser tests: Debian's Chromium, sign-in, number formats."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, FloatRect, Page, ViewportSize

from support import ServerProcess

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
DIST = ROOT / "src" / "unitledger" / "web" / "dist" / "index.html"
ARTIFACTS = ROOT / "test-artifacts" / "dashboard"
WIDE: ViewportSize = {"width": 1440, "height": 1000}
NARROW: ViewportSize = {"width": 390, "height": 844}


def units(value: float) -> str:
    """What the page shows for a number of units: en-US, at most one decimal."""
    rounded = Decimal(repr(value)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    text = f"{rounded:,.1f}"
    return text[:-2] if text.endswith(".0") else text


def percent(ratio: float) -> str:
    return units(ratio * 100) + "%"


@contextmanager
def signed_in(browser: Browser, url: str, token: str, viewport: ViewportSize) -> Iterator[Page]:
    """A fresh page at ``url`` signed in through the token prompt."""
    context = browser.new_context(viewport=viewport, locale="en-US", timezone_id="UTC")
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(url)
        page.fill("#token", token)
        page.click("button[type=submit]")
        page.wait_for_selector("nav.tabs")
        yield page
        assert errors == [], f"the page raised: {errors}"
    finally:
        context.close()


def open_tab(page: Page, url: str, tab: str) -> None:
    """Go to a tab (``extensions``) or a sub-tab (``attribution/rules``) by its address."""
    page.goto(f"{url}/#/{tab}")
    top, _, sub = tab.partition("/")
    page.wait_for_selector(f'nav.tabs a[aria-current="page"][href="#/{top}"]')
    if sub:
        page.wait_for_selector(f'nav.subtabs a[aria-current="page"][href="#/{tab}"]')


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def serious_axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical findings on the page as it is now."""
    page.add_script_tag(path=str(AXE))
    result: dict[str, Any] = page.evaluate("async () => await axe.run(document)")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def pie_slice_point(box: FloatRect, shares: list[float], index: int) -> tuple[float, float]:
    """Where to click for slice ``index`` of the donut (ECharts starts at 12 o'clock, clockwise;
    the dashboard draws radius 38 %-70 % of half the shorter side, centred)."""
    before = sum(shares[:index])
    middle = math.radians(90 - 360 * (before + shares[index] / 2))
    radius = 0.54 * min(box["width"], box["height"]) / 2
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    return cx + radius * math.cos(middle), cy - radius * math.sin(middle)


def api(server: ServerProcess, path: str, token: str | None = None, **params: Any) -> Any:
    """GET ``path`` under /api/v1 and return the JSON body (asserting 200)."""
    with server.client(token) as c:
        response = c.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json()
