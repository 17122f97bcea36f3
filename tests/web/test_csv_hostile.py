"""Hostile CSV imports (issue 15, items 4 and 12): a NUL or another control character in a cell
is a clear row error, never a 500, and nothing is stored."""

from __future__ import annotations

import pytest

from registry.models import CsvImport
from registry.services import csv_format, csv_io
from tests.web.test_csv_import import csv_text, registry_state, upload

GOOD_ROW = "ean.000000000001,2024-01-01,,true,DSO,AGR,ean.100000000001,2024-01-01,"


@pytest.mark.parametrize(
    ("row", "code_point"),
    [
        ("ean.000000000001,2024-01-01,,true,DSO,AGR,ean.1000000000\x0001,2024-01-01,", "U+0000"),
        ("ea1.2024-01.example.com:cp\x01,2024-01-01,,true,DSO,AGR,,,", "U+0001"),
        ("ea1.2024-01.example.com:cp\x1b[31m,2024-01-01,,true,DSO,AGR,,,", "U+001B"),
        ("ea1.2024-01.example.com:cp,2024-01-01,,true,DSO,AGR,ea1.2024-01.x.com:\x7fc,2024-01-01,", "U+007F"),
        ("ea1.2024-01.example.com:c\x85p,2024-01-01,,true,DSO,AGR,,,", "U+0085"),
        ("ea1.2024-01.example.com:c\x1ep,2024-01-01,,true,DSO,AGR,,,", "U+001E"),
    ],
)
def test_upload_with_a_control_character_is_a_row_error_and_stores_nothing(
    staff_client, example, row, code_point
):
    before = registry_state(example.dso1)
    response = upload(staff_client, example.dso1, csv_text(GOOD_ROW, row))
    assert response.status_code == 400
    errors = response.context["row_errors"]
    assert [error.line for error in errors] == [3]
    assert code_point in errors[0].message
    assert not CsvImport.objects.exists()
    assert registry_state(example.dso1) == before


def test_parse_refuses_an_entity_address_with_a_control_character():
    with pytest.raises(csv_format.CsvInvalid) as caught:
        csv_io.csv_portfolio_parse(
            text=csv_text("ea1.2024-01.example.com:cp\x07,2024-01-01,,true,DSO,AGR,,,")
        )
    assert "U+0007" in str(caught.value.row_errors[0])


def test_tabs_and_line_ends_are_not_control_characters_here():
    parsed = csv_io.csv_portfolio_parse(text=csv_text(GOOD_ROW + "\t").replace("\n", "\r\n"))
    assert parsed.row_count == 1
