"""Every row of the HTTP table of cro-rules §2, over real HTTP to gunicorn.

Three CRO web instances share the test database and the session's Celery worker: the
session's (closed mode, default limits), a strict one (rate limit 3/min, 4 KiB messages) and
an open-mode one whose DNS is a tiny dnspython server on a loopback UDP port.
"""

import base64
import http.client
import socket
import time
import uuid

import pytest
from shapeshifter_uftp import TestMessage

from registry.models import Message, Participant
from registry.services.participants import participant_key_rotate
from registry.uftp import keys

from .conftest import register, start_proc, stop_proc
from .peers import DnsServer, fill_metadata, generate_keypair, post, signed_xml
from .processes import CroWeb
from .uftp import check_response, response_to, wait_db

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.redis]

STRICT_LIMIT = 3
STRICT_MAX_BYTES = 4096


@pytest.fixture(scope="module")
def strict_cro(cro):
    env = dict(
        cro.env,
        CRO_RATE_LIMIT_PER_MINUTE=str(STRICT_LIMIT),
        # The per-sender limit is under test here; every request comes from the loopback address.
        CRO_RATE_LIMIT_PER_ADDRESS_PER_MINUTE="1000",
        CRO_MAX_MESSAGE_BYTES=str(STRICT_MAX_BYTES),
    )
    web = start_proc(CroWeb(env=env, log_dir=cro.log_dir, workers=1, name="web-strict"))
    yield web
    stop_proc(web)


@pytest.fixture(scope="module")
def dns_server():
    server = DnsServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def open_cro(cro, dns_server):
    env = dict(
        cro.env,
        CRO_MODE="open",
        CRO_DNS_NAMESERVERS=dns_server.nameserver,
        CRO_DNS_TIMEOUT_SECONDS="1",
        CRO_DNS_ENDPOINT_SCHEME="http",
    )
    web = start_proc(CroWeb(env=env, log_dir=cro.log_dir, workers=1, name="web-open"))
    yield web
    stop_proc(web)


def signed_test_message(
    peer, *, private_key=None, sender_domain=None, role=None
) -> tuple[TestMessage, bytes]:
    message = fill_metadata(TestMessage(), sender_domain=peer.domain, recipient_domain="cro.example.com")
    data = signed_xml(
        message,
        private_key=private_key or peer.private_key,
        sender_domain=sender_domain or peer.domain,
        sender_role=role or peer.role,
    )
    return message, data


def stored(message_id: str) -> bool:
    return Message.objects.filter(direction="in", message_id=message_id).exists()


