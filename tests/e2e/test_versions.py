"""4.0.0 beside 3.1.0 through the running CRO (gunicorn + worker): a raw 4.0.0 peer, signing with
PyNaCl (the peer library stops at 3.1.0), and the library's 3.1.0 peers, each answered in its own
version at its own endpoint; and the worked example of cro-rules §8 in 4.0.0.

The raw peer builds its XML with ElementTree and checks what arrives against the official
xsd/latest (the test oracle), never with the CRO's own codec.
"""

import base64
import datetime as dt
import queue
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from nacl.signing import SigningKey, VerifyKey
from shapeshifter_uftp import TestMessage

from registry.models import Message, Participant
from tests.codec.oracle import HEAD_XSD, official_verdict, requires_official_xsd

from .peers import generate_keypair, post
from .processes import manage
from .uftp import CRO_DOMAIN, MARKET_ZONE, agr_view, check_response, dso_view, response_to, wait_db

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.redis, requires_official_xsd]

HEAD = "4.0.0"
V3_PATH = "/shapeshifter/api/v3/message"
V4_PATH = "/shapeshifter/api/v4/message"
CP1, CP2 = "ean.000000000001", "ean.000000000002"
C1, C2, C3, C4, C9 = (f"ean.10000000000{n}" for n in (1, 2, 3, 4, 9))
DSO1, DSO2, AGR_A, AGR_B = "dso1.example.com", "dso2.example.com", "agr-a.example.com", "agr-b.example.com"


class RawPeer:
    """A DSO or AGR with no peer library: ElementTree XML, PyNaCl signatures, an http.server endpoint.

    Its endpoint serves any path and records (path, inner XML) of every message the CRO posts.
    """

    def __init__(self, domain: str, role: str, *, cro):
        self.domain, self.role, self.cro = domain, role, cro
        self.private_key, self.public_key = generate_keypair()
        self.arrivals: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.seen: list[tuple[str, bytes]] = []
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                envelope = ET.fromstring(body)
                assert (envelope.get("SenderDomain"), envelope.get("SenderRole")) == (CRO_DOMAIN, "CRO")
                sealed = base64.b64decode(envelope.get("Body"))
                inner = VerifyKey(base64.b64decode(peer.cro.public_key)).verify(sealed)
                peer.arrivals.put((self.path, inner))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def recorded_endpoint(self) -> str:
        """The one endpoint registered: its v3 path; the CRO derives the v4 one from it."""
        return f"http://127.0.0.1:{self.server.server_address[1]}{V3_PATH}"

    def start(self) -> "RawPeer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def message(self, tag: str, *, version: str = HEAD, children=(), **attributes) -> ET.Element:
        root = ET.Element(
            tag,
            Version=version,
            SenderDomain=self.domain,
            RecipientDomain=CRO_DOMAIN,
            TimeStamp=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            MessageID=str(uuid.uuid4()),
            ConversationID=str(uuid.uuid4()),
            **attributes,
        )
        root.extend(children)
        return root

    def send(self, root: ET.Element, *, path: str = V4_PATH) -> ET.Element:
        inner = ET.tostring(root, encoding="utf-8", xml_declaration=False)
        if root.get("Version") == HEAD:
            valid, error = official_verdict(inner, version=HEAD_XSD)
            assert valid, f"the raw peer built an invalid {root.tag}: {error}"
        sealed = SigningKey(base64.b64decode(self.private_key)[:32]).sign(inner)
        envelope = ET.Element(
            "SignedMessage",
            SenderDomain=self.domain,
            SenderRole=self.role,
            Body=base64.b64encode(bytes(sealed)).decode("ascii"),
        )
        response = post(self.cro.web.base_url + path, ET.tostring(envelope, encoding="utf-8"))
        assert response.status_code == 200, response.text
        return root

    def answer_to(self, request: ET.Element, *, timeout: float = 30) -> tuple[str, ET.Element, bytes]:
        """(path it arrived at, root, inner XML) of the CRO's answer in `request`'s conversation."""
        deadline = time.monotonic() + timeout
        while True:
            for path, inner in self.seen:
                root = ET.fromstring(inner)
                if root.get("ConversationID") == request.get("ConversationID"):
                    return path, root, inner
            try:
                self.seen.append(self.arrivals.get(timeout=max(deadline - time.monotonic(), 0.01)))
            except queue.Empty:
                raise AssertionError(f"no answer to {request.tag} at {self.domain}") from None


