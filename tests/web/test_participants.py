"""Participant pages and actions through the Django test client."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.urls import reverse

from registry.models import Message, Participant
from registry.uftp import keys
from tests.web import builders


def detail_url(participant: Participant) -> str:
    return reverse("web:participant-detail", kwargs={"pk": participant.pk})


def test_list_filters_by_role_status_and_text(staff_client, make_participant):
    make_participant("dso1.example.com", "DSO")
    make_participant("agr1.example.com", "AGR", status="barred")
    make_participant("agr2.example.com", "AGR")
    page = staff_client.get(reverse("web:participant-list"))
    assert [p.domain for p in page.context["records"]] == [
        "agr1.example.com",
        "agr2.example.com",
        "dso1.example.com",
    ]
    page = staff_client.get(reverse("web:participant-list"), {"role": "AGR", "status": "active"})
    assert [p.domain for p in page.context["records"]] == ["agr2.example.com"]
    page = staff_client.get(reverse("web:participant-list"), {"q": "dso"})
    assert [p.domain for p in page.context["records"]] == ["dso1.example.com"]


def test_add_registers_a_participant(staff_client, keypair):
    _, public_key = keypair
    response = staff_client.post(
        reverse("web:participant-add"),
        {
            "domain": "New-DSO.example.com",
            "role": "DSO",
            "public_key": keys.to_cs1(public_key),  # the published form is accepted too
            "public_key_previous": "",
            "endpoint_url": "https://new-dso.example.com/shapeshifter/api/v3/message",
        },
    )
    participant = Participant.objects.get(domain="new-dso.example.com", role="DSO")
    assert response.status_code == 302 and response["Location"] == detail_url(participant)
    assert participant.public_key == public_key
    assert participant.public_key_previous == ""
    assert participant.status == "active"


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("domain", "not a domain", "not a UFTP internet domain"),
        ("public_key", "c2hvcnQ=", "public key must decode to 32 bytes"),
        ("public_key", "%%%", "not valid base64"),
        ("endpoint_url", "ftp://dso.example.com/x", "is not an http(s) URL"),
        ("role", "CRO", "Select a valid choice"),
    ],
)
def test_add_shows_validation_errors_and_saves_nothing(staff_client, keypair, field, value, error):
    data = {
        "domain": "dso9.example.com",
        "role": "DSO",
        "public_key": keypair[1],
        "public_key_previous": "",
        "endpoint_url": "https://dso9.example.com/shapeshifter/api/v3/message",
    }
    data[field] = value
    response = staff_client.post(reverse("web:participant-add"), data)
    assert response.status_code == 400
    assert error in " ".join(response.context["form"].errors.get(field, []))
    assert not Participant.objects.exists()


def test_add_refuses_an_existing_domain_and_role(staff_client, make_participant, keypair):
    make_participant("dso1.example.com", "DSO")
    response = staff_client.post(
        reverse("web:participant-add"),
        {
            "domain": "dso1.example.com",
            "role": "DSO",
            "public_key": keypair[1],
            "endpoint_url": "https://x.example.com/",
        },
    )
    assert response.status_code == 400
    assert "registered as DSO already" in response.context["form"].errors["domain"][0]
    assert Participant.objects.count() == 1


def test_add_refuses_two_equal_keys(staff_client, keypair):
    response = staff_client.post(
        reverse("web:participant-add"),
        {
            "domain": "dso1.example.com",
            "role": "DSO",
            "public_key": keypair[1],
            "public_key_previous": keypair[1],
            "endpoint_url": "https://dso1.example.com/",
        },
    )
    assert response.status_code == 400
    assert "the two public keys are the same" in response.context["form"].errors["public_key"][0]


def test_edit_changes_keys_and_endpoint_but_not_the_identity(staff_client, make_participant, keypair):
    participant, _ = make_participant("dso1.example.com", "DSO")
    page = staff_client.get(reverse("web:participant-edit", kwargs={"pk": participant.pk}))
    assert page.context["form"].initial["public_key"] == keys.to_cs1(participant.public_key)  # as published
    response = staff_client.post(
        reverse("web:participant-edit", kwargs={"pk": participant.pk}),
        {
            "domain": "hijack.example.com",  # disabled field: ignored
            "role": "AGR",
            "public_key": participant.public_key,
            "public_key_previous": keypair[1],
            "endpoint_url": "https://dso1.example.com/new/endpoint",
        },
    )
    assert response.status_code == 302
    participant.refresh_from_db()
    assert (participant.domain, participant.role) == ("dso1.example.com", "DSO")
    assert participant.public_key_previous == keypair[1]
    assert participant.endpoint_url == "https://dso1.example.com/new/endpoint"
    assert Participant.objects.count() == 1


def test_edit_with_a_bad_endpoint_shows_the_error(staff_client, make_participant):
    participant, _ = make_participant("dso1.example.com", "DSO")
    old_endpoint = participant.endpoint_url
    response = staff_client.post(
        reverse("web:participant-edit", kwargs={"pk": participant.pk}),
        {"public_key": participant.public_key, "endpoint_url": "javascript:alert(1)"},
    )
    assert response.status_code == 400
    assert response.context["form"].errors["endpoint_url"]
    participant.refresh_from_db()
    assert participant.endpoint_url == old_endpoint


def test_bar_and_reactivate(staff_client, make_participant):
    participant, _ = make_participant("agr1.example.com", "AGR")
    response = staff_client.post(
        reverse("web:participant-bar", kwargs={"pk": participant.pk}), {"reason": "keys leaked"}, follow=True
    )
    participant.refresh_from_db()
    assert participant.status == "barred"
    assert "Barred Sender" in response.content.decode()
    assert f'action="/participants/{participant.pk}/reactivate/"' in response.content.decode()

    staff_client.post(reverse("web:participant-reactivate", kwargs={"pk": participant.pk}))
    participant.refresh_from_db()
    assert participant.status == "active"


def test_barred_participant_is_answered_barred_sender(staff_client, example):
    """Barring in the UI takes effect on the UFTP path."""
    from tests import factories

    staff_client.post(reverse("web:participant-bar", kwargs={"pk": example.agr_b.pk}), {"reason": "test"})
    message = builders.receive_and_process(
        factories.test_message(sender=builders.AGR_B), role="AGR", private_key=example.keys[builders.AGR_B]
    )
    assert (message.result, message.rejection_reason) == ("Rejected", "Barred Sender")


def test_key_rotation_keeps_both_keys_valid_then_completes(staff_client, make_participant, keypair):
    participant, _ = make_participant("dso1.example.com", "DSO")
    old_key = participant.public_key
    url = reverse("web:participant-key-rotate", kwargs={"pk": participant.pk})
    assert staff_client.get(url).status_code == 200
    response = staff_client.post(url, {"new_public_key": keypair[1]})
    assert response.status_code == 302
    participant.refresh_from_db()
    # The new key is current; the one it replaces stays valid as the previous key.
    assert (participant.public_key, participant.public_key_previous) == (keypair[1], old_key)

    staff_client.post(reverse("web:participant-key-rotation-complete", kwargs={"pk": participant.pk}))
    participant.refresh_from_db()
    assert participant.public_keys == [keypair[1]]


def test_key_rotation_errors(staff_client, make_participant):
    participant, _ = make_participant("dso1.example.com", "DSO")
    url = reverse("web:participant-key-rotate", kwargs={"pk": participant.pk})
    response = staff_client.post(url, {"new_public_key": participant.public_key})
    assert response.status_code == 400
    assert "already valid" in response.context["form"].errors["new_public_key"][0]
    response = staff_client.post(url, {"new_public_key": "not-a-key"})
    assert response.status_code == 400
    assert "invalid public key" in response.context["form"].errors["new_public_key"][0]
    # Completing without a rotation under way is refused with a message.
    response = staff_client.post(
        reverse("web:participant-key-rotation-complete", kwargs={"pk": participant.pk}), follow=True
    )
    assert "no key rotation is under way" in response.content.decode()


def test_rotated_key_verifies_inbound_messages(staff_client, example):
    """The new key is valid beside the old one: a message signed with it is accepted."""
    from tests import factories

    new_private, new_public = keys.generate_keypair()
    staff_client.post(
        reverse("web:participant-key-rotate", kwargs={"pk": example.dso2.pk}), {"new_public_key": new_public}
    )
    for private_key in (new_private, example.keys[builders.DSO2]):
        message = builders.receive_and_process(
            factories.test_message(sender=builders.DSO2), role="DSO", private_key=private_key
        )
        assert message.result == "Accepted"
    page = staff_client.get(reverse("web:message-detail", kwargs={"pk": message.pk}))
    assert page.context["signature"].valid
    assert page.context["signature"].detail == "verifies with the participant's previous key"


def test_send_test_message_and_see_the_answer(staff_client, example, django_capture_on_commit_callbacks):
    from django.utils import timezone

    from registry.uftp import messages as m

    with django_capture_on_commit_callbacks() as callbacks:
        response = staff_client.post(reverse("web:participant-test-message", kwargs={"pk": example.dso2.pk}))
    assert response.status_code == 302 and response["Location"].endswith("#test-messages")
    assert len(callbacks) == 1  # the delivery is dispatched after the commit
    sent = Message.objects.get(direction="out", message_type="TestMessage", participant=example.dso2)
    assert sent.status == "response_queued" and sent.recipient_domain == example.dso2.domain

    fragment = staff_client.get(reverse("web:participant-test-messages", kwargs={"pk": example.dso2.pk}))
    assert "data-pending" in fragment.content.decode()
    assert "waiting for the answer" in fragment.content.decode()

    reply = m.TestMessageResponse(
        version=sent.version,
        sender_domain=example.dso2.domain,
        recipient_domain=settings.CRO_DOMAIN,
        time_stamp=timezone.now(),
        message_id="0b5c9d2e-0000-4000-8000-000000000002",
        conversation_id=sent.conversation_id,
    )
    answer = builders.receive_and_process(reply, role="DSO", private_key=example.keys[builders.DSO2])
    assert answer.request_id == sent.pk
    fragment = staff_client.get(
        reverse("web:participant-test-messages", kwargs={"pk": example.dso2.pk})
    ).content.decode()
    assert "data-pending" not in fragment
    assert f'href="/messages/{answer.pk}/"' in fragment
    assert "Accepted" in fragment


def test_the_cro_private_key_is_shown_nowhere(staff_client, example):
    seed_and_public = settings.CRO_SIGNING_KEY
    public_cs1 = keys.to_cs1(keys.public_key_from_private(seed_and_public))
    pages = [
        reverse("web:dashboard"),
        detail_url(example.dso1),
        reverse("web:message-detail", kwargs={"pk": example.failed.pk}),
        reverse("web:conversation", kwargs={"conversation_id": example.failed.conversation_id}),
    ]
    for url in pages:
        content = staff_client.get(url).content.decode()
        assert seed_and_public not in content
        assert seed_and_public[:40] not in content
    assert public_cs1 in staff_client.get(reverse("web:dashboard")).content.decode()