def chunked_post(port: int, body: bytes, content_type: str = "text/xml; charset=utf-8") -> tuple[int, bytes]:
    """POST with Transfer-Encoding: chunked, so the request has no Content-Length."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        conn.putrequest("POST", "/shapeshifter/api/v3/message")
        conn.putheader("Content-Type", content_type)
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        half = len(body) // 2
        for chunk in (body[:half], body[half:]):
            conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        conn.send(b"0\r\n\r\n")
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


# --------------------------------------------------------------------------- 411, 413, 400 content type


def test_411_without_content_length(peers, cro):
    message, data = signed_test_message(peers.dso1)
    status, _ = chunked_post(cro.web.port, data)
    assert status == 411
    # Before everything else: also with a wrong Content-Type.
    assert chunked_post(cro.web.port, data, content_type="application/json")[0] == 411
    assert not stored(message.message_id)


def test_413_larger_than_the_limit(peers, strict_cro):
    message, data = signed_test_message(peers.dso1)
    assert len(data) < STRICT_MAX_BYTES
    assert post(strict_cro.url, data).status_code == 200
    big = data + b" " * (STRICT_MAX_BYTES + 1 - len(data))
    response = post(strict_cro.url, big)
    assert response.status_code == 413, response.text
    # Before the Content-Type check.
    assert post(strict_cro.url, big, content_type="application/json").status_code == 413


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "text/plain", "text/xml; charset=iso-8859-1", "application/xml; charset=utf-16", ""],
)
def test_400_content_type_not_xml_or_not_utf8(peers, cro, content_type):
    message, data = signed_test_message(peers.dso1)
    response = post(cro.url, data, content_type=content_type)
    assert response.status_code == 400, response.text
    assert not stored(message.message_id)


@pytest.mark.parametrize(
    "content_type",
    [
        "text/xml",
        "application/xml",
        "text/xml; charset=utf-8",
        "application/xml;charset=UTF-8",
        "text/xml; charset=utf8",
    ],
)
def test_200_for_each_xml_content_type(peers, cro, content_type):
    message, data = signed_test_message(peers.dso1)
    response = post(cro.url, data, content_type=content_type)
    assert response.status_code == 200, response.text
    assert response.content == b""
    assert stored(message.message_id)
    check_response(response_to(peers.dso1, message), message, recipient=peers.dso1.domain, result=None)


# --------------------------------------------------------------------------- 429


def test_429_over_the_rate_limit(strict_cro, make_peer, transactional_db):
    peer = make_peer(f"rate{uuid.uuid4().hex[:8]}.example.com", "DSO", cro_url=strict_cro.url)
    register(peer)
    statuses = []
    for _ in range(2 * STRICT_LIMIT + 1):
        message, data = signed_test_message(peer)
        statuses.append(post(strict_cro.url, data).status_code)
    # Whatever minute boundary falls in between, one window got more than the limit.
    assert set(statuses) == {200, 429}, statuses
    assert statuses[:STRICT_LIMIT].count(200) >= 1
    assert statuses.count(200) <= 2 * STRICT_LIMIT
    if statuses[STRICT_LIMIT] == 429:  # the usual case: all in one minute
        assert statuses == [200] * STRICT_LIMIT + [429] * (STRICT_LIMIT + 1)
        # The sender's limit counts verified requests only: a forgery is 401, never 429.
        _, forged = signed_test_message(peer, private_key=generate_keypair()[0])
        assert post(strict_cro.url, forged).status_code == 401
    # Another sender is not limited.
    other = make_peer(f"rate{uuid.uuid4().hex[:8]}.example.com", "AGR", cro_url=strict_cro.url)
    register(other)
    assert post(strict_cro.url, signed_test_message(other)[1]).status_code == 200


# --------------------------------------------------------------------------- 400 outer XML


OUTER_BAD = {
    "not xml": b"this is not XML",
    "truncated": b'<SignedMessage SenderDomain="dso1.example.com" SenderRole="DSO" Body="AAAA"',
    "dtd with entity": (
        b'<?xml version="1.0"?><!DOCTYPE SignedMessage [<!ENTITY e "QUJD">]>'
        b'<SignedMessage SenderDomain="dso1.example.com" SenderRole="DSO" Body="&e;"/>'
    ),
    "billion laughs": (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">'
        b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;">]><SignedMessage SenderDomain="dso1.example.com" '
        b'SenderRole="DSO" Body="&lol3;"/>'
    ),
    "external entity": (
        b'<?xml version="1.0"?><!DOCTYPE SignedMessage [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<SignedMessage SenderDomain="dso1.example.com" SenderRole="DSO" Body="&x;"/>'
    ),
    "other root": b'<Message SenderDomain="dso1.example.com" SenderRole="DSO" Body="AAAA"/>',
    "no Body": b'<SignedMessage SenderDomain="dso1.example.com" SenderRole="DSO"/>',
    "Body not base64": b'<SignedMessage SenderDomain="dso1.example.com" SenderRole="DSO" Body="%%%not base64"/>',
    "unknown role": b'<SignedMessage SenderDomain="dso1.example.com" SenderRole="XYZ" Body="AAAA"/>',
    "namespace": b'<SignedMessage xmlns="urn:x" SenderDomain="dso1.example.com" SenderRole="DSO" Body="AAAA"/>',
}


@pytest.mark.parametrize("case", sorted(OUTER_BAD))
def test_400_invalid_signed_message(peers, cro, case):
    response = post(cro.url, OUTER_BAD[case])
    assert response.status_code == 400, (case, response.status_code, response.text)
    assert Message.objects.count() == 0


# --------------------------------------------------------------------------- 401


def test_401_unknown_sender_in_closed_mode(peers, cro):
    stranger_key, _ = generate_keypair()
    message = fill_metadata(TestMessage(), sender_domain="stranger.example.com", recipient_domain=cro.domain)
    data = signed_xml(
        message, private_key=stranger_key, sender_domain="stranger.example.com", sender_role="DSO"
    )
    assert post(cro.url, data).status_code == 401
    # A registered domain in a role it is not registered for is unknown too.
    _, data = signed_test_message(peers.dso1, role="AGR")
    assert post(cro.url, data).status_code == 401
    # A CRO never talks to a CRO.
    _, data = signed_test_message(peers.dso1, role="CRO")
    assert post(cro.url, data).status_code in (400, 401)
    assert Message.objects.count() == 0


def test_401_signature_does_not_verify(peers, cro):
    other_key, other_public = generate_keypair()
    message, data = signed_test_message(peers.dso1, private_key=other_key)
    assert post(cro.url, data).status_code == 401
    assert not stored(message.message_id)
    # Tampered body: the signature no longer covers it.
    _, good = signed_test_message(peers.dso1)
    text = good.decode()
    start = text.index('Body="') + len('Body="')
    end = text.index('"', start)
    raw = bytearray(base64.b64decode(text[start:end]))
    raw[-10] ^= 0x01
    tampered = (text[:start] + base64.b64encode(bytes(raw)).decode() + text[end:]).encode()
    assert post(cro.url, tampered).status_code == 401
    # During a key rotation both keys verify.
    participant_key_rotate(
        participant=Participant.objects.get(domain=peers.dso1.domain, role="DSO"), new_public_key=other_public
    )
    message, data = signed_test_message(peers.dso1, private_key=other_key)
    assert post(cro.url, data).status_code == 200
    message, data = signed_test_message(peers.dso1)
    assert post(cro.url, data).status_code == 200


# --------------------------------------------------------------------------- 400 inner XML


def _inner(peer, body: bytes) -> bytes:
    return signed_xml(body, private_key=peer.private_key, sender_domain=peer.domain, sender_role=peer.role)


def _meta(peer) -> str:
    return (
        f'Version="3.1.0" SenderDomain="{peer.domain}" RecipientDomain="cro.example.com" '
        f'TimeStamp="2024-06-01T10:00:00+02:00" MessageID="{uuid.uuid4()}" ConversationID="{uuid.uuid4()}"'
    )


def test_400_inner_message_invalid(peers, cro):
    dso = peers.dso1
    cases = {
        "not xml": b"definitely not xml",
        "dtd": b'<!DOCTYPE TestMessage [<!ENTITY e "x">]><TestMessage ' + _meta(dso).encode() + b"/>",
        "schema: no Period": f'<DSOPortfolioQuery {_meta(dso)} TimeZone="Europe/Amsterdam" EntityAddress="ean.000000000001"/>'.encode(),
        "schema: bad date": f'<AGRPortfolioQuery {_meta(dso)} TimeZone="Europe/Amsterdam" Period="2024-13-45"/>'.encode(),
        "schema: unknown attribute": f'<TestMessage {_meta(dso)} Colour="blue"/>'.encode(),
        "not a CRO message: FlexRequest": (
            f'<FlexRequest {_meta(dso)} ISP-Duration="PT15M" TimeZone="Europe/Amsterdam" Period="2024-06-15" '
            f'CongestionPoint="ean.000000000001" Revision="1" ExpirationDateTime="2024-06-14T12:00:00+02:00" '
            f'ContractID="c1" ServiceType="x"><ISP Disposition="Requested" MinPower="0" MaxPower="100" Start="1"/>'
            f"</FlexRequest>"
        ).encode(),
        "not a CRO message: response": (
            f'<DSOPortfolioUpdateResponse {_meta(dso)} Result="Accepted" '
            f'DSOPortfolioUpdateResponseMessageID="{uuid.uuid4()}"/>'
        ).encode(),
    }  # fmt: skip
    for case, body in cases.items():
        response = post(cro.url, _inner(dso, body))
        assert response.status_code == 400, (case, response.status_code, response.text)
    assert Message.objects.count() == 0


def test_400_for_an_unknown_major_version(peers, cro):
    # Not 404, which peers retry as temporary (cro-rules §2); /v03/ is no spelling of /v3/.
    _, data = signed_test_message(peers.dso1)
    for segment in ("/v9/", "/v03/"):
        assert post(cro.url.replace("/v3/", segment), data).status_code == 400


def test_200_empty_body_and_stored(peers, cro):
    message, data = signed_test_message(peers.dso1)
    response = post(cro.url, data)
    assert response.status_code == 200
    assert response.content == b""
    row = Message.objects.get(direction="in", message_id=message.message_id)
    assert row.signed_xml.encode() == data
    assert row.message_type == "TestMessage"
    check_response(response_to(peers.dso1, message), message, recipient=peers.dso1.domain, result=None)


# --------------------------------------------------------------------------- open mode


@pytest.mark.parametrize("behaviour", ["servfail", "nxdomain", "drop"])
def test_419_open_mode_dns_fails(open_cro, dns_server, transactional_db, behaviour):
    domain = f"{behaviour}{uuid.uuid4().hex[:6]}.example.com"
    dns_server.behaviour[domain] = behaviour
    private_key, _ = generate_keypair()
    message = fill_metadata(TestMessage(), sender_domain=domain, recipient_domain="cro.example.com")
    data = signed_xml(message, private_key=private_key, sender_domain=domain, sender_role="DSO")
    started = time.monotonic()
    response = post(open_cro.url, data)
    assert response.status_code == 419, response.text
    if behaviour == "drop":
        assert time.monotonic() - started < 10  # CRO_DNS_TIMEOUT_SECONDS=1
    assert any(name.endswith(domain + ".") for name, _ in dns_server.queries)
    assert not Participant.objects.filter(domain=domain).exists()
    assert not stored(message.message_id)


def _port_80_free() -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", 80))
        except OSError:
            return False
    return True


def test_open_mode_first_contact_from_dns(open_cro, dns_server, make_peer, transactional_db, cro):
    """An unknown DSO published in DNS: 200, recorded on first contact, answered at its endpoint.

    A CNAME carries no port: the endpoint is http://<target>/shapeshifter/api/v3/message, so the
    peer's service listens on 127.0.0.1:80 (we run as root).
    """
    domain = f"open{uuid.uuid4().hex[:6]}.example.com"
    can_listen = _port_80_free()
    peer = make_peer(domain, "DSO", cro_url=open_cro.url, port=80 if can_listen else None, start=can_listen)
    dns_server.add_participant(domain=domain, role="DSO", cs1=keys.to_cs1(peer.public_key), host="127.0.0.1")

    message = peer.send(TestMessage())  # the library's client, over HTTP to the open-mode CRO
    participant = Participant.objects.get(domain=domain, role="DSO")
    assert participant.source == Participant.Source.DNS
    assert participant.public_key == peer.public_key
    assert participant.endpoint_url == "http://127.0.0.1/shapeshifter/api/v3/message"
    assert stored(message.message_id)
    # A forged message under the same domain does not verify against the key from DNS.
    forged = fill_metadata(TestMessage(), sender_domain=domain, recipient_domain="cro.example.com")
    data = signed_xml(forged, private_key=generate_keypair()[0], sender_domain=domain, sender_role="DSO")
    assert post(open_cro.url, data).status_code == 401
    if not can_listen:
        pytest.skip("127.0.0.1:80 is taken: the DNS key part is checked, the delivery to port 80 is not")
    arrival = response_to(peer, message, parsed=True)
    check_response(arrival, message, recipient=domain, result=None)
    row = wait_db(
        lambda: Message.objects.filter(
            direction="out", request__message_id=message.message_id, status="delivered"
        ).first(),
        what="delivery to the DNS endpoint",
    )
    assert row.participant_id == participant.pk


def _read_response(sock: socket.socket) -> bytes:
    """One HTTP response's head from `sock`, its body (Content-Length) read and dropped."""
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(65536)
        assert chunk, f"the server closed the connection mid-response: {received!r}"
        received += chunk
    head, body = received.split(b"\r\n\r\n", 1)
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.lower().split(b"\r\n")
        if line.startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    assert len(body) == length, "a second response came unasked"
    return head.lower()


