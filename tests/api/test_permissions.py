"""Who may call what: anonymous 401, authenticated non-staff 403, staff read; each write needs its
role (registry/roles.py): operator retries and sends TestMessages, administrator does everything."""

import pytest
from django.middleware.csrf import get_token
from django.test import Client, RequestFactory
from django.urls import reverse

from registry.models import Participant
from tests.api.conftest import make_message

READS = [
    "/api/",
    "/api/cro/",
    "/api/schema/",
    "/api/participants/",
    "/api/participants/{participant}/",
    "/api/congestion-points/",
    "/api/congestion-points/{cp}/",
    "/api/agr-portfolios/",
    "/api/agr-portfolios/{agr}/",
    "/api/agr-portfolios/{agr}/connections/",
    "/api/agr-portfolios/{agr}/query-answer/?period=2024-06-15",
    "/api/history/congestion-points/",
    "/api/history/memberships/",
    "/api/history/representations/",
    "/api/messages/",
    "/api/messages/{message}/",
    "/api/csv-imports/",
]

MANAGE, OPERATE = "manage", "operate"
# (method, URL, what it needs)
WRITES_BY_ROLE = [
    ("post", "/api/participants/", MANAGE),
    ("put", "/api/participants/{participant}/", MANAGE),
    ("patch", "/api/participants/{participant}/", MANAGE),
    ("post", "/api/participants/{participant}/bar/", MANAGE),
    ("post", "/api/participants/{participant}/reactivate/", MANAGE),
    ("post", "/api/participants/{participant}/rotate-key/", MANAGE),
    ("post", "/api/participants/{participant}/complete-key-rotation/", MANAGE),
    ("post", "/api/participants/{participant}/test-message/", OPERATE),
    ("post", "/api/messages/{message}/retry/", OPERATE),
    ("post", "/api/csv-imports/", OPERATE),
]
WRITES = [(method, url) for method, url, _ in WRITES_BY_ROLE]
ALLOWED = {
    None: set(),
    "viewer": set(),
    "operator": {OPERATE},
    "administrator": {MANAGE, OPERATE},
}


@pytest.fixture
def ids(registry):
    message = make_message(registry.dso1, direction="out", status="failed")
    return {
        "participant": registry.dso1.pk,
        "cp": registry.cp1.pk,
        "agr": registry.agr_a.pk,
        "message": message.pk,
    }


def test_the_api_is_mounted_under_api():
    assert reverse("api:participant-list") == "/api/participants/"
    assert reverse("api:schema") == "/api/schema/"
    assert reverse("api:docs") == "/api/docs/"  # a browser page: tests/web/test_api_docs.py


@pytest.mark.parametrize("url", READS)
def test_reads_refuse_anonymous_and_non_staff_and_serve_staff(url, ids, users, client_for):
    url = url.format(**ids)
    anonymous = client_for(None).get(url)
    assert anonymous.status_code == 401
    assert anonymous["WWW-Authenticate"] == "Token"
    assert client_for(users.user).get(url).status_code == 403
    assert client_for(users.staff).get(url).status_code == 200
    assert client_for(users.admin).get(url).status_code == 200


@pytest.mark.parametrize(("method", "url"), WRITES)
def test_writes_refuse_anonymous_non_staff_and_staff_without_a_role(method, url, ids, users, client_for):
    url = url.format(**ids)
    before = list(
        Participant.objects.values_list("status", "public_key", "public_key_previous", "endpoint_url")
    )
    assert getattr(client_for(None), method)(url, {}, format="json").status_code == 401
    assert getattr(client_for(users.user), method)(url, {}, format="json").status_code == 403
    staff = getattr(client_for(users.staff), method)(url, {}, format="json")
    assert staff.status_code == 403
    assert "administrator" in staff.json()["detail"]
    assert (
        list(Participant.objects.values_list("status", "public_key", "public_key_previous", "endpoint_url"))
        == before
    )


def test_an_inactive_staff_token_is_refused(users, client_for):
    client = client_for(users.staff)
    users.staff.is_active = False
    users.staff.save()
    assert client.get("/api/participants/").status_code == 401


def test_a_superuser_without_staff_flag_is_refused(users, client_for):
    users.admin.is_staff = False
    users.admin.save()
    assert client_for(users.admin).get("/api/participants/").status_code == 403


def test_session_authentication_reads_for_staff(users, client):
    assert client.get("/api/participants/").status_code == 401
    # The login throttle (django-axes) needs the request that logs in, which Client.login has not.
    client.force_login(users.staff)
    assert client.get("/api/participants/").status_code == 200


def test_session_writes_need_the_csrf_token(users, registry):
    client = Client(enforce_csrf_checks=True)
    client.force_login(users.admin)
    url = f"/api/participants/{registry.dso1.pk}/bar/"
    refused = client.post(url, content_type="application/json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    registry.dso1.refresh_from_db()
    assert registry.dso1.status == Participant.Status.ACTIVE

    client.cookies["csrftoken"] = token = get_token(RequestFactory().get("/"))
    accepted = client.post(url, {"reason": "test"}, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert accepted.status_code == 200
    registry.dso1.refresh_from_db()
    assert registry.dso1.status == Participant.Status.BARRED


@pytest.mark.parametrize("role", list(ALLOWED))
@pytest.mark.parametrize(("method", "url", "kind"), WRITES_BY_ROLE)
def test_each_write_needs_its_role(method, url, kind, role, ids, make_role_user, client_for):
    url = url.format(**ids)
    before = list(
        Participant.objects.values_list("status", "public_key", "public_key_previous", "endpoint_url")
    )
    response = getattr(client_for(make_role_user(role)), method)(url, {}, format="json")
    if kind in ALLOWED[role]:
        # Past the permission check: the empty body may still be refused (400) by the action.
        assert response.status_code != 403, response.content
    else:
        assert response.status_code == 403
        assert "administrator" in response.json()["detail"]
        after = list(
            Participant.objects.values_list("status", "public_key", "public_key_previous", "endpoint_url")
        )
        assert after == before


@pytest.mark.parametrize("role", list(ALLOWED))
def test_every_role_reads(role, ids, make_role_user, client_for):
    client = client_for(make_role_user(role))
    for url in READS:
        assert client.get(url.format(**ids)).status_code == 200, url


def test_the_operator_retries_and_the_administrator_bars(ids, registry, make_role_user, client_for):
    operator = client_for(make_role_user("operator"))
    assert operator.post(f"/api/messages/{ids['message']}/retry/", {}, format="json").status_code == 200
    assert operator.post(f"/api/participants/{registry.dso1.pk}/bar/", {}, format="json").status_code == 403
    administrator = client_for(make_role_user("administrator"))
    assert (
        administrator.post(
            f"/api/participants/{registry.dso1.pk}/bar/", {"reason": "test"}, format="json"
        ).status_code
        == 200
    )
    registry.dso1.refresh_from_db()
    assert registry.dso1.status == Participant.Status.BARRED
