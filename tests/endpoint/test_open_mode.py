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


# ------------------------------------------------------------------------------ DNS rules (cro-rules §7)
def test_a_txt_record_with_two_keys_makes_both_valid(db, open_mode, keypair):
    old_private, old_public = keypair
    new_private, new_public = keys.generate_keypair()
    with dns_server(None, cs1=f"{keys.to_cs1(new_public)} {keys.to_cs1(old_public)}") as server:
        open_mode.CRO_DNS_NAMESERVERS = [server.nameserver]
        for private_key in (old_private, new_private, old_private):
            body = factories.signed(factories.test_message(sender=DSO), role="DSO", private_key=private_key)
            assert post(body).status_code == 200
        stranger = keys.generate_keypair()[0]
        body = factories.signed(factories.test_message(sender=DSO), role="DSO", private_key=stranger)
        assert post(body).status_code == 401
    participant = Participant.objects.get(domain=DSO, role="DSO")
    assert set(participant.public_keys) == {new_public, old_public}


def test_a_rotation_published_as_two_keys_makes_the_new_key_current(db, open_mode, keypair):
    old_private, old_public = keypair
    with dns_server(old_public) as server:
        open_mode.CRO_DNS_NAMESERVERS = [server.nameserver]
        body = factories.signed(factories.test_message(sender=DSO), role="DSO", private_key=old_private)
        assert post(body).status_code == 200
    cache.clear()
    new_private, new_public = keys.generate_keypair()
    with dns_server(None, cs1=f"{keys.to_cs1(old_public)} {keys.to_cs1(new_public)}") as server:
        open_mode.CRO_DNS_NAMESERVERS = [server.nameserver]
        body = factories.signed(factories.test_message(sender=DSO), role="DSO", private_key=new_private)
        assert post(body).status_code == 200
    participant = Participant.objects.get(domain=DSO, role="DSO")
    assert (participant.public_key, participant.public_key_previous) == (new_public, old_public)


def test_three_keys_in_the_txt_record_are_refused(db, open_mode, keypair):
    cs1 = " ".join(keys.to_cs1(keys.generate_keypair()[1]) for _ in range(3))
    with dns_server(None, cs1=cs1) as server:
        open_mode.CRO_DNS_NAMESERVERS = [server.nameserver]
        body = factories.signed(factories.test_message(sender=DSO), role="DSO", private_key=keypair[0])
        response = post(body)
    assert response.status_code == 419
    assert not Participant.objects.exists()


@pytest.fixture
def strict_dns(open_mode):
    """Production's DNS rules: DNSSEC required, endpoints https on port 443 and not internal."""
    open_mode.CRO_DNS_REQUIRE_DNSSEC = True
    open_mode.CRO_DNS_ALLOW_INTERNAL_ENDPOINTS = False
    open_mode.CRO_DNS_ENDPOINT_SCHEME = "http"  # ignored outside the tests' allowance
    return open_mode


def public_dns_server(public_key: str, *, host_address: str = "93.184.215.14") -> DnsServer:
    server = dns_server(public_key)
    server.add("uftp.dso9.example.com", "A", host_address)
    return server


def test_with_dnssec_required_an_answer_with_the_ad_flag_is_accepted(db, strict_dns, keypair):
    private_key, public_key = keypair
    with public_dns_server(public_key) as server:
        server.authenticated_data = True
        strict_dns.CRO_DNS_NAMESERVERS = [server.nameserver]
        body = factories.signed(factories.test_message(sender=DSO), role="DSO", private_key=private_key)
        assert post(body).status_code == 200
    participant = Participant.objects.get(domain=DSO, role="DSO")
    assert participant.endpoint_url == "https://uftp.dso9.example.com/shapeshifter/api/v3/message"


def test_with_dnssec_required_an_answer_without_the_ad_flag_is_refused(db, strict_dns, keypair):
    private_key, public_key = keypair
    with public_dns_server(public_key) as server:
        strict_dns.CRO_DNS_NAMESERVERS = [server.nameserver]
        body = factories.signed(factories.test_message(sender=DSO), role="DSO", private_key=private_key)
        response = post(body)
    assert response.status_code == 419
    assert b"not DNSSEC-validated (no AD flag)" in response.content
    assert not Participant.objects.exists()


def test_without_the_dnssec_setting_no_ad_flag_is_needed(db, strict_dns, keypair):
    strict_dns.CRO_DNS_REQUIRE_DNSSEC = False
    private_key, public_key = keypair
    with public_dns_server(public_key) as server:
        strict_dns.CRO_DNS_NAMESERVERS = [server.nameserver]
        body = factories.signed(factories.test_message(sender=DSO), role="DSO", private_key=private_key)
        assert post(body).status_code == 200


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "10.1.2.3", "192.168.0.7", "169.254.169.254", "::1", "fe80::1"]
)
def test_a_cname_to_an_internal_address_is_refused(db, strict_dns, keypair, address):
    private_key, public_key = keypair
    with dns_server(public_key) as server:
        server.authenticated_data = True
        server.add("uftp.dso9.example.com", "AAAA" if ":" in address else "A", address)
        strict_dns.CRO_DNS_NAMESERVERS = [server.nameserver]
        body = factories.signed(factories.test_message(sender=DSO), role="DSO", private_key=private_key)
        response = post(body)
    assert response.status_code == 419
    assert f"resolves to an internal address ({address})".encode() in response.content
    assert not Participant.objects.exists()


def test_a_cname_naming_127_0_0_1_itself_is_refused(db, strict_dns, keypair):
    private_key, public_key = keypair
    server = DnsServer()
    server.add_participant(domain=DSO, role="DSO", cs1=keys.to_cs1(public_key), host="127.0.0.1")
    with server:
        server.authenticated_data = True
        strict_dns.CRO_DNS_NAMESERVERS = [server.nameserver]
        body = factories.signed(factories.test_message(sender=DSO), role="DSO", private_key=private_key)
        response = post(body)
    assert response.status_code == 419
    assert b"internal address (127.0.0.1)" in response.content
    assert not Participant.objects.exists()


def test_the_refusal_names_the_internal_address(settings, keypair):
    from registry.services import discovery

    settings.CRO_DNS_REQUIRE_DNSSEC = False
    settings.CRO_DNS_ALLOW_INTERNAL_ENDPOINTS = False
    settings.CRO_DNS_TIMEOUT_SECONDS = 2
    cache.clear()
    with dns_server(keypair[1]) as server:
        server.add("uftp.dso9.example.com", "A", "127.0.0.1")
        settings.CRO_DNS_NAMESERVERS = [server.nameserver]
        with pytest.raises(discovery.DiscoveryError, match=r"internal address \(127\.0\.0\.1\)"):
            discovery.participant_discover(domain=DSO, role="DSO")
    cache.clear()