def _closed_by_server_within(sock: socket.socket, seconds: float) -> float:
    """Seconds until the server closed `sock` (it sends nothing more); fails after `seconds`."""
    sock.settimeout(seconds)
    started = time.monotonic()
    try:
        assert sock.recv(1) == b"", "the server sent more on an idle connection"
    except TimeoutError:
        pytest.fail(f"the connection stayed open for {seconds} s")
    return time.monotonic() - started


GET_LIVE = b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def test_a_connection_is_kept_alive_and_closed_when_idle(cro):
    """gunicorn.conf.py: keep-alive (WEB_KEEPALIVE, 2 s by default) served by cro.web_worker: the
    next request on the connection is answered, an idle connection is closed after the keep-alive."""
    assert "Using worker: cro.web_worker.KeepAliveThreadWorker" in cro.web.log_text()
    with socket.create_connection(("127.0.0.1", cro.web.port), timeout=10) as sock:
        for _ in range(3):
            sock.sendall(GET_LIVE)
            head = _read_response(sock)
            assert head.startswith(b"http/1.1 200")
            assert b"connection: keep-alive" in head
        idle = _closed_by_server_within(sock, 10)
    assert 1 <= idle <= 6


def test_a_kept_alive_connection_its_client_closed_is_closed_at_once(cro):
    """The client's FIN on a kept-alive connection (what the peers' client sends after every 200)
    is answered by the server's close at once, not after the keep-alive, and the server serves on."""
    for _ in range(20):
        with socket.create_connection(("127.0.0.1", cro.web.port), timeout=10) as sock:
            sock.sendall(GET_LIVE)
            assert _read_response(sock).startswith(b"http/1.1 200")
            time.sleep(0.05)  # the connection waits on the worker's poller now
            sock.shutdown(socket.SHUT_WR)
            assert _closed_by_server_within(sock, 10) < 1


def test_connection_close_from_the_client_is_honoured(cro):
    with socket.create_connection(("127.0.0.1", cro.web.port), timeout=10) as sock:
        sock.sendall(GET_LIVE.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
        head = _read_response(sock)
        assert head.startswith(b"http/1.1 200")
        assert b"connection: close" in head
        assert _closed_by_server_within(sock, 10) < 1
