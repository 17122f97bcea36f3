# ruff: noqa: F811 (the fixtures of test_browser.py, imported, are test parameters here)
"""The registry and CSV imports tables in a real headless Chromium: sorting by a header click,
searching, the page size and the columns choice (issue 13), as on the participants list.
Screenshots: test-artifacts/screenshots/tables-*.png."""

from __future__ import annotations

from registry.models import CsvImport
from tests.web import builders
from tests.web.test_browser import browser, page, pytestmark, shot  # noqa: F401 (fixtures, marks)


def first_column(page) -> list[str]:
    return [
        text.strip() for text in page.locator("table.list-table tbody tr td:first-child").all_inner_texts()
    ]


def headers(page) -> list[str]:
    return [text.strip().upper() for text in page.locator("table.list-table thead th").all_inner_texts()]


def test_sorting_and_searching_the_registry_table(page, make_participant):
    dso_b, _ = make_participant("b-dso.example.com", "DSO")
    dso_a, _ = make_participant("a-dso.example.com", "DSO")
    agr, _ = make_participant("agr.example.com", "AGR")
    builders.bulk_registry(dso=dso_b, agr=agr, congestion_points=20, connections_per_cp=12, cp_prefix="2")
    builders.bulk_registry(
        dso=dso_a, agr=agr, congestion_points=20, connections_per_cp=3, cp_prefix="1", connection_prefix="7"
    )
    page.goto("/registry/")
    # Per DSO, then by address: a-dso's CPs (ean.1…) first; 25 a page.
    listed = first_column(page)
    assert len(listed) == 25 and listed[0] == "ean.100000000000" and listed[20] == "ean.200000000000"
    assert page.get_attribute("th.orderable.asc", "aria-sort") == "ascending"
    # Only the CP's own columns sort: the connections column is plain text.
    assert page.locator("th.orderable").count() == 2
    page.click("th.orderable a:text-is('Congestion point')")
    page.wait_for_url("**sort=entity_address**")
    page.click("th.orderable a:text-is('Congestion point')")
    page.wait_for_url("**sort=-entity_address**")
    assert first_column(page)[:2] == ["ean.200000000019", "ean.200000000018"]
    assert page.get_attribute("th.orderable.desc", "aria-sort") == "descending"
    page.click("summary:text-is('12')")  # the first CP's connections open under their count
    page.wait_for_selector("ul.connections li:has-text('… and 2 more')")
    shot(page, "tables-registry-sorted")

    # A connection by its whole address (the "ean." may be left out): the CP holding it.
    page.fill("input[name=q]", "800003000005")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**q=800003000005**")
    assert first_column(page) == ["ean.200000000003"]
    assert "sort=-entity_address" in page.url  # the search keeps the sort
    # Part of a CP's address, with 100 rows a page and no Mutex column.
    page.fill("input[name=q]", "ean.10000000001")
    page.select_option("select[name=per_page]", "100")
    page.click("summary:text-is('Columns')")
    page.uncheck("input[name=columns][value=mutex]")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**per_page=100**")
    assert len(first_column(page)) == 10
    assert "MUTEX" not in headers(page) and "DSO" in headers(page)
    shot(page, "tables-registry-searched")
    # The export link takes the selection, not the table's own parameters.
    export = page.get_attribute("a[data-export]", "href")
    assert "q=ean.10000000001" in export and "sort=" not in export and "per_page" not in export


def test_sorting_and_searching_the_imports_table(page, make_participant):
    dso_a, _ = make_participant("a-dso.example.com", "DSO")
    dso_b, _ = make_participant("b-dso.example.com", "DSO")
    for name, dso, rows, status in [
        ("north.csv", dso_a, 120, CsvImport.Status.APPLIED),
        ("south.csv", dso_b, 7, CsvImport.Status.FAILED),
        ("east.csv", dso_a, 3000, CsvImport.Status.PREVIEWED),
    ]:
        CsvImport.objects.create(
            dso=dso, file_name=name, csv_text="", row_count=rows, connection_count=rows, status=status
        )
    page.goto("/import/")
    assert first_column(page)[0].startswith("20")  # newest first: the upload times
    assert [cell.strip() for cell in page.locator("table.list-table td:nth-child(3)").all_inner_texts()] == [
        "east.csv",
        "south.csv",
        "north.csv",
    ]
    page.click("th.orderable a:text-is('Rows')")
    page.wait_for_url("**sort=row_count**")
    assert [cell.strip() for cell in page.locator("table.list-table td:nth-child(4)").all_inner_texts()] == [
        "7",
        "120",
        "3000",
    ]
    shot(page, "tables-imports-sorted")
    page.fill("input[name=q]", "north")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**q=north**")
    assert [cell.strip() for cell in page.locator("table.list-table td:nth-child(3)").all_inner_texts()] == [
        "north.csv"
    ]
    page.fill("input[name=q]", "")
    page.select_option("select[name=status]", "failed")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**status=failed**")
    assert [cell.strip() for cell in page.locator("table.list-table td:nth-child(3)").all_inner_texts()] == [
        "south.csv"
    ]
    shot(page, "tables-imports-searched")
