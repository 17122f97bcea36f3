"""In a real Chromium: the CSV import's diff preview with CSV line numbers, the congestion point
page with the AGR of each connection and its compact timeline, and the DSO portfolio on a day.
Screenshots go to test-artifacts/screenshots/ (30-...)."""

from __future__ import annotations

import re

from registry.models import CongestionPoint
from registry.services import csv_io
from tests.web import builders, test_browser
from tests.web.test_browser import CSV_CONFLICT, CSV_GOOD, _upload, shot

# The browser, the logged-in page (failing on any CSP violation) and the skip without Chromium.
browser = test_browser.browser
page = test_browser.page
pytestmark = test_browser.pytestmark

RED_BADGE = re.compile(r"rgb\(\s*1[5-9][0-9]|rgb\(\s*2[0-5][0-9]")


def test_csv_preview_is_a_diff_with_line_numbers(page, example):
    _upload(page, example.dso1, CSV_CONFLICT, "conflict.csv")
    badge = page.locator("[data-status-badge]")
    assert badge.inner_text() == "Rejected"
    assert "rejected" in (badge.get_attribute("class") or "")
    assert RED_BADGE.match(badge.evaluate("element => getComputedStyle(element).color"))
    rows = page.locator("[data-rejection]")
    lines = {
        rows.nth(i).locator("td").nth(1).inner_text().split(":")[0]: rows.nth(i)
        .locator("[data-lines]")
        .inner_text()
        for i in range(rows.count())
    }
    assert lines == {"Unauthorized": "2", "Connection conflict": "3"}
    shot(page, "30-import-preview-rejected-with-lines")

    _upload(page, example.dso1, CSV_GOOD, "good.csv")
    assert page.inner_text("[data-status-badge]") == "Previewed"
    summary = page.locator("[data-summary-row=connections] td")
    assert [summary.nth(i).inner_text() for i in range(4)] == ["1", "0", "1", "2"]
    new_rows = page.locator("[data-diff=new]")
    assert new_rows.count() == 2
    assert "4" in new_rows.nth(1).locator("td").nth(1).inner_text()  # the CSV line of ...050
    assert "ean.100000000002" in page.inner_text("[data-diff=removed]")
    shot(page, "31-import-preview-diff")
    page.click("a.btn:has-text('removed')")
    page.wait_for_url(re.compile(r"show=removed"))
    assert page.locator("[data-diff]").count() == 1


def test_congestion_point_page_shows_the_agrs_and_a_compact_timeline(page, example, make_participant):
    cp = CongestionPoint.objects.get(entity_address=builders.CP1)
    page.goto(f"/registry/congestion-points/{cp.pk}/")
    agrs = page.locator("[data-agrs]")
    assert [agrs.nth(i).inner_text().split()[0] for i in range(agrs.count())] == [
        builders.AGR_A,
        builders.AGR_A,
        builders.AGR_B,
    ]
    shot(page, "32-congestion-point-agrs")

    # 400 connections with the same period: one timeline row, not a wall of bars.
    header = CSV_GOOD.splitlines()[0]
    rows = [f"ean.000000000042,2024-01-01,,true,DSO,AGR,ean.2000000{n:05d},2024-01-01," for n in range(400)]
    job = csv_io.csv_import_preview(dso=example.dso2, data="\n".join([header, *rows]).encode())
    csv_io.csv_import_queue(csv_import=job)
    csv_io.csv_import_apply(csv_import_pk=job.pk)
    big = CongestionPoint.objects.get(entity_address="ean.000000000042")
    page.goto(f"/registry/congestion-points/{big.pk}/")
    assert page.locator("[data-timeline-row]").count() == 2
    assert page.locator("[data-timeline-row='400']").text_content().startswith("400 connections")
    assert page.locator("svg.timeline").bounding_box()["height"] < 300
    assert page.locator("svg.timeline text.axis-bottom").count() >= 4
    assert page.locator(f"a[href='/import/{job.pk}/'][data-csv-import]").count() > 0
    shot(page, "33-congestion-point-400-connections")


def test_dso_portfolio_on_a_day(page, example):
    page.goto("/registry/agr-portfolio/")
    page.click("a.btn:has-text('DSO portfolio on a day')")
    page.wait_for_url(re.compile(r"/registry/dso-portfolio/$"))
    page.select_option("select[name=dso]", str(example.dso1.pk))
    page.fill("input[name=day]", "2024-07-15")
    page.click("button:has-text('Show')")
    page.wait_for_url(re.compile(r"dso="))
    assert "1 congestion point, 2 connections" in page.inner_text("h2")
    connections = page.inner_text("[data-dso-portfolio-connections] tbody")
    assert "ean.100000000001" in connections and builders.AGR_A in connections
    assert "ean.100000000003" in connections and builders.AGR_B in connections
    shot(page, "34-dso-portfolio-on-a-day")