def check_head_answer(request: ET.Element, path: str, root: ET.Element, inner: bytes, *, result: str) -> None:
    """A 4.0.0 answer: at the v4 endpoint, valid against xsd/latest, ReferenceMessageID and Result."""
    assert path == V4_PATH
    valid, error = official_verdict(inner, version=HEAD_XSD)
    if not (root.tag == "AGRPortfolioQueryResponse" and root.find("DSO-View/DSO-Portfolio") is None):
        # The one documented shape the XSD cannot express aside (README), every answer is valid.
        assert valid, f"{root.tag} not valid against xsd/latest: {error}"
    assert root.get("Version") == HEAD
    assert root.get("ReferenceMessageID") == request.get("MessageID")
    assert root.get("Result") == result, root.attrib
    assert root.get("ConversationID") == request.get("ConversationID")
    assert root.get("RecipientDomain") == request.get("SenderDomain")
    assert dt.datetime.fromisoformat(root.get("TimeStamp")).utcoffset() is not None


@pytest.fixture
def raw_peer(cro, transactional_db):
    """Start (and register, with one endpoint on its v3 path) raw peers for one test."""
    from registry.services.participants import participant_upsert

    started: list[RawPeer] = []

    def _make(domain: str, role: str) -> RawPeer:
        peer = RawPeer(domain, role, cro=cro).start()
        started.append(peer)
        participant_upsert(
            domain=domain, role=role, public_keys=[peer.public_key], endpoint_url=peer.recorded_endpoint
        )
        return peer

    yield _make
    for peer in started:
        peer.stop()


def connection(address: str, start: str, end: str | None = None) -> ET.Element:
    element = ET.Element("Connection", EntityAddress=address, StartPeriod=start)
    if end:
        element.set("EndPeriod", end)
    return element


def congestion_point(address: str, start: str, end: str | None, connections, **attributes) -> ET.Element:
    element = ET.Element("CongestionPoint", EntityAddress=address, StartPeriod=start, **attributes)
    if end:
        element.set("EndPeriod", end)
    element.extend(connections)
    return element


