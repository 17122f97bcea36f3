"""The CSV import endpoint: upload -> preview (nothing changes) -> apply, with the web's services
and the operator role."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from registry.models import CsvImport, Membership

HEADER = (
    "congestion_point,cp_start,cp_end,mutex_offers_supported,day_ahead_redispatch_by,"
    "intraday_redispatch_by,connection,connection_start,connection_end\n"
)
URL = "/api/csv-imports/"


def csv_file(*rows: str) -> SimpleUploadedFile:
    return SimpleUploadedFile("p.csv", (HEADER + "".join(f"{row}\n" for row in rows)).encode(), "text/csv")


@pytest.fixture
def operator_client(make_role_user, client_for):
    return client_for(make_role_user("operator"))


def test_upload_previews_then_apply_changes_the_registry(
    registry, operator_client, settings, django_capture_on_commit_callbacks
):
    settings.CRO_CSV_IMPORT_INLINE = True
    response = operator_client.post(
        URL,
        {
            "dso": registry.dso1.pk,
            "file": csv_file("ean.000000000007,2024-01-01,,true,DSO,AGR,ean.100000000077,2024-01-01,"),
        },
        format="multipart",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["status_display"], body["preview_accepted"]) == (
        "previewed",
        "Previewed",
        True,
    )
    assert body["summary"]["connections"] == {"new": 1, "changed": 0, "removed": 0, "unchanged": 0}
    assert body["summary"]["congestion_points"]["new"] == 1
    assert not Membership.objects.filter(connection_address="ean.100000000077").exists()  # a dry run

    changes = operator_client.get(f"{URL}{body['id']}/changes/", {"kind": "new"}).json()
    assert changes["count"] == 2
    assert {(row["entity"], row["address"], tuple(row["lines"])) for row in changes["results"]} == {
        ("congestion point", "ean.000000000007", (2,)),
        ("connection", "ean.100000000077", (2,)),
    }
    # A kind outside the enum, the empty one included, is a 400, not the unfiltered list.
    for bad_kind in ("", "bogus"):
        refused = operator_client.get(f"{URL}{body['id']}/changes/", {"kind": bad_kind})
        assert refused.status_code == 400, (bad_kind, refused.content)
        assert "kind" in refused.json()
    with django_capture_on_commit_callbacks(execute=True):
        applied = operator_client.post(f"{URL}{body['id']}/apply/")
    assert applied.status_code == 202, applied.content
    assert operator_client.get(f"{URL}{body['id']}/").json()["status"] == "applied"
    assert Membership.objects.current().filter(connection_address="ean.100000000077", source="csv").exists()
    again = operator_client.post(f"{URL}{body['id']}/apply/")
    assert again.status_code == 409 and "applied already" in again.content.decode()


def test_a_rejected_preview_names_its_csv_lines_and_cannot_be_applied(registry, operator_client):
    response = operator_client.post(
        URL,
        {
            "dso": registry.dso1.pk,
            "file": csv_file(
                "ean.000000000009,2024-01-01,,true,DSO,,ean.100000000090,2024-01-01,",
                "ean.000000000009,2024-01-01,,true,DSO,,ean.100000000090,2024-01-01,",
            ),
        },
        format="multipart",
    )
    body = response.json()
    assert response.status_code == 201 and body["status_display"] == "Rejected"
    assert [rejection["lines"] for rejection in body["rejections"]] == [[2, 3]]
    refused = operator_client.post(f"{URL}{body['id']}/apply/")
    assert refused.status_code == 409 and "rejected in the preview" in refused.content.decode()


def test_an_unreadable_file_gives_row_errors_and_stores_nothing(registry, operator_client):
    response = operator_client.post(
        URL,
        {"dso": registry.dso1.pk, "file": csv_file("ean.000000000001,not-a-date,,true,DSO,AGR,,,")},
        format="multipart",
    )
    assert response.status_code == 400
    assert response.json()["row_errors"] == [
        {"line": 2, "column": "cp_start", "message": "'not-a-date' is not a date (YYYY-MM-DD)"}
    ]
    assert not CsvImport.objects.exists()
    not_a_dso = operator_client.post(URL, {"dso": registry.agr_a.pk, "file": csv_file()}, format="multipart")
    assert not_a_dso.status_code == 400 and "dso" in not_a_dso.json()


def test_a_viewer_reads_imports_but_cannot_upload(registry, make_role_user, client_for):
    viewer = client_for(make_role_user("viewer"))
    response = viewer.post(
        URL,
        {"dso": registry.dso1.pk, "file": csv_file("ean.000000000001,2024-01-01,,true,DSO,AGR,,,")},
        format="multipart",
    )
    assert response.status_code == 403
    assert viewer.get(URL).status_code == 200 and not CsvImport.objects.exists()


def test_the_endpoint_is_in_the_openapi_schema(users, staff_client):
    schema = staff_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    upload = schema["paths"]["/api/csv-imports/"]["post"]
    assert "multipart/form-data" in upload["requestBody"]["content"]
    assert {"201", "400", "401", "403"} <= set(upload["responses"])
    assert "409" in schema["paths"]["/api/csv-imports/{id}/apply/"]["post"]["responses"]
    assert "/api/csv-imports/{id}/changes/" in schema["paths"]
