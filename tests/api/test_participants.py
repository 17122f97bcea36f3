"""/api/participants/: public fields, filters, and writes through registry/services/participants.py."""

import re

import pytest
from django.conf import settings
from django.core.validators import URLValidator
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from registry.api.serializers import ENDPOINT_URL_PATTERN, INTERNET_DOMAIN_PATTERN, PUBLIC_KEY_PATTERN
from registry.models import Message, Participant
from registry.uftp import keys
from registry.validators import validate_internet_domain

URL = "/api/participants/"
PUBLIC_FIELDS = {
    "id",
    "domain",
    "role",
    "status",
    "source",
    "endpoint_url",
    "endpoints",
    "endpoints_by_major",
    "newest_version",
    "public_key",
    "public_key_previous",
    "public_keys",
    "created_at",
    "updated_at",
}


def new_key() -> str:
    return keys.generate_keypair()[1]


def payload(**overrides) -> dict:
    values = {
        "domain": "new-dso.example.com",
        "role": "DSO",
        "public_keys": [new_key()],
        "endpoint_url": "https://new-dso.example.com/shapeshifter/api/v3/message",
    }
    values.update(overrides)
    return values


# ------------------------------------------------------------------------------ reads
def test_list_shows_public_fields_only(registry, staff_client):
    response = staff_client.get(URL)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 4
    assert [row["domain"] for row in body["results"]] == [
        "agr-a.example.com",
        "agr-b.example.com",
        "dso1.example.com",
        "dso2.example.com",
    ]
    row = next(r for r in body["results"] if r["domain"] == "dso1.example.com")
    assert set(row) == PUBLIC_FIELDS
    assert row["public_key"] == registry.dso1.public_key
    assert row["public_keys"] == [registry.dso1.public_key]
    assert row["role"] == "DSO"
    assert row["status"] == "active"
    assert settings.CRO_SIGNING_KEY not in response.content.decode()


def test_detail(registry, staff_client):
    response = staff_client.get(f"{URL}{registry.agr_b.pk}/")
    assert response.status_code == 200
    assert response.json()["domain"] == "agr-b.example.com"
    assert response.json()["role"] == "AGR"
    assert staff_client.get(f"{URL}999999/").status_code == 404
    assert staff_client.get(f"{URL}not-a-number/").status_code == 404


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("role=DSO", ["dso1.example.com", "dso2.example.com"]),
        ("role=AGR", ["agr-a.example.com", "agr-b.example.com"]),
        ("status=barred", ["dso2.example.com"]),
        ("source=dns", ["agr-b.example.com"]),
        ("domain=dso1.example.com", ["dso1.example.com"]),
        ("domain_contains=agr", ["agr-a.example.com", "agr-b.example.com"]),
        ("role=AGR&status=barred", []),
    ],
)
def test_filters(registry, staff_client, query, expected):
    Participant.objects.filter(pk=registry.dso2.pk).update(status="barred")
    Participant.objects.filter(pk=registry.agr_b.pk).update(source="dns")
    response = staff_client.get(f"{URL}?{query}")
    assert response.status_code == 200
    assert [row["domain"] for row in response.json()["results"]] == expected


def test_created_range(registry, staff_client):
    first = Participant.objects.order_by("created_at", "pk").first()
    last = Participant.objects.order_by("created_at", "pk").last()
    after = staff_client.get(URL, {"created_after": last.created_at.isoformat()}).json()
    assert last.domain in [row["domain"] for row in after["results"]]
    before = staff_client.get(URL, {"created_before": first.created_at.isoformat()}).json()
    assert before["count"] == 0
    assert staff_client.get(URL, {"created_after": "2999-01-01T00:00:00Z"}).json()["count"] == 0


@pytest.mark.parametrize(
    "query", ["role=CRO", "status=gone", "created_after=yesterday", "created_before=", "limit=0", "offset=-1"]
)
def test_malformed_parameters_are_refused(registry, staff_client, query):
    response = staff_client.get(f"{URL}?{query}")
    assert response.status_code == 400
    assert query.split("=")[0] in response.json()


