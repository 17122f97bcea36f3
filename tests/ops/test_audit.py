"""The audit trail records each administrator action of the web UI and of the API, with the user."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from registry.models import AuditEntry, Message, Participant
from registry.uftp import keys
from tests.api.conftest import make_message

DSO = "dso1.example.com"


@pytest.fixture
def admin(make_role_user):
    return make_role_user("administrator", username="alice")


@pytest.fixture
def web(admin):
    client = Client()
    client.force_login(admin)
    return client


@pytest.fixture
def api(admin):
    client = APIClient()
    client.force_authenticate(admin)
    return client


def last_entry() -> AuditEntry:
    return AuditEntry.objects.order_by("-id").first()


def test_web_participant_actions_are_audited(web, make_participant):
    _, public_key = keys.generate_keypair()
    web.post(
        reverse("web:participant-add"),
        {
            "domain": "agr9.example.com",
            "role": "AGR",
            "public_key": public_key,
            "endpoint_url": "https://agr9.example.com/m",
        },
    )
    created = Participant.objects.get(domain="agr9.example.com")
    entry = last_entry()
    assert (entry.username, entry.channel, entry.action, entry.object_id) == (
        "alice",
        "web",
        "participant_create",
        str(created.pk),
    )
    assert entry.changes["domain"] == [None, "agr9.example.com"]

    participant, _ = make_participant(DSO, "DSO")
    url = reverse("web:participant-bar", kwargs={"pk": participant.pk})
    web.post(url, {"reason": ""})
    participant.refresh_from_db()
    assert participant.status == "active"  # no reason, no bar, nothing recorded
    assert last_entry().action == "participant_create"

    web.post(url, {"reason": "signs with a leaked key"})
    entry = last_entry()
    assert (entry.action, entry.reason, entry.changes["status"]) == (
        "participant_bar",
        "signs with a leaked key",
        ["active", "barred"],
    )
    web.post(reverse("web:participant-reactivate", kwargs={"pk": participant.pk}))
    assert (last_entry().action, last_entry().changes["status"]) == (
        "participant_reactivate",
        ["barred", "active"],
    )

    _, new_key = keys.generate_keypair()
    web.post(
        reverse("web:participant-key-rotate", kwargs={"pk": participant.pk}), {"new_public_key": new_key}
    )
    entry = last_entry()
    assert entry.action == "participant_key_rotate"
    assert entry.changes["public_key"][1] == new_key
    web.post(reverse("web:participant-key-rotation-complete", kwargs={"pk": participant.pk}))
    assert last_entry().action == "participant_key_rotation_complete"

    page = web.get(reverse("web:participant-detail", kwargs={"pk": participant.pk})).content.decode()
    for action in ("participant_bar", "participant_reactivate", "participant_key_rotate"):
        assert f'data-audit-action="{action}"' in page
    assert "signs with a leaked key" in page
    listing = web.get(reverse("web:audit-list")).content.decode()
    assert listing.count("data-audit-action=") == AuditEntry.objects.count() == 5


def test_web_retry_and_csv_import_are_audited(web, make_participant, settings):
    settings.CRO_CSV_IMPORT_INLINE = True
    participant, _ = make_participant(DSO, "DSO")
    message = make_message(participant, direction="out", status="failed")
    web.post(reverse("web:message-retry", kwargs={"pk": message.pk}))
    entry = last_entry()
    assert (entry.action, entry.object_type, entry.changes["status"]) == (
        "message_retry",
        "message",
        ["failed", "response_queued"],
    )
    assert 'data-audit-action="message_retry"' in web.get(f"/messages/{message.pk}/").content.decode()

    csv_text = (
        "congestion_point,cp_start,cp_end,mutex_offers_supported,day_ahead_redispatch_by,"
        "intraday_redispatch_by,connection,connection_start,connection_end\n"
        "ean.000000000001,2024-01-01,,true,DSO,AGR,ean.100000000001,2024-01-01,\n"
    )
    web.post(
        reverse("web:import"),
        {"dso": participant.pk, "file": SimpleUploadedFile("cps.csv", csv_text.encode())},
    )
    upload = last_entry()
    assert (upload.action, upload.object_type, upload.username) == ("csv_import_upload", "csvimport", "alice")
    web.post(reverse("web:import-apply", kwargs={"pk": upload.object_id}))
    entry = last_entry()
    assert (entry.action, entry.object_id) == ("csv_import_apply", upload.object_id)
    page = web.get(reverse("web:import-detail", kwargs={"pk": upload.object_id})).content.decode()
    assert 'data-audit-action="csv_import_apply"' in page and 'data-audit-action="csv_import_upload"' in page


def test_api_actions_are_audited_with_the_user(api, make_participant):
    participant, _ = make_participant(DSO, "DSO")
    url = f"/api/participants/{participant.pk}/"
    assert api.post(url + "bar/", {}, format="json").status_code == 400  # the reason is required
    assert not AuditEntry.objects.exists()
    assert api.post(url + "bar/", {"reason": "unpaid"}, format="json").status_code == 200
    entry = last_entry()
    assert (entry.username, entry.channel, entry.action, entry.reason) == (
        "alice",
        "api",
        "participant_bar",
        "unpaid",
    )
    assert api.post(url + "reactivate/", {}, format="json").status_code == 200
    assert last_entry().action == "participant_reactivate"
    assert api.patch(url, {"endpoint_url": "https://dso1.example.com/new"}, format="json").status_code == 200
    entry = last_entry()
    assert entry.action == "participant_update"
    assert entry.changes["endpoint_url"][1] == "https://dso1.example.com/new"
    message = make_message(participant, direction="out", status="failed")
    assert api.post(f"/api/messages/{message.pk}/retry/", {}, format="json").status_code == 200
    assert (last_entry().action, last_entry().object_id) == ("message_retry", str(message.pk))
    rows = api.get("/api/audit/", {"username": "alice"}).json()["results"]
    assert [row["action"] for row in rows] == [
        "message_retry",
        "participant_update",
        "participant_reactivate",
        "participant_bar",
    ]
    assert Message.objects.filter(pk=message.pk, status="response_queued").exists()


def test_a_refused_action_records_nothing(api, make_participant):
    participant, _ = make_participant(DSO, "DSO")
    assert (
        api.post(f"/api/participants/{participant.pk}/complete-key-rotation/", {}, format="json").status_code
        == 409
    )
    assert not AuditEntry.objects.exists()
