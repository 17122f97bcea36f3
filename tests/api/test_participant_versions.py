"""/api/participants/: the endpoint per major version and the newest version a participant speaks."""

from registry.models import Participant
from registry.uftp import keys

URL = "/api/participants/"
V3 = "https://dso9.example.com/shapeshifter/api/v3/message"
V4 = "https://dso9-four.example.com/uftp"


def test_create_with_an_endpoint_per_major_and_a_newest_version(admin_client):
    response = admin_client.post(
        URL,
        {
            "domain": "dso9.example.com",
            "role": "DSO",
            "public_keys": [keys.generate_keypair()[1]],
            "endpoint_url": V3,
            "endpoints": {"4": V4},
            "newest_version": "4.0.0",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["endpoints"] == {"4": V4}
    assert body["endpoints_by_major"] == {"3": V3, "4": V4}
    assert body["newest_version"] == "4.0.0"
    participant = Participant.objects.get(domain="dso9.example.com")
    assert participant.endpoint_for_major(4) == V4


def test_without_them_the_defaults_derive_the_endpoints(admin_client):
    response = admin_client.post(
        URL,
        {
            "domain": "dso9.example.com",
            "role": "DSO",
            "public_keys": [keys.generate_keypair()[1]],
            "endpoint_url": V3,
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["newest_version"] == "3.1.0"
    assert body["endpoints_by_major"]["4"] == "https://dso9.example.com/shapeshifter/api/v4/message"


def test_patch_sets_and_keeps_them(admin_client, make_participant):
    participant, _ = make_participant("dso9.example.com", "DSO", endpoint_url=V3)
    url = f"{URL}{participant.pk}/"
    assert admin_client.patch(url, {"newest_version": "4.0.0"}, format="json").status_code == 200
    assert admin_client.patch(url, {"endpoints": {"4": V4}}, format="json").status_code == 200
    participant.refresh_from_db()
    assert (participant.newest_version, participant.endpoints) == ("4.0.0", {"4": V4})


def test_unknown_major_unsupported_version_and_bad_url_are_400(admin_client, make_participant):
    participant, _ = make_participant("dso9.example.com", "DSO", endpoint_url=V3)
    url = f"{URL}{participant.pk}/"
    for change, field in (
        ({"endpoints": {"7": V4}}, "endpoints"),
        ({"endpoints": {"4": "ftp://x.example.com/"}}, "endpoints"),
        ({"newest_version": "3.2.0"}, "newest_version"),
    ):
        response = admin_client.patch(url, change, format="json")
        assert response.status_code == 400, change
        assert field in response.json(), response.json()
    participant.refresh_from_db()
    assert (participant.newest_version, participant.endpoints) == ("3.1.0", {})
