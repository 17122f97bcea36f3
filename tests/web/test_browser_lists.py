# ruff: noqa: F811 (the fixtures of test_browser.py, imported, are test parameters here)
"""Lists and API docs in a real headless Chromium: sorting and searching the participants list,
choosing the page size, and Swagger UI loading with no request leaving the machine.
Screenshots: test-artifacts/screenshots/lists-*.png, api-docs-swagger.png."""

from __future__ import annotations

from urllib.parse import urlsplit

from tests.web.test_browser import browser, page, pytestmark, shot  # noqa: F401 (fixtures, marks)

LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


def first_column(page) -> list[str]:
    return [
        text.strip() for text in page.locator("table.list-table tbody tr td:first-child").all_inner_texts()
    ]


def test_sorting_and_searching_the_participants_list(page, make_participant):
    for domain, role in [("b.example.com", "DSO"), ("a.example.com", "AGR"), ("c.example.com", "DSO")]:
        make_participant(domain, role)
    page.goto("/participants/")
    assert first_column(page) == ["a.example.com", "b.example.com", "c.example.com"]
    page.click("th.orderable a:text-is('Domain')")
    page.wait_for_url("**sort=-domain**")
    assert first_column(page) == ["c.example.com", "b.example.com", "a.example.com"]
    assert page.get_attribute("th.orderable.desc", "aria-sort") == "descending"
    shot(page, "lists-participants-sorted")
    page.fill("input[name=q]", "b.exam")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**q=b.exam**")
    assert first_column(page) == ["b.example.com"]
    shot(page, "lists-participants-searched")


def test_page_size_and_columns_of_the_message_list(page, example):
    page.goto("/messages/")
    page.select_option("select[name=per_page]", "25")
    page.click("summary:text-is('Columns')")
    page.check("input[name=columns][value=message_id]")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**per_page=25**")
    headers = page.locator("table.list-table thead th").all_inner_texts()
    assert "MESSAGEID" in [header.strip().upper() for header in headers]
    page.check("input[data-auto-refresh]")
    assert page.evaluate("window.localStorage.getItem('cro-auto-refresh:/messages/')") == "on"
    shot(page, "lists-messages-columns")


def test_swagger_ui_loads_with_no_request_leaving_the_machine(page):
    outside = []

    def refuse_outside(route):
        if urlsplit(route.request.url).hostname in LOOPBACK or route.request.url.startswith(
            ("data:", "blob:")
        ):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", refuse_outside)
    page.goto("/api/docs/")
    page.wait_for_selector("#swagger-ui :text('CRO API')")
    page.wait_for_selector("#swagger-ui .opblock")
    page.locator("#swagger-ui .opblock-summary", has_text="/api/participants/").first.click()
    page.wait_for_selector("#swagger-ui .opblock.is-open")
    shot(page, "api-docs-swagger")
    assert outside == []
