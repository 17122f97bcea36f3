"""Keys shown in their published cs1. form; a TestMessage never answered is given up on."""

from __future__ import annotations

import datetime as dt

from django.urls import reverse

from registry.models import Message
from registry.uftp import keys
from registry.web.presentation import TEST_ANSWER_PATIENCE


def test_keys_are_shown_in_the_cs1_form_wherever_they_appear(staff_client, example, keypair):
    _, new_public = keypair
    staff_client.post(
        reverse("web:participant-key-rotate", kwargs={"pk": example.dso2.pk}),
        {"new_public_key": keys.to_cs1(new_public)},
    )
    example.dso2.refresh_from_db()
    old_public = example.dso2.public_key_previous
    detail = staff_client.get(
        reverse("web:participant-detail", kwargs={"pk": example.dso2.pk})
    ).content.decode()
    assert f"<code data-key>{keys.to_cs1(new_public)}</code>" in detail
    assert f"<code data-key>{keys.to_cs1(old_public)}</code>" in detail
    rotate = staff_client.get(reverse("web:participant-key-rotate", kwargs={"pk": example.dso2.pk}))
    assert f"<code data-key>{keys.to_cs1(new_public)}</code>" in rotate.content.decode()
    edit = staff_client.get(reverse("web:participant-edit", kwargs={"pk": example.dso2.pk}))
    assert edit.context["form"].initial["public_key"] == keys.to_cs1(new_public)
    # Saving the edit form as shown changes nothing.
    response = staff_client.post(
        reverse("web:participant-edit", kwargs={"pk": example.dso2.pk}),
        {
            "public_key": keys.to_cs1(new_public),
            "public_key_previous": keys.to_cs1(old_public),
            "endpoint_url": example.dso2.endpoint_url,
        },
    )
    assert response.status_code == 302
    example.dso2.refresh_from_db()
    assert (example.dso2.public_key, example.dso2.public_key_previous) == (new_public, old_public)


def test_a_test_message_never_answered_says_so_after_a_while(
    staff_client, example, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks():
        staff_client.post(reverse("web:participant-test-message", kwargs={"pk": example.dso2.pk}))
    sent = Message.objects.get(direction="out", message_type="TestMessage", participant=example.dso2)
    url = reverse("web:participant-test-messages", kwargs={"pk": example.dso2.pk})
    assert "waiting for the answer" in staff_client.get(url).content.decode()
    Message.objects.filter(pk=sent.pk).update(
        created_at=sent.created_at - TEST_ANSWER_PATIENCE - dt.timedelta(minutes=5)
    )
    fragment = staff_client.get(url).content.decode()
    assert "no answer after 7 minutes" in fragment
    assert "waiting for the answer" not in fragment and "data-pending" not in fragment  # polling stops
    detail = staff_client.get(
        reverse("web:participant-detail", kwargs={"pk": example.dso2.pk})
    ).content.decode()
    assert "no answer after 7 minutes" in detail
