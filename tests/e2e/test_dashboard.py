"""The web dashboard in Debian's Chromium against a live server with demo data."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from unitledger_sdk import Extension

from browser_support import (
    NARROW,
    WIDE,
    api,
    open_tab,
    percent,
    pie_slice_point,
    screenshot,
    serious_axe_violations,
    signed_in,
    units,
)
from support import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def card(page: Page, name: str) -> tuple[str, str]:
    box = page.get_by_test_id(f"card-{name}")
    return box.locator("h2").inner_text(), box.locator(".big").inner_text()


def test_usage_tab_shows_the_same_numbers_as_the_api(demo: ServerProcess, browser: Browser) -> None:
    for viewport, name in ((WIDE, "wide"), (NARROW, "narrow")):
        with signed_in(browser, demo.url, demo.admin_token, viewport) as page:
            open_tab(page, demo.url, "usage")
            page.wait_for_selector("[data-testid=usage-extensions] tbody tr")
            page.wait_for_selector(".chart-usage svg")
            summary = api(demo, "/usage/summary")
            state = api(demo, "/enforcement")
            assert card(page, "available")[1] == units(summary["available_units"])
            assert card(page, "used")[1] == units(summary["used_units"])
            assert card(page, "remaining") == ("UNITS REMAINING", units(summary["remaining_units"]))
            status = page.get_by_test_id("card-status")
            assert status.locator(".state").inner_text() == "Warning"
            dots = status.locator(".dot")
            assert dots.count() == len(state["extensions"])
            assert dots.nth(0).get_attribute("aria-label") == "hive-migrator: Warning"
            rows = page.locator("[data-testid=usage-extensions] tbody tr")
            shown = {
                rows.nth(i).get_attribute("data-extension"): rows.nth(i)
                .locator("td.num")
                .nth(0)
                .inner_text()
                for i in range(rows.count())
            }
            assert shown == {e["extension_id"]: units(e["units"]) for e in summary["extensions"]}
            expect(page.get_by_test_id("projection")).to_contain_text("capacity runs out on")
            screenshot(page, f"usage-{name}")


def test_usage_chart_range_picker_reloads_the_series(demo: ServerProcess, browser: Browser) -> None:
    with signed_in(browser, demo.url, demo.admin_token, WIDE) as page:
        open_tab(page, demo.url, "usage")
        page.wait_for_selector(".chart-usage svg")
        with page.expect_response(lambda r: "/usage/timeseries?start=" in r.url) as response:
            page.get_by_role("button", name="24 hours").click()
        body = response.value.json()
        assert body["bucket"] == "hour"
        expect(page.get_by_role("button", name="24 hours")).to_have_attribute(
            "aria-pressed", "true"
        )


def test_extensions_tab_matches_the_api_and_a_pie_slice_filters_the_dimensions(
    demo: ServerProcess, browser: Browser
) -> None:
    summary = api(demo, "/usage/summary")
    with signed_in(browser, demo.url, demo.admin_token, WIDE) as page:
        open_tab(page, demo.url, "extensions")
        rows = page.locator("[data-testid=extensions-table] tbody tr")
        expect(rows).to_have_count(len(summary["extensions"]))
        connections = {e["extension_id"]: e["connection"] for e in api(demo, "/extensions")}
        for ext in summary["extensions"]:
            row = page.locator(
                f'[data-testid=extensions-table] tr[data-extension="{ext["extension_id"]}"]'
            )
            cells = row.locator("td.num")
            assert cells.nth(0).inner_text() == units(ext["units"])
            assert cells.nth(1).inner_text() == percent(ext["share"])
            expect(row.locator("td").nth(1)).to_have_text(
                connections[ext["extension_id"]].capitalize()
            )
        disabled = page.locator('[data-testid=extensions-table] tr[data-extension="legacy-sync"]')
        expect(disabled.locator("td").nth(0)).to_have_text("Disabled")
        expect(disabled.locator(".why")).to_contain_text("rows_scanned")
        dims = page.locator("[data-testid=dimensions-table] tbody tr")
        expect(dims).to_have_count(len(summary["dimensions"]))

        pie = page.get_by_test_id("share-pie").locator(".chart-pie")
        page.wait_for_selector("[data-testid=share-pie] svg path")
        screenshot(page, "extensions-wide")
        slices = [e for e in summary["extensions"] if e["units"] > 0]
        total = sum(e["units"] for e in slices)
        shares = [e["units"] / total for e in slices]
        pick = max(range(len(slices)), key=lambda i: shares[i])
        chosen = slices[pick]["extension_id"]
        box = pie.bounding_box()
        assert box is not None
        page.mouse.click(*pie_slice_point(box, shares, pick))
        expect(page.locator("#dimensions-heading")).to_contain_text(chosen)
        expected = [d for d in summary["dimensions"] if d["extension_id"] == chosen]
        expect(dims).to_have_count(len(expected))
        assert {dims.nth(i).get_attribute("data-extension") for i in range(dims.count())} == {
            chosen
        }
        page.get_by_role("button", name="Show all extensions").click()
        expect(dims).to_have_count(len(summary["dimensions"]))


def test_a_running_extension_shows_connected_and_inactive_once_it_stops(
    fresh_demo: ServerProcess, browser: Browser
) -> None:
    token = fresh_demo.token("extension", "oracle-cdc")
    nats = f"nats://127.0.0.1:{fresh_demo.nats_port}"
    stop = threading.Event()
    opened = threading.Event()

    async def run_extension() -> None:
        async with Extension("Oracle CDC", "oracle-cdc", token=token, servers=nats) as ext:
            await ext.report_usage({"tables_replicated": 1})
            opened.set()
            await asyncio.to_thread(stop.wait, 60)

    worker = threading.Thread(target=lambda: asyncio.run(run_extension()), daemon=True)
    with signed_in(browser, fresh_demo.url, fresh_demo.admin_token, WIDE) as page:
        open_tab(page, fresh_demo.url, "extensions")
        connection = page.locator(
            '[data-testid=extensions-table] tr[data-extension="oracle-cdc"] td'
        ).nth(1)
        expect(connection).to_have_text("Inactive")
        worker.start()
        assert opened.wait(15), "the extension did not connect"
        expect(connection).to_have_text("Connected", timeout=10_000)
        screenshot(page, "extensions-connected-wide")
        stop.set()
        worker.join(15)
        expect(connection).to_have_text("Inactive", timeout=10_000)


def test_the_quarantine_link_of_a_disabled_extension_lists_its_held_reports(
    demo: ServerProcess, browser: Browser
) -> None:
    held = api(demo, "/quarantine?extension_id=legacy-sync")
    with signed_in(browser, demo.url, demo.admin_token, WIDE) as page:
        open_tab(page, demo.url, "extensions")
        page.get_by_role("link", name="1 quarantined report").click()
        expect(page.locator("#quarantine-heading")).to_contain_text("legacy-sync")
        rows = page.locator("[data-testid=quarantine-table] tbody tr")
        expect(rows).to_have_count(len(held))
        expect(rows.first).to_contain_text(held[0]["reason"])


def test_pie_is_hidden_at_390_px_and_a_row_still_filters(
    demo: ServerProcess, browser: Browser
) -> None:
    with signed_in(browser, demo.url, demo.admin_token, NARROW) as page:
        open_tab(page, demo.url, "extensions")
        page.wait_for_selector("[data-testid=extensions-table] tbody tr")
        assert page.get_by_test_id("share-pie").count() == 0
        assert page.evaluate("document.documentElement.scrollWidth") <= NARROW["width"]
        screenshot(page, "extensions-narrow")
        page.get_by_role("button", name="oracle-cdc", exact=True).click()
        dims = page.locator("[data-testid=dimensions-table] tbody tr")
        expect(dims).to_have_count(2)
        assert {dims.nth(i).get_attribute("data-extension") for i in range(2)} == {"oracle-cdc"}


def test_licenses_tab_shows_the_same_numbers_as_the_api(
    demo: ServerProcess, browser: Browser
) -> None:
    licenses = api(demo, "/licenses")
    for viewport, name in ((WIDE, "wide"), (NARROW, "narrow")):
        with signed_in(browser, demo.url, demo.admin_token, viewport) as page:
            open_tab(page, demo.url, "licenses")
            rows = page.locator("[data-testid=licenses-table] tbody tr")
            expect(rows).to_have_count(len(licenses))
            for lic in licenses:
                row = page.locator(f'tr[data-license="{lic["license_id"]}"]')
                expect(row.locator(".pill")).to_have_text(lic["status"].capitalize())
                numbers = row.locator("td.num")
                assert numbers.nth(0).inner_text() == units(lic["capacity_units"])
                assert numbers.nth(1).inner_text() == units(lic["used_units"])
                assert numbers.nth(2).inner_text() == units(lic["remaining_units"])
            screenshot(page, f"licenses-{name}")


def test_uploading_a_tampered_license_shows_the_servers_error(
    demo: ServerProcess, browser: Browser
) -> None:
    envelope = json.loads(demo.license_file(license_id="LIC-TAMPERED", capacity_units=10))
    envelope["license"]["capacity_units"] = 1_000_000
    tampered = json.dumps(envelope)
    with demo.client() as c:
        refused = c.post("/licenses", content=tampered)
    assert refused.status_code == 400
    detail = refused.json()["detail"]
    with signed_in(browser, demo.url, demo.admin_token, WIDE) as page:
        open_tab(page, demo.url, "licenses")
        # Drop the file on the drop zone the way a browser does.
        page.get_by_test_id("dropzone").evaluate(
            """(zone, text) => {
                const data = new DataTransfer();
                data.items.add(new File([text], "tampered.lic", { type: "application/json" }));
                zone.dispatchEvent(new DragEvent("drop", { dataTransfer: data, bubbles: true, cancelable: true }));
            }""",
            tampered,
        )
        outcome = page.get_by_test_id("upload-outcome")
        expect(outcome).to_contain_text(detail)
        expect(outcome).to_have_attribute("role", "alert")
        screenshot(page, "licenses-upload-refused")
    assert "LIC-TAMPERED" not in {lic["license_id"] for lic in api(demo, "/licenses")}


def test_a_license_chosen_as_a_file_is_installed_and_can_be_revoked(
    fresh_demo: ServerProcess, browser: Browser, tmp_path: Path
) -> None:
    license_file = tmp_path / "extra.lic"
    license_file.write_text(fresh_demo.license_file(license_id="LIC-EXTRA", capacity_units=5000))
    with signed_in(browser, fresh_demo.url, fresh_demo.admin_token, WIDE) as page:
        open_tab(page, fresh_demo.url, "licenses")
        page.get_by_test_id("license-file").set_input_files(str(license_file))
        expect(page.get_by_test_id("upload-outcome")).to_contain_text("Installed LIC-EXTRA")
        row = page.locator('tr[data-license="LIC-EXTRA"]')
        expect(row.locator(".pill")).to_have_text("Active")
        expect(row.locator("td.num").first).to_have_text("5,000")
        row.get_by_role("button", name="Revoke LIC-EXTRA").click()
        dialog = page.get_by_role("dialog")
        expect(dialog).to_contain_text("Revoke LIC-EXTRA?")
        dialog.get_by_role("button", name="Revoke license").click()
        expect(row.locator(".pill")).to_have_text("Revoked")
        assert row.get_by_role("button", name="Revoke LIC-EXTRA").count() == 0
    assert api(fresh_demo, "/licenses/LIC-EXTRA")["status"] == "REVOKED"


def test_a_viewer_sees_no_edit_buttons(demo: ServerProcess, browser: Browser) -> None:
    viewer = demo.token("viewer")
    with signed_in(browser, demo.url, viewer, WIDE) as page:
        expect(page.locator(".who")).to_contain_text("viewer")
        open_tab(page, demo.url, "licenses")
        page.wait_for_selector("[data-testid=licenses-table] tbody tr")
        assert page.get_by_test_id("dropzone").count() == 0
        assert page.get_by_role("button", name="Revoke").count() == 0
        open_tab(page, demo.url, "extensions")
        page.wait_for_selector("[data-testid=quarantine-table] tbody tr")
        assert page.get_by_role("button", name="Replay now").count() == 0
        open_tab(page, demo.url, "attribution/records")
        page.wait_for_selector("[data-testid=records-table] tbody tr")
        assert page.get_by_test_id("assign-bar").count() == 0
        assert page.locator("[data-testid=records-table] input[type=checkbox]").count() == 0
        open_tab(page, demo.url, "attribution/business-units")
        page.wait_for_selector("[data-testid=units-table]")
        assert page.get_by_role("button", name="New business unit").count() == 0
        open_tab(page, demo.url, "attribution/rules")
        page.wait_for_selector("[data-testid=rules-table]")
        assert page.get_by_role("button", name="Add rule").count() == 0
        assert page.get_by_role("button", name="Edit").count() == 0
        assert page.get_by_role("button", name="Delete").count() == 0


def test_usage_over_100_percent_turns_the_remaining_card_into_red_units_over_live(
    fresh_demo: ServerProcess, browser: Browser
) -> None:
    with signed_in(browser, fresh_demo.url, fresh_demo.admin_token, WIDE) as page:
        open_tab(page, fresh_demo.url, "usage")
        page.wait_for_selector("[data-testid=card-remaining] .big")
        assert card(page, "remaining")[0] == "UNITS REMAINING"
        page.evaluate("window.__sameDocument = true")
        remaining = api(fresh_demo, "/usage/summary")["remaining_units"]
        with fresh_demo.client() as c:
            report = {
                "extension_id": "oracle-cdc",
                "dimensions": {"tables_replicated": remaining + 250},
            }
            assert c.post("/usage", json=report).status_code == 200
        started = time.monotonic()
        remaining_card = page.get_by_test_id("card-remaining")
        expect(remaining_card.locator("h2")).to_have_text("Units Over", timeout=5_000)
        elapsed = time.monotonic() - started
        over = api(fresh_demo, "/usage/summary")["over_units"]
        expect(remaining_card.locator(".big")).to_have_text(units(over))
        assert (
            remaining_card.locator(".big").evaluate("e => getComputedStyle(e).color")
            == "rgb(185, 28, 28)"
        )
        assert page.evaluate("window.__sameDocument") is True
        assert elapsed < 3.0, f"Units Over showed {elapsed:.2f}s after the report"
        screenshot(page, "usage-over-wide")


def test_a_state_change_shows_within_a_second(fresh_demo: ServerProcess, browser: Browser) -> None:
    with signed_in(browser, fresh_demo.url, fresh_demo.admin_token, WIDE) as page:
        open_tab(page, fresh_demo.url, "extensions")
        pill = page.locator(
            '[data-testid=extensions-table] tr[data-extension="legacy-sync"] td:nth-child(2)'
        )
        expect(pill).to_have_text("Disabled")
        expect(page.locator(".live.on")).to_be_visible()
        page.evaluate("window.__sameDocument = true")
        started = time.monotonic()
        fresh_demo.install_license(rates={"legacy-sync": {"rows_scanned": 0.001}})
        expect(pill).not_to_have_text("Disabled", timeout=5_000)
        elapsed = time.monotonic() - started
        assert page.evaluate("window.__sameDocument") is True
        assert elapsed < 1.5, (
            f"the state change showed {elapsed:.2f}s after the license was installed"
        )


def test_keyboard_alone_reaches_the_tabs_and_filters_the_dimensions(
    demo: ServerProcess, browser: Browser
) -> None:
    with signed_in(browser, demo.url, demo.admin_token, WIDE) as page:
        open_tab(page, demo.url, "usage")
        page.wait_for_selector("[data-testid=usage-extensions] tbody tr")
        page.locator("body").focus()
        reached: list[str] = []
        for _ in range(40):
            page.keyboard.press("Tab")
            reached.append(page.evaluate("document.activeElement.textContent.trim()"))
            if reached[-1] == "Extensions":
                break
        assert reached[-1] == "Extensions", reached
        page.keyboard.press("Enter")
        expect(page.locator('nav.tabs a[aria-current="page"]')).to_have_text("Extensions")
        pick = page.get_by_role("button", name="kafka-bridge", exact=True)
        pick.focus()
        page.keyboard.press("Enter")
        expect(page.locator("#dimensions-heading")).to_contain_text("kafka-bridge")


TABS = [
    "usage",
    "extensions",
    "licenses",
    "attribution/reports",
    "attribution/records",
    "attribution/business-units",
    "attribution/rules",
]


@pytest.mark.parametrize("tab", TABS)
def test_axe_finds_no_serious_violations(demo: ServerProcess, browser: Browser, tab: str) -> None:
    for viewport in (WIDE, NARROW):
        with signed_in(browser, demo.url, demo.admin_token, viewport) as page:
            open_tab(page, demo.url, tab)
            page.wait_for_selector("table.data tbody tr")
            page.wait_for_timeout(300)
            assert serious_axe_violations(page) == [], f"{tab} at {viewport['width']} px"


def test_no_tab_is_wider_than_a_390_px_screen(demo: ServerProcess, browser: Browser) -> None:
    with signed_in(browser, demo.url, demo.admin_token, NARROW) as page:
        for tab in TABS:
            open_tab(page, demo.url, tab)
            page.wait_for_selector("table.data tbody tr")
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= NARROW["width"], f"{tab} is {width} px wide"
            if tab.startswith("attribution/"):
                screenshot(page, tab.replace("/", "-") + "-narrow")
