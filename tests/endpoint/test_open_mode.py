"""Open mode (cro-rules §7): unknown senders' keys and endpoints come from a real DNS server."""

import pytest
from django.core.cache import cache
from django.test import Client

from registry.models import Message, Participant
from registry.uftp import keys
from tests import factories
from tests.dns_server import DnsServer

URL = "/shapeshifter/api/v3/message"
DSO = "dso9.example.com"


@pytest.fixture
def open_mode(settings):
    settings.CRO_MODE = "open"
    settings.CRO_DNS_TIMEOUT_SECONDS = 2
    cache.clear()
    yield settings
    cache.clear()


def dns_server(public_key: str | None, *, cs1: str | None = None) -> DnsServer:
    """A DNS server publishing DSO's key (or `cs1` as given), endpoint host and version."""
    server = DnsServer()
    if public_key or cs1:
        server.add_participant(
            domain=DSO, role="DSO", cs1=cs1 or keys.to_cs1(public_key), host="uftp.dso9.example.com"
        )
    return server


def post(body: bytes):
    return Client().post(URL, data=body, content_type="text/xml")


def test_unknown_sender_is_found_in_dns_and_recorded(db, open_mode, keypair):
    private_key, public_key = keypair
    with dns_server(public_key) as server:
        open_mode.CRO_DNS_NAMESERVERS = [server.nameserver]
        body = factories.signed(factories.test_message(sender=DSO), role="DSO", private_key=private_key)
        assert post(body).status_code == 200
    participant = Participant.objects.get(domain=DSO, role="DSO")
    assert participant.source == "dns"
    assert participant.public_key == public_key
    assert participant.endpoint_url == "https://uftp.dso9.example.com/shapeshifter/api/v3/message"
    assert Message.objects.get().participant == participant


def test_dns_answers_are_cached(db, open_mode, keypair):
    private_key, public_key = keypair
    with dns_server(public_key) as server:
        open_mode.CRO_DNS_NAMESERVERS = [server.nameserver]
        # A wrong signature: nothing is recorded, so the second message needs DNS again (cached).
        wrong = factories.signed(
            factories.test_message(sender=DSO), role="DSO", private_key=keys.generate_keypair()[0]
        )
        assert post(wrong).status_code == 401
        asked = len(server.queries)
        assert post(wrong).status_code == 401
        assert len(server.queries) == asked == 3
    assert not Participant.objects.exists()


def test_missing_dns_records_are_419(db, open_mode, keypair):
    with dns_server(None) as server:
        open_mode.CRO_DNS_NAMESERVERS = [server.nameserver]
        body = factories.signed(factories.test_message(sender=DSO), role="DSO", private_key=keypair[0])
        response = post(body)
    assert response.status_code == 419
    assert not Participant.objects.exists()


def test_unusable_dns_key_is_419(db, open_mode, keypair):
    with dns_server(None, cs1="cs1.not-a-key") as server:
        open_mode.CRO_DNS_NAMESERVERS = [server.nameserver]
        body = factories.signed(factories.test_message(sender=DSO), role="DSO", private_key=keypair[0])
        assert post(body).status_code == 419


def test_closed_mode_never_asks_dns(db, settings, keypair):
    settings.CRO_MODE = "closed"
    with dns_server(keypair[1]) as server:
        settings.CRO_DNS_NAMESERVERS = [server.nameserver]
        body = factories.signed(factories.test_message(sender=DSO), role="DSO", private_key=keypair[0])
        assert post(body).status_code == 401
        assert server.queries == []


def test_a_key_rotated_in_dns_is_followed(db, open_mode, keypair):
    old_private, old_public = keypair
    with dns_server(old_public) as server:
        open_mode.CRO_DNS_NAMESERVERS = [server.nameserver]
        first = factories.signed(factories.test_message(sender=DSO), role="DSO", private_key=old_private)
        assert post(first).status_code == 200
    new_private, new_public = keys.generate_keypair()
    cache.clear()  # the cached answer expired
    with dns_server(new_public) as server:
        open_mode.CRO_DNS_NAMESERVERS = [server.nameserver]
        rotated = factories.signed(factories.test_message(sender=DSO), role="DSO", private_key=new_private)
        assert post(rotated).status_code == 200
        # The previous key stays valid beside the new one.
        late = factories.signed(factories.test_message(sender=DSO), role="DSO", private_key=old_private)
        assert post(late).status_code == 200
    participant = Participant.objects.get(domain=DSO, role="DSO")
    assert participant.public_keys == [new_public, old_public]


def test_a_recorded_participant_is_served_when_dns_is_down(db, open_mode, keypair):
    private_key, public_key = keypair
    with dns_server(public_key) as server:
        open_mode.CRO_DNS_NAMESERVERS = [server.nameserver]
        assert (
            post(
                factories.signed(factories.test_message(sender=DSO), role="DSO", private_key=private_key)
            ).status_code
            == 200
        )
    cache.clear()
    open_mode.CRO_DNS_NAMESERVERS = ["127.0.0.1:9"]  # nothing answers there
    open_mode.CRO_DNS_TIMEOUT_SECONDS = 1
    body = factories.signed(factories.test_message(sender=DSO), role="DSO", private_key=private_key)
    assert post(body).status_code == 200


def test_completing_a_rotation_found_in_dns_keeps_the_new_key(db, open_mode, keypair):
    """DNS and an administrator's rotation give the previous key one meaning: the retiring one."""
    from registry.services.participants import participant_key_rotation_complete

    old_private, old_public = keypair
    with dns_server(old_public) as server:
        open_mode.CRO_DNS_NAMESERVERS = [server.nameserver]
        first = factories.signed(factories.test_message(sender=DSO), role="DSO", private_key=old_private)
        assert post(first).status_code == 200
    new_private, new_public = keys.generate_keypair()
    cache.clear()
    with dns_server(new_public) as server:
        open_mode.CRO_DNS_NAMESERVERS = [server.nameserver]
        rotated = factories.signed(factories.test_message(sender=DSO), role="DSO", private_key=new_private)
        assert post(rotated).status_code == 200
        participant = Participant.objects.get(domain=DSO, role="DSO")
        assert (participant.public_key, participant.public_key_previous) == (new_public, old_public)

        participant_key_rotation_complete(participant=participant)
        participant.refresh_from_db()
        assert participant.public_keys == [new_public]
        # The retired key no longer verifies; the new one does.
        late = factories.signed(factories.test_message(sender=DSO), role="DSO", private_key=old_private)
        assert post(late).status_code == 401
        again = factories.signed(factories.test_message(sender=DSO), role="DSO", private_key=new_private)
        assert post(again).status_code == 200
