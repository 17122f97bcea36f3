"""Login throttling (django-axes): after CRO_LOGIN_FAILURE_LIMIT failed logins for one username
from one address that combination is locked, with a clear message, until the cool-off passes or an
administrator unlocks it; other users and other addresses are not affected."""

from __future__ import annotations

from django.conf import settings
from django.core.management import call_command
from django.urls import reverse

from tests.web.conftest import PASSWORD

ATTACKER = "203.0.113.7"


def _login(client, username, password, *, address=ATTACKER, url=None):
    return client.post(
        url or reverse("web:login"), {"username": username, "password": password}, REMOTE_ADDR=address
    )


def _signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_the_limit_is_a_setting():
    assert settings.AXES_FAILURE_LIMIT == 5
    assert settings.AXES_LOCKOUT_PARAMETERS == [["username", "ip_address"]]


def test_sixty_wrong_passwords_lock_the_login_until_an_administrator_resets_it(client, staff_user):
    for _ in range(60):
        _login(client, staff_user.username, "wrong-password")
    refused = _login(client, staff_user.username, PASSWORD)
    assert refused.status_code == 429
    page = refused.content.decode()
    assert "Login locked" in page and "administrator" in page
    assert not _signed_in(client)

    call_command("axes_reset_username", staff_user.username)
    accepted = _login(client, staff_user.username, PASSWORD)
    assert accepted.status_code == 302
    assert _signed_in(client)


def test_the_lock_starts_at_the_limit(client, staff_user):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _login(client, staff_user.username, "wrong-password").status_code == 200
    assert _login(client, staff_user.username, PASSWORD).status_code == 302
    client.logout()
    # A success resets the count: four more failures still do not lock.
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _login(client, staff_user.username, "wrong-password")
    assert _login(client, staff_user.username, PASSWORD).status_code == 302


def test_one_address_cannot_lock_out_other_users_or_the_user_elsewhere(client, staff_user, make_role_user):
    other = make_role_user("viewer", username="colleague", password=PASSWORD)
    for _ in range(20):
        _login(client, staff_user.username, "wrong-password")
    assert _login(client, staff_user.username, PASSWORD).status_code == 429
    # The same user from the office's address, and another user from the attacker's, get in.
    assert _login(client, staff_user.username, PASSWORD, address="198.51.100.20").status_code == 302
    client.logout()
    assert _login(client, other.username, PASSWORD).status_code == 302


def test_forwarded_for_is_ignored_without_trusted_proxies(client, staff_user):
    for number in range(10):
        client.post(
            reverse("web:login"),
            {"username": staff_user.username, "password": "wrong-password"},
            REMOTE_ADDR=ATTACKER,
            HTTP_X_FORWARDED_FOR=f"192.0.2.{number}",
        )
    assert _login(client, staff_user.username, PASSWORD).status_code == 429


def test_behind_a_trusted_proxy_the_forwarded_address_counts(client, staff_user, settings):
    settings.CRO_TRUSTED_PROXY_COUNT = 1
    proxy = "10.0.0.1"
    for _ in range(10):
        client.post(
            reverse("web:login"),
            {"username": staff_user.username, "password": "wrong-password"},
            REMOTE_ADDR=proxy,
            HTTP_X_FORWARDED_FOR=f"1.2.3.4, {ATTACKER}",
        )
    locked = client.post(
        reverse("web:login"),
        {"username": staff_user.username, "password": PASSWORD},
        REMOTE_ADDR=proxy,
        HTTP_X_FORWARDED_FOR=ATTACKER,
    )
    assert locked.status_code == 429
    other_client = client.post(
        reverse("web:login"),
        {"username": staff_user.username, "password": PASSWORD},
        REMOTE_ADDR=proxy,
        HTTP_X_FORWARDED_FOR="198.51.100.20",
    )
    assert other_client.status_code == 302


def test_the_django_admin_login_is_throttled_too(client, django_user_model):
    django_user_model.objects.create_superuser("root", password=PASSWORD)
    url = reverse("admin:login")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(client, "root", "wrong-password", url=url)
    assert _login(client, "root", PASSWORD, url=url).status_code == 429
    call_command("axes_reset")
    assert _login(client, "root", PASSWORD, url=url).status_code == 302
