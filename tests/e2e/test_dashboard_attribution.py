"""The dashboard's Attribution tab in Debian's Chromium: reports, records, business units, rules."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser, expect

from browser_support import NARROW, WIDE, api, open_tab, screenshot, signed_in, units
from support import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.slow]

UNITS = [
    {"name": "Finance", "contact_email": "finops@example.com", "soft_quota_units": 15_000},
    {"name": "Marketing", "soft_quota_units": 4_000},
    {"name": "Data Engineering", "business_unit_id": "data-eng"},
]
RULES = [
    {"account_pattern": "*@finance", "business_unit_id": "finance", "priority": 10},
    {"account_pattern": "*@marketing", "business_unit_id": "marketing"},
    {"extension_pattern": "hive-*", "business_unit_id": "data-eng", "description": "Migrations"},
]


@pytest.fixture(scope="module")
def charged(demo: ServerProcess) -> ServerProcess:
    """The demo server with three business units, three rules, and its history attributed."""
    with demo.client() as c:
        for unit in UNITS:
            assert c.post("/business-units", json=unit).status_code == 201
        for rule in RULES:
            assert c.post("/attribution/rules", json=rule).status_code == 201
        window = {"start": "2000-01-01T00:00:00Z", "end": "2100-01-01T00:00:00Z", "dry_run": False}
        assert c.post("/attribution/reapply", json=window).status_code == 200
    return demo


def money(amount: float) -> str:
    return "€" + f"{amount:,.2f}"


def test_report_shows_the_same_units_and_cost_as_the_api(
    charged: ServerProcess, browser: Browser
) -> None:
    report = api(charged, "/reports/allocation")
    assert {"Finance", "Marketing", "Data Engineering", "Unattributed"} == {
        r["business_unit_name"] for r in report["rows"]
    }
    for viewport, name in ((WIDE, "wide"), (NARROW, "narrow")):
        with signed_in(browser, charged.url, charged.admin_token, viewport) as page:
            open_tab(page, charged.url, "attribution/reports")
            rows = page.locator("[data-testid=report-table] tbody tr")
            expect(rows).to_have_count(len(report["rows"]))
            total = page.get_by_test_id("report-total-units")
            expect(total).to_have_text(units(report["total_units"]))
            expect(page.get_by_test_id("report-total-amount")).to_have_text(
                money(report["total_amount"])
            )
            for row in report["rows"]:
                key = row["business_unit_id"] or "unattributed"
                cells = page.locator(f'[data-testid=report-table] tr[data-business-unit="{key}"]')
                expect(cells.locator("th")).to_have_text(
                    row["business_unit_name"] or "Unattributed"
                )
                numbers = cells.locator("td.num")
                assert numbers.nth(0).inner_text() == units(row["units"])
                assert numbers.nth(2).inner_text() == money(row["amount"])
            finance = page.locator('[data-testid=report-table] tr[data-business-unit="finance"]')
            expect(finance.get_by_role("meter")).to_be_visible()
            screenshot(page, f"attribution-reports-{name}")


def test_report_exports_download_what_the_api_exports(
    charged: ServerProcess, browser: Browser
) -> None:
    with charged.client() as c:
        expected = c.get("/reports/allocation/export", params={"format": "csv"}).text
    with signed_in(browser, charged.url, charged.admin_token, WIDE) as page:
        open_tab(page, charged.url, "attribution/reports")
        page.wait_for_selector("[data-testid=report-table] tbody tr")
        with page.expect_download() as download:
            page.get_by_role("button", name="CSV", exact=True).click()
        path = download.value.path()
        assert download.value.suggested_filename.endswith(".csv")
        assert path.read_text().splitlines()[0] == expected.splitlines()[0]
        assert len(path.read_text().splitlines()) == len(expected.splitlines())


def test_grouping_by_extension_lists_every_extension_with_usage(
    charged: ServerProcess, browser: Browser
) -> None:
    report = api(charged, "/reports/allocation", group_by="extension")
    with signed_in(browser, charged.url, charged.admin_token, WIDE) as page:
        open_tab(page, charged.url, "attribution/reports")
        page.get_by_label("Group by").select_option("extension")
        rows = page.locator("[data-testid=report-table] tbody tr")
        expect(rows).to_have_count(len(report["rows"]))
        expect(rows.first.locator("th")).to_have_text(report["rows"][0]["extension_id"])


def test_records_assigned_by_hand_show_the_unit_and_manual_method(
    charged: ServerProcess, browser: Browser
) -> None:
    with signed_in(browser, charged.url, charged.admin_token, WIDE) as page:
        open_tab(page, charged.url, "attribution/records")
        page.wait_for_selector("[data-testid=records-table] tbody tr[data-record]")
        with page.expect_response(lambda r: "unattributed=true" in r.url):
            page.locator("form.filters").get_by_label("Business unit").select_option("unattributed")
        rows = page.locator("[data-testid=records-table] tbody tr")
        expect(rows.first.locator("td").nth(5)).to_have_text("Unattributed")
        picked = [rows.nth(i).get_attribute("data-record") for i in range(2)]
        for record_id in picked:
            page.get_by_label(f"Select record {record_id}").check()
        expect(page.get_by_test_id("assign-bar")).to_contain_text("2 selected")
        page.get_by_label("Assign to").select_option("marketing")
        page.get_by_role("button", name="Assign selected").click()
        expect(page.get_by_role("status").filter(has_text="Assigned")).to_contain_text(
            "Assigned 2 of 2 records"
        )
        page.locator("form.filters").get_by_label("Business unit").select_option("marketing")
        for record_id in picked:
            row = page.locator(f'[data-testid=records-table] tr[data-record="{record_id}"]')
            expect(row.locator(".pill")).to_have_text("Manual")
            expect(row.locator("td").nth(5)).to_have_text("Marketing")
        screenshot(page, "attribution-records-wide")
    for record_id in picked:
        record = api(charged, f"/usage/records/{record_id}")
        assert (record["business_unit_id"], record["attribution_method"]) == ("marketing", "manual")


def test_business_unit_created_in_the_drawer_and_deleted_after_confirmation(
    charged: ServerProcess, browser: Browser
) -> None:
    with signed_in(browser, charged.url, charged.admin_token, WIDE) as page:
        open_tab(page, charged.url, "attribution/business-units")
        page.get_by_role("button", name="New business unit").click()
        drawer = page.locator("dialog.drawer[open]")
        drawer.get_by_label("Name", exact=True).fill("Research Lab")
        drawer.get_by_label("Identifier").fill("research")
        drawer.get_by_label("Soft quota").fill("2500")
        drawer.get_by_role("button", name="Create business unit").click()
        row = page.locator('[data-testid=units-table] tr[data-business-unit="research"]')
        expect(row).to_contain_text("Research Lab")
        expect(row.get_by_role("meter")).to_have_attribute("aria-label", "0% of 2,500 units")
        created = api(charged, "/business-units/research")
        assert (created["name"], created["soft_quota_units"]) == ("Research Lab", 2500)
        screenshot(page, "attribution-business-units-wide")
        page.get_by_role("button", name="Delete Research Lab").click()
        page.get_by_role("button", name="Delete business unit").click()
        expect(row).to_have_count(0)
        expect(page.locator("p.note[role=status]")).to_contain_text("Deleted Research Lab")
    with charged.client() as c:
        assert c.get("/business-units/research").status_code == 404


def test_rules_are_listed_in_evaluation_order_and_a_match_can_be_tested(
    charged: ServerProcess, browser: Browser
) -> None:
    rules = api(charged, "/attribution/rules")
    with signed_in(browser, charged.url, charged.admin_token, WIDE) as page:
        open_tab(page, charged.url, "attribution/rules")
        rows = page.locator("[data-testid=rules-table] tbody tr")
        expect(rows).to_have_count(len(rules))
        assert [rows.nth(i).get_attribute("data-rule") for i in range(len(rules))] == [
            r["rule_id"] for r in rules
        ]
        page.get_by_label("Extension").fill("oracle-cdc")
        page.get_by_label("Account").fill("svc-etl@finance")
        page.get_by_role("button", name="Test", exact=True).click()
        expect(page.get_by_test_id("match-result")).to_contain_text("Finance")
        screenshot(page, "attribution-rules-wide")
    with signed_in(browser, charged.url, charged.admin_token, NARROW) as page:
        open_tab(page, charged.url, "attribution/rules")
        expect(page.locator("[data-testid=rules-table] tbody tr")).to_have_count(len(rules))
        screenshot(page, "attribution-rules-narrow")


def test_a_rule_added_in_the_drawer_is_previewed_then_applied_to_past_records(
    charged: ServerProcess, browser: Browser
) -> None:
    today = datetime.now(UTC).date()
    with signed_in(browser, charged.url, charged.admin_token, WIDE) as page:
        open_tab(page, charged.url, "attribution/rules")
        page.get_by_role("button", name="Add rule").click()
        drawer = page.locator("dialog.drawer[open]")
        drawer.get_by_label("Extension pattern").fill("kafka-*")
        drawer.get_by_label("Business unit").select_option("marketing")
        drawer.get_by_label("Priority").fill("50")
        drawer.get_by_role("button", name="Add rule").click()
        expect(page.locator("[data-testid=rules-table] tbody tr").first).to_contain_text("kafka-*")
        reapply = page.locator("section", has=page.locator("#reapply-heading"))
        reapply.get_by_label("From").fill((today - timedelta(days=40)).isoformat())
        reapply.get_by_label("To").fill(today.isoformat())
        reapply.get_by_role("button", name="Preview").click()
        result = page.get_by_test_id("reapply-result")
        expect(result).to_contain_text("Preview:")
        preview = result.inner_text()
        reapply.get_by_role("button", name=re.compile(r"Apply to \d+ records")).click()
        expect(result).to_contain_text("Applied:")
        screenshot(page, "attribution-rules-reapplied-wide")
    assert "would change" in preview
    kafka = api(charged, "/usage/records", extension_id="kafka-bridge", limit=200)["items"]
    auto = [r for r in kafka if r["attribution_method"] == "auto"]
    assert auto
    assert {r["business_unit_id"] for r in auto} == {"marketing"}