def test_a_raw_4_0_0_peer_and_a_3_1_0_library_peer_at_the_same_time(raw_peer, peers, cro):
    head = raw_peer("dso-head.example.com", "DSO")
    library = peers.agr_a
    results: dict[str, object] = {}

    def head_side():
        request = head.send(head.message("TestMessage"))
        results["head"] = (request, *head.answer_to(request))

    def library_side():
        message = library.send(TestMessage())
        results["library"] = (message, response_to(library, message, parsed=True))

    threads = [threading.Thread(target=side) for side in (head_side, library_side)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert set(results) == {"head", "library"}

    request, path, root, inner = results["head"]
    assert root.tag == "TestMessageResponse"
    check_head_answer(request, path, root, inner, result="Accepted")

    message, arrival = results["library"]
    check_response(arrival, message, recipient=AGR_A, result=None)
    assert arrival["Version"] == "3.1.0"
    assert "ReferenceMessageID" not in arrival.attrs

    # The same raw peer speaks 3.1.0 at /api/v3/ too: answered in 3.1.0 at its v3 endpoint.
    request = head.send(head.message("TestMessage", version="3.1.0"), path=V3_PATH)
    path, root, _ = head.answer_to(request)
    assert (path, root.get("Version")) == (V3_PATH, "3.1.0")
    assert "ReferenceMessageID" not in root.attrib

    # The CRO's own TestMessage goes out in the newest version the participant speaks.
    Participant.objects.filter(domain=head.domain).update(newest_version=HEAD)
    manage(["participant_test", "--domain", head.domain, "--role", "DSO"], env=cro.env)
    sent = Message.objects.get(direction="out", message_type="TestMessage", recipient_domain=head.domain)
    path, root, inner = head.answer_to(ET.Element("x", ConversationID=sent.conversation_id))
    assert (path, root.tag, root.get("Version")) == (V4_PATH, "TestMessage", HEAD)
    assert official_verdict(inner, version=HEAD_XSD)[0]


def test_worked_example_in_4_0_0(raw_peer):
    dso1, dso2 = raw_peer(DSO1, "DSO"), raw_peer(DSO2, "DSO")
    agr_a, agr_b = raw_peer(AGR_A, "AGR"), raw_peer(AGR_B, "AGR")
    cp1_attributes = {
        "MutexOffersSupported": "true",
        "DayAheadRedispatchBy": "DSO",
        "IntradayRedispatchBy": "AGR",
    }
    cp2_attributes = {"MutexOffersSupported": "false", "DayAheadRedispatchBy": "AGR"}
    updates = [
        (dso1, dso1.message("DSOPortfolioUpdate", TimeZone=MARKET_ZONE, children=[
            congestion_point(CP1, "2024-01-01", None, [
                connection(C1, "2024-01-01"), connection(C2, "2024-01-01", "2024-06-30"),
                connection(C3, "2024-07-01"),
            ], **cp1_attributes),
        ])),
        (dso2, dso2.message("DSOPortfolioUpdate", TimeZone=MARKET_ZONE, children=[
            congestion_point(CP2, "2024-03-01", "2024-12-31", [connection(C4, "2024-03-01", "2024-12-31")],
                             **cp2_attributes),
        ])),
        (agr_a, agr_a.message("AGRPortfolioUpdate", TimeZone=MARKET_ZONE, children=[
            connection(C1, "2024-01-01"), connection(C2, "2024-01-01"), connection(C9, "2024-01-01"),
            connection(C4, "2024-05-01"),
        ])),
        (agr_b, agr_b.message("AGRPortfolioUpdate", TimeZone=MARKET_ZONE, children=[connection(C3, "2024-07-01")])),
    ]  # fmt: skip
    for peer, request in updates:
        peer.send(request)
    for peer, request in updates:
        path, root, inner = peer.answer_to(request)
        assert root.tag == request.tag + "Response"
        check_head_answer(request, path, root, inner, result="Accepted")

    def agr_answer(peer, period: str):
        request = peer.send(peer.message("AGRPortfolioQuery", TimeZone=MARKET_ZONE, Period=period))
        path, root, inner = peer.answer_to(request)
        check_head_answer(request, path, root, inner, result="Accepted")
        assert (root.get("TimeZone"), root.get("Period")) == (MARKET_ZONE, period)
        return root

    assert agr_view(agr_answer(agr_a, "2024-06-15")) == (
        {DSO1: {CP1: (cp1_attributes, [C1, C2])}, DSO2: {CP2: (cp2_attributes, [C4])}},
        [C9],
    )
    assert agr_view(agr_answer(agr_a, "2024-07-15")) == (
        {DSO1: {CP1: (cp1_attributes, [C1])}, DSO2: {CP2: (cp2_attributes, [C4])}},
        [C2, C9],
    )
    assert agr_view(agr_answer(agr_a, "2025-01-10")) == ({DSO1: {CP1: (cp1_attributes, [C1])}}, [C2, C4, C9])

    request = dso1.send(
        dso1.message("DSOPortfolioQuery", TimeZone=MARKET_ZONE, Period="2024-07-15", EntityAddress=CP1)
    )
    path, root, inner = dso1.answer_to(request)
    check_head_answer(request, path, root, inner, result="Accepted")
    assert dso_view(root) == {C1: AGR_A, C3: AGR_B}

    request = dso2.send(
        dso2.message("DSOPortfolioQuery", TimeZone=MARKET_ZONE, Period="2024-07-15", EntityAddress=CP1)
    )
    path, root, inner = dso2.answer_to(request)
    check_head_answer(request, path, root, inner, result="Rejected")
    assert root.get("RejectionReason")
    assert dso_view(root) is None

    outbound = Message.objects.filter(direction=Message.Direction.OUTBOUND)
    wait_db(lambda: not outbound.exclude(status=Message.Status.DELIVERED).exists(), what="all delivered")
    assert set(outbound.values_list("version", flat=True)) == {HEAD}