def test_pagination(registry, staff_client):
    page = staff_client.get(URL, {"limit": 3}).json()
    assert page["count"] == 4
    assert len(page["results"]) == 3
    assert "offset=3" in page["next"]
    rest = staff_client.get(URL, {"limit": 3, "offset": 3}).json()
    assert [row["domain"] for row in rest["results"]] == ["dso2.example.com"]
    assert rest["next"] is None
    assert staff_client.get(URL, {"limit": 1001}).status_code == 400


# ------------------------------------------------------------------------------ create, update
def test_admin_creates_a_participant(users, admin_client):
    key = new_key()
    response = admin_client.post(URL, payload(public_keys=[keys.to_cs1(key)]), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == PUBLIC_FIELDS
    participant = Participant.objects.get(domain="new-dso.example.com", role="DSO")
    assert body["id"] == participant.pk
    # The service normalised the published cs1 form to the base64 key.
    assert participant.public_key == key
    assert participant.source == Participant.Source.ADMIN


def test_creating_an_existing_participant_is_a_conflict(registry, admin_client):
    response = admin_client.post(URL, payload(domain="dso1.example.com"), format="json")
    assert response.status_code == 409
    assert "domain" in response.json()
    registry.dso1.refresh_from_db()
    assert registry.dso1.endpoint_url.startswith("http://127.0.0.1:9/")
    # Same domain, other role: a different participant.
    assert (
        admin_client.post(URL, payload(domain="dso1.example.com", role="AGR"), format="json").status_code
        == 201
    )


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"domain": "Not A Domain"}, "domain"),
        ({"domain": "dso..example.com"}, "domain"),
        ({"role": "CRO"}, "role"),
        ({"public_keys": []}, "public_keys"),
        ({"public_keys": ["not-base64"]}, "public_keys"),
        ({"endpoint_url": "ftp://dso.example.com/x"}, "endpoint_url"),
        ({"endpoint_url": "https://dso.example.com/a b"}, "endpoint_url"),
    ],
)
def test_malformed_input_is_a_400_with_field_errors(users, admin_client, overrides, field):
    response = admin_client.post(URL, payload(**overrides), format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not Participant.objects.exists()


def test_service_validation_errors_become_field_errors(users, admin_client):
    """The schema cannot see that a key and its cs1 form are the same key: the service can."""
    key = new_key()
    response = admin_client.post(URL, payload(public_keys=[key, keys.to_cs1(key)]), format="json")
    assert response.status_code == 400
    assert response.json() == {"public_keys": ["the two public keys are the same"]}
    assert not Participant.objects.exists()


def test_put_replaces_keys_and_endpoint(registry, admin_client):
    first, second = new_key(), new_key()
    url = f"{URL}{registry.dso1.pk}/"
    response = admin_client.put(
        url, {"public_keys": [first, second], "endpoint_url": "https://dso1.example.com/uftp"}, format="json"
    )
    assert response.status_code == 200, response.json()
    registry.dso1.refresh_from_db()
    assert (registry.dso1.public_key, registry.dso1.public_key_previous) == (first, second)
    assert registry.dso1.endpoint_url == "https://dso1.example.com/uftp"
    assert response.json()["public_keys"] == [first, second]
    # PUT needs both fields.
    assert admin_client.put(url, {"endpoint_url": "https://x.example.com/"}, format="json").status_code == 400


def test_patch_changes_one_field_and_keeps_domain_and_role(registry, admin_client):
    key = registry.dso1.public_key
    response = admin_client.patch(
        f"{URL}{registry.dso1.pk}/",
        {"endpoint_url": "https://dso1.example.com/new", "domain": "evil.example.com", "role": "AGR"},
        format="json",
    )
    assert response.status_code == 200
    registry.dso1.refresh_from_db()
    assert registry.dso1.endpoint_url == "https://dso1.example.com/new"
    assert (registry.dso1.domain, registry.dso1.role, registry.dso1.public_key) == (
        "dso1.example.com",
        "DSO",
        key,
    )


def test_json_only(registry, admin_client):
    response = admin_client.post(URL, payload(), format="multipart")
    assert response.status_code == 415


# ------------------------------------------------------------------------------ actions
def test_bar_and_reactivate(registry, admin_client):
    url = f"{URL}{registry.agr_a.pk}/"
    barred = admin_client.post(url + "bar/", {"reason": "keys leaked"}, format="json")
    assert barred.status_code == 200
    assert barred.json()["status"] == "barred"
    registry.agr_a.refresh_from_db()
    assert registry.agr_a.is_barred
    reactivated = admin_client.post(url + "reactivate/")
    assert reactivated.json()["status"] == "active"
    registry.agr_a.refresh_from_db()
    assert not registry.agr_a.is_barred


@pytest.mark.parametrize("reason", [0, True, None, ["keys leaked"], {"text": "keys leaked"}])
def test_bar_reason_must_be_a_string(registry, admin_client, reason):
    """Found by the schema fuzz test: {"reason": 0} barred the participant with the reason "0"."""
    response = admin_client.post(f"{URL}{registry.agr_a.pk}/bar/", {"reason": reason}, format="json")
    assert response.status_code == 400
    assert "reason" in response.json()
    registry.agr_a.refresh_from_db()
    assert not registry.agr_a.is_barred


def test_key_rotation(registry, admin_client):
    url = f"{URL}{registry.dso1.pk}/"
    old, new = registry.dso1.public_key, new_key()
    started = admin_client.post(url + "rotate-key/", {"public_key": keys.to_cs1(new)}, format="json")
    assert started.status_code == 200
    # The new key is current; the one it replaces stays valid as the previous key.
    assert started.json()["public_keys"] == [new, old]
    # The same key again: the participant's state refuses it.
    again = admin_client.post(url + "rotate-key/", {"public_key": new}, format="json")
    assert again.status_code == 409
    assert again.json() == {"public_key": ["this key is already valid for the participant"]}
    completed = admin_client.post(url + "complete-key-rotation/")
    assert completed.status_code == 200
    assert completed.json()["public_keys"] == [new]
    registry.dso1.refresh_from_db()
    assert (registry.dso1.public_key, registry.dso1.public_key_previous) == (new, "")
    nothing_to_complete = admin_client.post(url + "complete-key-rotation/")
    assert nothing_to_complete.status_code == 409
    assert nothing_to_complete.json() == {"public_key": ["no key rotation is under way"]}
    malformed = admin_client.post(url + "rotate-key/", {"public_key": "abc"}, format="json")
    assert malformed.status_code == 400
    assert "public_key" in malformed.json()


def test_send_test_message(registry, admin_client):
    response = admin_client.post(
        f"{URL}{registry.agr_b.pk}/test-message/", {"version": "3.0.0"}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    message = Message.objects.get(pk=body["id"])
    assert (message.direction, message.message_type, message.version) == ("out", "TestMessage", "3.0.0")
    assert message.participant == registry.agr_b
    assert (body["recipient_domain"], body["status"]) == ("agr-b.example.com", "response_queued")
    assert "inner_xml" not in body
    default = admin_client.post(f"{URL}{registry.agr_b.pk}/test-message/", {}, format="json")
    assert default.status_code == 201
    assert default.json()["version"] == "3.1.0"
    unknown = admin_client.post(
        f"{URL}{registry.agr_b.pk}/test-message/", {"version": "9.9.9"}, format="json"
    )
    assert unknown.status_code == 400
    assert "version" in unknown.json()


# ------------------------------------------------------------------------------ documented input shapes
# Hypothesis' default 100 examples: drawing from these long patterns costs about 0.1 s of CPU per
# example (200 made this the suite's third slowest test), and the three patterns are drawn anew in each.
@hypothesis_settings(max_examples=100, deadline=None)
@given(
    domain=st.from_regex(INTERNET_DOMAIN_PATTERN.removesuffix("$") + r"\Z"),
    url=st.from_regex(ENDPOINT_URL_PATTERN.removesuffix("$") + r"\Z"),
    key=st.from_regex(PUBLIC_KEY_PATTERN.removesuffix("$") + r"\Z"),
)
def test_what_the_schema_documents_the_services_accept(domain, url, key):
    """The patterns the schema publishes are subsets of the services' rules."""
    validate_internet_domain(domain)
    URLValidator(schemes=["http", "https"])(url)
    assert len(url) <= Participant._meta.get_field("endpoint_url").max_length
    assert re.fullmatch(r"[A-Za-z0-9+/]{43}=", keys.normalize_public_key(key))
