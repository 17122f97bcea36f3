"""The CSV import preview as a diff with counts and CSV line numbers, its badges and status, the
sample file, the column list on the import card and the DSO column of an every-DSO export."""

from __future__ import annotations

import pytest
from django.urls import reverse

from registry.models import CsvImport
from registry.services import csv_io, csv_review
from tests.web.test_csv_import import HEADER, csv_text, upload


def test_the_preview_is_a_diff_table_with_counts_and_csv_lines(staff_client, example):
    response = upload(
        staff_client,
        example.dso1,
        csv_text(
            "ean.000000000001,2024-01-01,,true,DSO,AGR,ean.100000000001,2024-01-01,",  # unchanged
            "ean.000000000001,2024-01-01,,true,DSO,AGR,ean.100000000003,2024-08-01,",  # changed
            "ean.000000000005,2025-01-01,,false,AGR,,ean.100000000050,2025-01-01,",  # new CP, new
        ),
    )
    page = staff_client.get(response["Location"])
    review = page.context["review"]
    assert (review.connections.new, review.connections.changed, review.connections.removed) == (1, 1, 1)
    assert review.connections.unchanged == 1
    assert (review.congestion_points.new, review.congestion_points.changed) == (1, 0)
    rows = {(row.kind, row.address): row for row in review.rows}
    assert rows[("changed", "ean.100000000003")].lines == [3]
    assert rows[("changed", "ean.100000000003")].was == "2024-07-01..(open)"
    assert rows[("new", "ean.100000000050")].lines == [4]
    assert rows[("new", "ean.000000000005")].entity == "congestion point"
    assert rows[("removed", "ean.100000000002")].lines == []  # not in the file
    content = page.content.decode()
    assert content.count('data-diff="') == 4 and "data-summary" in content
    assert "<" + "li>" not in content.split("data-changes", 1)[1]  # a table, not a log
    only_removed = staff_client.get(response["Location"], {"show": "removed"}).context["changes"]
    assert [row.address for row in only_removed] == ["ean.100000000002"]


def test_rejections_in_the_preview_carry_their_csv_lines(staff_client, example):
    response = upload(
        staff_client,
        example.dso1,
        csv_text(
            "ean.000000000002,2024-01-01,,true,DSO,AGR,ean.100000000060,2024-01-01,",  # dso2's CP
            "ean.000000000006,2024-01-01,,true,DSO,AGR,ean.100000000004,2024-06-01,",  # conflict
            "ean.000000000009,2024-01-01,,true,DSO,,ean.100000000090,2024-01-01,",
            "ean.000000000009,2024-01-01,,true,DSO,,ean.100000000090,2024-01-01,",  # twice
        ),
    )
    page = staff_client.get(response["Location"])
    lines = {rejection.reason.split(":")[0]: rejection.lines for rejection in page.context["reasons"]}
    assert lines == {"Unauthorized": [2], "Connection conflict": [3], "Duplicate connection": [4, 5]}
    content = page.content.decode()
    assert '<span class="badge rejected" data-status="previewed" data-status-badge>Rejected</span>' in content
    assert ">Previewed<" not in content
    assert "data-summary" not in content  # a rejected update has no changes to count
    home = staff_client.get(reverse("web:import")).content.decode()
    assert '<span class="badge rejected">Rejected</span>' in home


def test_an_accepted_preview_keeps_the_previewed_badge(staff_client, example):
    response = upload(
        staff_client, example.dso2, csv_text("ean.000000000002,2024-03-01,2024-12-31,false,AGR,,,,")
    )
    assert "data-status-badge>Previewed</span>" in staff_client.get(response["Location"]).content.decode()


def test_a_queued_import_says_applying_with_the_bars_percentage(
    staff_client, example, monkeypatch, django_capture_on_commit_callbacks
):
    from registry import tasks

    monkeypatch.setattr(tasks.apply_csv_import, "apply_async", lambda *_, **__: None)
    upload(staff_client, example.dso2, csv_text("ean.000000000002,2024-03-01,2024-12-31,false,AGR,,,,"))
    job = CsvImport.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(reverse("web:import-apply", kwargs={"pk": job.pk}))
    CsvImport.objects.filter(pk=job.pk).update(status="applying", progress=30)
    page = staff_client.get(reverse("web:import-detail", kwargs={"pk": job.pk})).content.decode()
    assert "data-status-badge>Applying… 30%</span>" in page and "Queued" not in page
    assert 'src="/static/web/imports.js"' in page
    status = staff_client.get(reverse("web:import-status", kwargs={"pk": job.pk})).json()
    assert (status["status_display"], status["badge_class"]) == ("Applying… 30%", "applying")


def test_the_sample_file_downloads_and_previews_cleanly(staff_client, example):
    response = staff_client.get(reverse("web:import-sample"))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    sample = response.content.decode()
    assert sample.splitlines()[0] == HEADER.strip()
    job = csv_io.csv_import_preview(dso=example.dso1, data=sample.encode())
    assert job.preview_accepted and job.connection_count == 2 and job.congestion_point_count == 2


def test_the_columns_are_listed_on_the_import_card(staff_client):
    content = staff_client.get(reverse("web:import")).content.decode()
    import_card, export_card = content.split("<h2>Export</h2>")
    assert "data-columns" in import_card and "data-sample" in import_card
    assert "congestion_point, cp_start" not in export_card


def test_an_every_dso_export_names_the_dso_and_goes_back_in_for_one_dso(staff_client, example):
    exported = b"".join(staff_client.get(reverse("web:registry-export")).streaming_content).decode()
    assert exported.splitlines()[0].startswith("dso,congestion_point,")
    # Back in for dso1 as it is: dso2's row is refused with its line, nothing else.
    job = csv_io.csv_import_preview(dso=example.dso1, data=exported.encode())
    assert job.preview_reasons[0] == "Other DSO: lines 5 belong to dso2.example.com, not dso1.example.com"
    only_dso1 = "\r\n".join(line for line in exported.splitlines() if "dso2.example.com" not in line)
    job = csv_io.csv_import_preview(dso=example.dso1, data=only_dso1.encode())
    assert job.preview_accepted and job.preview_changes == []


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("Duplicate connection: connection [ean.2] in congestion point [ean.1] is listed twice", [3]),
        ("Connection conflict: [ean.2] at [ean.9]", [3, 4]),
        ("Unauthorized: congestion point [ean.1] is owned by another DSO", [2, 3]),
        ("Barred Sender: x is barred; reactivate it first", []),
    ],
)
def test_reason_lines(reason, expected):
    text = csv_text(
        "ean.1,2024-01-01,,true,DSO,AGR,,,",
        "ean.1,2024-01-01,,true,DSO,AGR,ean.2,2024-01-01,",
        "ean.7,2024-01-01,,true,DSO,AGR,ean.2,2024-01-01,",
    )
    assert csv_review.reason_lines(reason=reason, lines=csv_review.csv_lines_index(text=text)) == expected


def test_an_unknown_change_text_is_shown_as_it_is():
    row = csv_review.diff_row_from_change(
        change="something new", lines=csv_review.csv_lines_index(text=HEADER)
    )
    assert (row.kind, row.now) == ("other", "something new")
