"""The Django admin: API tokens only by a prefix, the message log read-only."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token

from registry.models import Message
from tests.api.conftest import make_message


@pytest.fixture
def superuser_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", password=None))
    return client


def test_api_tokens_are_shown_by_prefix_only(superuser_client, django_user_model):
    owner = django_user_model.objects.create_user("api-client", password=None, is_staff=True)
    token = Token.objects.create(user=owner)
    pages = [
        superuser_client.get(reverse("admin:registry_apitoken_changelist")),
        superuser_client.get(reverse("admin:registry_apitoken_change", args=[owner.pk])),
        superuser_client.get(reverse("admin:registry_apitoken_delete", args=[owner.pk])),
        superuser_client.get(reverse("admin:index")),
    ]
    for page in pages:
        assert page.status_code == 200
        assert token.key not in page.content.decode()
    assert token.key[:6] in pages[0].content.decode()
    # DRF's own token admin, which lists keys in clear, is gone.
    assert superuser_client.get("/admin/authtoken/tokenproxy/").status_code == 404

    superuser_client.post(reverse("admin:registry_apitoken_delete", args=[owner.pk]), {"post": "yes"})
    assert not Token.objects.filter(key=token.key).exists()
    # The admin's log of the deletion (shown under "Recent actions") names the prefix only.
    assert token.key not in superuser_client.get(reverse("admin:index")).content.decode()


def test_a_token_created_in_the_admin_is_shown_once(superuser_client, django_user_model):
    owner = django_user_model.objects.create_user("api-client", password=None, is_staff=True)
    response = superuser_client.post(reverse("admin:registry_apitoken_add"), {"user": owner.pk}, follow=True)
    key = Token.objects.get(user=owner).key
    assert key in response.content.decode()
    assert key not in superuser_client.get(reverse("admin:registry_apitoken_changelist")).content.decode()


def test_the_message_log_is_read_only(superuser_client, make_participant):
    participant, _ = make_participant("dso1.example.com", "DSO")
    message = make_message(participant, direction="out", status="failed")
    change_url = reverse("admin:registry_message_change", args=[message.pk])

    assert superuser_client.get(reverse("admin:registry_message_changelist")).status_code == 200
    page = superuser_client.get(change_url)
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert superuser_client.get(reverse("admin:registry_message_add")).status_code == 403
    assert superuser_client.post(change_url, {"status": "processed"}).status_code == 403
    assert (
        superuser_client.get(reverse("admin:registry_message_delete", args=[message.pk])).status_code == 403
    )
    assert (
        superuser_client.post(
            reverse("admin:registry_message_delete", args=[message.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    bulk = superuser_client.post(
        reverse("admin:registry_message_changelist"),
        {"action": "delete_selected", "_selected_action": [message.pk], "post": "yes"},
    )
    assert bulk.status_code in (200, 302)
    message.refresh_from_db()
    assert message.status == "failed"
    assert Message.objects.filter(pk=message.pk).exists()
