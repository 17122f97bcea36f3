"""CSV import and export: per-row errors, the dry-run preview (the same service and rules as a
DSOPortfolioUpdate), the apply with its progress, and the export/import round trip."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from registry.models import CongestionPoint, CongestionPointVersion, CsvImport, Membership
from registry.services import csv_format, csv_io
from registry.services.participants import participant_bar
from registry.uftp import messages as m
from tests.web import builders

HEADER = (
    "congestion_point,cp_start,cp_end,mutex_offers_supported,day_ahead_redispatch_by,"
    "intraday_redispatch_by,connection,connection_start,connection_end\n"
)


def csv_text(*rows: str) -> str:
    return HEADER + "".join(f"{row}\n" for row in rows)


def upload(client, dso, text: str | bytes, name: str = "portfolio.csv"):
    data = text.encode() if isinstance(text, str) else text
    return client.post(
        reverse("web:import"),
        {"dso": dso.pk, "file": SimpleUploadedFile(name, data, content_type="text/csv")},
    )


def registry_state(dso) -> set[tuple]:
    return set(
        Membership.objects.current()
        .filter(congestion_point__dso=dso)
        .values_list("congestion_point__entity_address", "connection_address", "start_period", "end_period")
    )


# ------------------------------------------------------------------------------ parsing


def test_parse_builds_congestion_point_updates():
    parsed = csv_io.csv_portfolio_parse(
        text=csv_text(
            "ean.000000000001,2024-01-01,,true,DSO,AGR,ean.100000000001,2024-01-01,",
            "ean.000000000001,2024-01-01,,true,DSO,AGR,ean.100000000002,2024-01-01,2024-06-30",
            "ea1.2024-01.example.com:cp-7,2024-03-01,2024-12-31,FALSE,agr,,,,",
        )
    )
    assert parsed.row_count == 3 and parsed.connection_count == 2
    first, second = parsed.congestion_points
    assert first == m.CongestionPointUpdate(
        entity_address="ean.000000000001",
        start_period=dt.date(2024, 1, 1),
        end_period=None,
        mutex_offers_supported=True,
        day_ahead_redispatch_by=m.RedispatchBy.DSO,
        intraday_redispatch_by=m.RedispatchBy.AGR,
        connections=(
            m.ConnectionPeriod(entity_address="ean.100000000001", start_period=dt.date(2024, 1, 1)),
            m.ConnectionPeriod(
                entity_address="ean.100000000002",
                start_period=dt.date(2024, 1, 1),
                end_period=dt.date(2024, 6, 30),
            ),
        ),
    )
    assert second.connections == () and second.intraday_redispatch_by is None
    assert second.day_ahead_redispatch_by == m.RedispatchBy.AGR and second.mutex_offers_supported is False


def test_parse_reads_semicolons_and_a_byte_order_mark():
    text = csv_io.csv_text_decode(
        data=("\ufeff" + HEADER.replace(",", ";") + "ean.000000000001;2024-01-01;;true;DSO;;;;\n").encode()
    )
    assert csv_io.csv_portfolio_parse(text=text).congestion_points[0].entity_address == "ean.000000000001"


@pytest.mark.parametrize(
    ("row", "column", "message"),
    [
        ("ean.000000000001,2024-13-01,,true,DSO,AGR,,,", "cp_start", "'2024-13-01' is not a date"),
        ("ean.000000000001,01-01-2024,,true,DSO,AGR,,,", "cp_start", "'01-01-2024' is not a date"),
        ("ean.000000000001,,,true,DSO,AGR,,,", "cp_start", "is required"),
        (
            "ean.000000000001,2024-01-01,,maybe,DSO,AGR,,,",
            "mutex_offers_supported",
            "'maybe' is not true or false",
        ),
        (
            "ean.000000000001,2024-01-01,,true,CRO,AGR,,,",
            "day_ahead_redispatch_by",
            "'CRO' is not AGR or DSO",
        ),
        (
            "ean.000000000001,2024-01-01,,true,DSO,X,,,",
            "intraday_redispatch_by",
            "'X' is not AGR, DSO or empty",
        ),
        ("cp-1,2024-01-01,,true,DSO,AGR,,,", "congestion_point", "'cp-1' is not an entity address"),
        (
            "ean.000000000001,2024-01-01,,true,DSO,AGR,ean.12,2024-01-01,",
            "connection",
            "'ean.12' is not an entity",
        ),
        ("ean.000000000001,2024-01-01,,true,DSO,AGR,ean.100000000001,,", "connection_start", "is required"),
        ("ean.000000000001,2024-01-01,,true,DSO,AGR,,2024-01-01,", "connection_start", "connection is empty"),
        ("ean.000000000001,2024-01-01,,true,DSO", "", "has 5 fields, the header has 9"),
    ],
)
def test_parse_reports_each_bad_row(row, column, message):
    with pytest.raises(csv_format.CsvInvalid) as caught:
        csv_io.csv_portfolio_parse(text=csv_text("ean.000000000002,2024-01-01,,true,DSO,AGR,,,", row))
    errors = caught.value.row_errors
    assert len(errors) == 1
    assert (errors[0].line, errors[0].column) == (3, column)
    assert message in errors[0].message


def test_parse_collects_every_error_and_checks_cp_attributes_agree():
    with pytest.raises(csv_format.CsvInvalid) as caught:
        csv_io.csv_portfolio_parse(
            text=csv_text(
                "ean.000000000001,2024-01-01,,true,DSO,AGR,ean.100000000001,2024-01-01,",
                "ean.000000000001,2024-02-01,,true,DSO,AGR,ean.100000000002,2024-02-01,",
                "ean.000000000003,2024-01-01,,nope,DSO,AGR,ean.100000000003,someday,",
            )
        )
    assert [str(error) for error in caught.value.row_errors] == [
        "line 3, cp_start: differs from line 2 for congestion point ean.000000000001 (2024-02-01 here, 2024-01-01 there)",
        "line 4, mutex_offers_supported: 'nope' is not true or false",
        "line 4, connection_start: 'someday' is not a date (YYYY-MM-DD)",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        (HEADER, "the file has a header but no rows"),
        ("congestion_point,cp_start\nean.000000000001,2024-01-01\n", "missing column(s): cp_end"),
        (HEADER.strip() + ",colour\n", "unknown column(s): colour"),
    ],
)
def test_parse_refuses_a_file_that_is_no_portfolio(text, message):
    with pytest.raises(csv_format.CsvInvalid) as caught:
        csv_io.csv_portfolio_parse(text=text)
    assert message in str(caught.value.row_errors[0])


def test_decode_refuses_other_encodings():
    with pytest.raises(csv_format.CsvInvalid, match="not UTF-8"):
        csv_io.csv_text_decode(data="ean.000000000001,Zürich".encode("latin-1"))


# ------------------------------------------------------------------------------ upload and preview


def test_invalid_rows_are_listed_and_change_nothing(staff_client, example):
    before = registry_state(example.dso1)
    response = upload(
        staff_client,
        example.dso1,
        csv_text(
            "ean.000000000001,2024-01-01,,true,DSO,AGR,ean.100000000001,2024-01-01,",
            "ean.000000000001,2024-01-01,,yes please,DSO,AGR,ean.100000000002,2024-01-01,",
        ),
    )
    assert response.status_code == 400
    assert [(e.line, e.column) for e in response.context["row_errors"]] == [(3, "mutex_offers_supported")]
    content = response.content.decode()
    assert "data-row-errors" in content and "&#x27;yes please&#x27; is not true or false" in content
    assert not CsvImport.objects.exists()
    assert registry_state(example.dso1) == before


def test_preview_lists_every_rejection_of_the_rules(staff_client, example):
    before = registry_state(example.dso1)
    response = upload(
        staff_client,
        example.dso1,
        csv_text(
            # owned by dso2
            "ean.000000000002,2024-01-01,,true,DSO,AGR,ean.100000000060,2024-01-01,",
            # ...004 is in dso2's CP in 2024
            "ean.000000000006,2024-01-01,,true,DSO,AGR,ean.100000000004,2024-06-01,",
            # connection starting before its CP's Period (an end after the CP's is clipped, cro-rules
            # §4, a start before it is not), and a CP that ends before it starts
            "ean.000000000007,2024-02-01,2024-06-30,true,DSO,AGR,ean.100000000070,2024-01-01,",
            "ean.000000000008,2024-06-01,2024-01-01,true,DSO,,,,",
            # one connection listed twice in one CP
            "ean.000000000009,2024-01-01,,true,DSO,,ean.100000000090,2024-01-01,",
            "ean.000000000009,2024-01-01,,true,DSO,,ean.100000000090,2024-01-01,",
        ),
    )
    job = CsvImport.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "web:import-detail", kwargs={"pk": job.pk}
    )
    assert job.status == "previewed" and not job.preview_accepted
    reasons = job.preview_reasons
    assert "Unauthorized: congestion point [ean.000000000002] is owned by another DSO" in reasons
    assert "Connection conflict: [ean.100000000004] at [ean.000000000002]" in reasons
    assert any(r.startswith("Period out of bounds: connection [ean.100000000070]") for r in reasons)
    assert any(r.startswith("Period out of bounds: congestion point [ean.000000000008]") for r in reasons)
    assert any(r.startswith("Duplicate connection: connection [ean.100000000090]") for r in reasons)
    page = staff_client.get(response["Location"]).content.decode()
    assert "data-apply" not in page
    assert "Connection conflict: [ean.100000000004] at [ean.000000000002]" in page
    # A dry run: nothing changed, not even the CPs the update would have created.
    assert registry_state(example.dso1) == before
    assert not CongestionPoint.objects.filter(entity_address="ean.000000000006").exists()
    # And it cannot be applied.
    response = staff_client.post(reverse("web:import-apply", kwargs={"pk": job.pk}), follow=True)
    assert "rejected in the preview" in response.content.decode()
    job.refresh_from_db()
    assert job.status == "previewed"


def test_preview_shows_the_changes_then_apply_changes_the_registry(
    staff_client, example, inline_csv_import, django_capture_on_commit_callbacks
):
    text = csv_text(
        "ean.000000000001,2024-01-01,,true,DSO,AGR,ean.100000000001,2024-01-01,",
        "ean.000000000001,2024-01-01,,true,DSO,AGR,ean.100000000003,2024-07-01,",
        "ean.000000000005,2025-01-01,,false,AGR,,ean.100000000050,2025-01-01,2025-12-31",
    )
    before = registry_state(example.dso1)
    response = upload(staff_client, example.dso1, text, name="dso1.csv")
    job = CsvImport.objects.get()
    assert job.preview_accepted and job.preview_reasons == []
    assert (job.row_count, job.congestion_point_count, job.connection_count, job.file_name) == (
        3,
        2,
        3,
        "dso1.csv",
    )
    assert job.preview_changes == [
        "connection [ean.100000000002] in congestion point [ean.000000000001]: removed (was 2024-01-01..2024-06-30)",
        "congestion point [ean.000000000005]: registered 2025-01-01..(open), MutexOffersSupported=false, "
        "DayAheadRedispatchBy=AGR, IntradayRedispatchBy=-",
        "connection [ean.100000000050] in congestion point [ean.000000000005]: added 2025-01-01..2025-12-31",
    ]
    page = staff_client.get(response["Location"]).content.decode()
    assert "Apply 3 changes" in page
    assert registry_state(example.dso1) == before  # the preview changed nothing

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(reverse("web:import-apply", kwargs={"pk": job.pk}))
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == "applied" and job.progress == 100 and job.result_changes == job.preview_changes
    assert registry_state(example.dso1) == {
        (builders.CP1, "ean.100000000001", dt.date(2024, 1, 1), None),
        (builders.CP1, "ean.100000000003", dt.date(2024, 7, 1), None),
        ("ean.000000000005", "ean.100000000050", dt.date(2025, 1, 1), dt.date(2025, 12, 31)),
    }
    created = Membership.objects.current().get(connection_address="ean.100000000050")
    assert (created.source, created.recorded_by) == ("csv", None)
    cp5 = CongestionPoint.objects.get(entity_address="ean.000000000005")
    assert cp5.dso == example.dso1 and cp5.last_time_stamp is not None
    assert CongestionPointVersion.objects.current().get(congestion_point=cp5).day_ahead_redispatch_by == "AGR"
    # The removed membership is superseded, not forgotten.
    assert Membership.objects.filter(
        connection_address="ean.100000000002", superseded_at__isnull=False
    ).exists()

    status = staff_client.get(reverse("web:import-status", kwargs={"pk": job.pk})).json()
    assert status | {"url": None} == {
        "id": job.pk,
        "status": "applied",
        "status_display": "Applied",
        "badge_class": "applied",
        "progress": 100,
        "phase": "applied",
        "final": True,
        "error": "",
        "url": None,
    }
    # Applying twice does nothing more.
    response = staff_client.post(reverse("web:import-apply", kwargs={"pk": job.pk}), follow=True)
    assert "applied already" in response.content.decode()


def test_apply_is_queued_for_a_worker_and_shows_progress(
    staff_client, example, monkeypatch, django_capture_on_commit_callbacks
):
    """Without the inline setting the apply goes to Celery; the page polls the status until done."""
    from registry import tasks

    queued = []
    monkeypatch.setattr(tasks.apply_csv_import, "apply_async", lambda args, *_, **__: queued.append(args[0]))
    upload(staff_client, example.dso2, csv_text("ean.000000000002,2024-03-01,2024-12-31,false,AGR,,,,"))
    job = CsvImport.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(reverse("web:import-apply", kwargs={"pk": job.pk}))
    job.refresh_from_db()
    assert response.status_code == 302
    assert queued == [job.pk]
    assert job.status == "queued" and job.progress == 5
    page = staff_client.get(reverse("web:import-detail", kwargs={"pk": job.pk})).content.decode()
    assert f'data-progress-url="/import/{job.pk}/status/"' in page
    assert staff_client.get(reverse("web:import-status", kwargs={"pk": job.pk})).json()["final"] is False


def test_apply_task_applies_once(example):
    job = csv_io.csv_import_preview(
        dso=example.dso2, data=csv_text("ean.000000000002,2024-03-01,2024-12-31,false,AGR,,,,").encode()
    )
    csv_io.csv_import_queue(csv_import=job)  # on_commit dispatch is not run inside the test transaction
    applied = csv_io.csv_import_apply(csv_import_pk=job.pk)
    assert applied.status == "applied"
    assert applied.result_changes == [
        "connection [ean.100000000004] in congestion point [ean.000000000002]: removed (was 2024-03-01..2024-12-31)"
    ]
    assert csv_io.csv_import_apply(csv_import_pk=job.pk) is None  # a redelivered task does nothing
    assert not Membership.objects.current().filter(congestion_point__entity_address=builders.CP2).exists()


def test_apply_is_rejected_when_the_registry_changed_since_the_preview(example, make_participant):
    job = csv_io.csv_import_preview(
        dso=example.dso1,
        data=csv_text("ean.000000000003,2024-01-01,,true,DSO,AGR,ean.100000000077,2024-01-01,").encode(),
    )
    assert job.preview_accepted
    # Meanwhile dso2 puts ...077 in one of its CPs.
    builders.receive_and_process(
        builders.factories.dso_update(
            sender=builders.DSO2,
            congestion_points=[
                builders.factories.congestion_point(
                    "ean.000000000004",
                    "2024-01-01",
                    connections=[builders.factories.connection("ean.100000000077", "2024-01-01")],
                )
            ],
        ),
        role="DSO",
        private_key=example.keys[builders.DSO2],
    )
    csv_io.csv_import_queue(csv_import=job)
    job = csv_io.csv_import_apply(csv_import_pk=job.pk)
    assert job.status == "rejected"
    assert job.result_reasons == ["Connection conflict: [ean.100000000077] at [ean.000000000004]"]
    assert not CongestionPoint.objects.filter(entity_address="ean.000000000003").exists()


def test_a_barred_dso_cannot_be_imported_for(staff_client, example):
    participant_bar(participant=example.dso1)
    upload(staff_client, example.dso1, csv_text("ean.000000000001,2024-01-01,,true,DSO,AGR,,,"))
    job = CsvImport.objects.get()
    assert not job.preview_accepted
    assert job.preview_reasons[0].startswith("Barred Sender")


def test_only_a_dso_can_be_chosen(staff_client, example):
    response = upload(staff_client, example.agr_a, csv_text("ean.000000000001,2024-01-01,,true,DSO,AGR,,,"))
    assert response.status_code == 400
    assert "Select a valid choice" in response.context["form"].errors["dso"][0]


def test_export_then_import_changes_nothing(
    staff_client, example, inline_csv_import, django_capture_on_commit_callbacks
):
    exported = b"".join(
        staff_client.get(reverse("web:registry-export"), {"dso": example.dso1.pk}).streaming_content
    )
    before = registry_state(example.dso1)
    upload(staff_client, example.dso1, exported)
    job = CsvImport.objects.get()
    assert job.preview_accepted and job.preview_changes == []
    assert (
        "Nothing would change"
        in staff_client.get(reverse("web:import-detail", kwargs={"pk": job.pk})).content.decode()
    )
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(reverse("web:import-apply", kwargs={"pk": job.pk}))
    job.refresh_from_db()
    assert job.status == "applied" and job.result_changes == []
    assert registry_state(example.dso1) == before


def test_import_page_lists_recent_imports(staff_client, example):
    upload(staff_client, example.dso1, csv_text("ean.000000000001,2024-01-01,,true,DSO,AGR,,,"), name="a.csv")
    response = staff_client.get(reverse("web:import"))
    assert [job.file_name for job in response.context["records"]] == ["a.csv"]
    assert "a.csv" in response.content.decode()


def test_apply_runs_in_the_web_process_when_the_broker_is_down(staff_client, example, monkeypatch):
    from registry import tasks

    def broker_down(*args, **kwargs):
        raise ConnectionRefusedError("no broker")

    monkeypatch.setattr(tasks.apply_csv_import, "apply_async", broker_down)
    job = csv_io.csv_import_preview(
        dso=example.dso2, data=csv_text("ean.000000000002,2024-03-01,2024-12-31,false,AGR,,,,").encode()
    )
    CsvImport.objects.filter(pk=job.pk).update(status="queued")
    assert csv_io.csv_import_dispatch(csv_import_pk=job.pk) is False
    job.refresh_from_db()
    assert job.status == "applied"


def test_an_unexpected_error_fails_the_import_and_changes_nothing(example, monkeypatch):
    from registry.services import portfolio

    job = csv_io.csv_import_preview(
        dso=example.dso2, data=csv_text("ean.000000000002,2024-03-01,2024-12-31,false,AGR,,,,").encode()
    )
    csv_io.csv_import_queue(csv_import=job)
    before = registry_state(example.dso2)

    def explode(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(portfolio, "dso_portfolio_update_apply", explode)
    job = csv_io.csv_import_apply(csv_import_pk=job.pk)
    assert (job.status, job.progress, job.error) == ("failed", 100, "RuntimeError: database went away")
    assert registry_state(example.dso2) == before
