"""Delivery to a real HTTP server on loopback: redirects (cro-rules §6) and the endpoint per major (§2)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from registry.models import Message
from registry.models.participants import endpoint_url_for_major
from registry.services import outbound

DSO = "dso1.example.com"


class RoutingPeer:
    """Answers each path with its (status, Location) from `routes` (default 200); records every request."""

    def __init__(self, routes: dict[str, tuple[int, str | None]] | None = None):
        self.routes = dict(routes or {})
        self.requests: list[tuple[str, str, bytes]] = []
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length", 0) or 0)
                body = self.rfile.read(length) if length else b""
                peer.requests.append((self.command, self.path, body))
                status, location = peer.routes.get(self.path, (200, None))
                self.send_response(status)
                if location:
                    self.send_header("Location", location.replace("{base}", peer.base))
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_POST = do_GET = _answer  # noqa: N815 (http.server's naming)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self) -> RoutingPeer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


V3 = "/shapeshifter/api/v3/message"
V4 = "/shapeshifter/api/v4/message"


def send_test_message(make_participant, endpoint_url: str, *, version: str = "3.1.0", **extra) -> Message:
    participant, _ = make_participant(DSO, "DSO", endpoint_url=endpoint_url, **extra)
    message = outbound.participant_test_message_send(participant=participant, version=version)
    outbound.outbound_message_deliver(message_pk=message.pk)
    message.refresh_from_db()
    return message


@pytest.mark.parametrize("status", [307, 308])
def test_307_and_308_are_followed_with_the_same_method_and_body(make_participant, status):
    with RoutingPeer({V3: (status, "{base}/moved"), "/moved": (status, "/moved-again")}) as peer:
        message = send_test_message(make_participant, peer.base + V3)
    assert message.status == "delivered", message.last_error
    body = message.signed_xml.encode()
    assert peer.requests == [("POST", V3, body), ("POST", "/moved", body), ("POST", "/moved-again", body)]


def test_a_third_redirect_is_not_followed(make_participant):
    routes = {V3: (307, "/a"), "/a": (307, "/b"), "/b": (307, "/c")}
    with RoutingPeer(routes) as peer:
        message = send_test_message(make_participant, peer.base + V3)
    assert message.status == "failed"
    assert "more than 2 redirects" in message.last_error
    assert [path for _, path, _ in peer.requests] == [V3, "/a", "/b"]


@pytest.mark.parametrize("status", [301, 302, 303])
def test_301_302_303_fail_the_attempt_with_a_clear_reason(make_participant, status):
    with RoutingPeer({V3: (status, "/elsewhere")}) as peer:
        message = send_test_message(make_participant, peer.base + V3)
    assert message.status == "failed"
    assert f"HTTP {status} redirect" in message.last_error
    assert "only 307 and 308" in message.last_error
    assert [path for _, path, _ in peer.requests] == [V3]


@pytest.mark.parametrize(
    ("location", "reason"),
    [("file:///etc/passwd", "non-http(s)"), ("https://:443/no-host", "without a host")],
)
def test_a_redirect_to_a_url_that_cannot_be_posted_to_is_refused(make_participant, location, reason):
    with RoutingPeer({V3: (307, location)}) as peer:
        message = send_test_message(make_participant, peer.base + V3)
    assert message.status == "failed"
    assert reason in message.last_error
    assert len(peer.requests) == 1


def test_a_message_goes_to_the_endpoint_of_its_major_derived_by_the_path_convention(make_participant):
    with RoutingPeer() as peer:
        message = send_test_message(make_participant, peer.base + V3, version="4.0.0")
    assert message.status == "delivered", message.last_error
    assert [path for _, path, _ in peer.requests] == [V4]


def test_an_endpoint_recorded_for_a_major_wins_over_the_derived_one(make_participant):
    with RoutingPeer() as peer:
        v4_endpoint = peer.base + "/uftp-v4"
        four = send_test_message(
            make_participant, peer.base + V3, version="4.0.0", endpoints={"4": v4_endpoint}
        )
        three = outbound.participant_test_message_send(participant=four.participant, version="3.0.0")
        outbound.outbound_message_deliver(message_pk=three.pk)
    assert [path for _, path, _ in peer.requests] == ["/uftp-v4", V3]


def test_the_test_message_goes_out_in_the_newest_version_the_participant_speaks(make_participant):
    participant, _ = make_participant(DSO, "DSO", newest_version="4.0.0")
    assert outbound.participant_test_message_send(participant=participant).version == "4.0.0"
    other, _ = make_participant("dso2.example.com", "DSO")
    assert outbound.participant_test_message_send(participant=other).version == "3.1.0"


@pytest.mark.parametrize(
    ("recorded", "major", "expected"),
    [
        ("https://a.example/shapeshifter/api/v3/message", 4, "https://a.example/shapeshifter/api/v4/message"),
        (
            "https://a.example/x/shapeshifter/api/v4/message/",
            3,
            "https://a.example/x/shapeshifter/api/v3/message",
        ),
        ("https://a.example/shapeshifter/api/v3/message", 3, "https://a.example/shapeshifter/api/v3/message"),
        # Not the convention: the participant's one endpoint, kept as it is.
        ("https://a.example/uftp", 4, "https://a.example/uftp"),
    ],
)
def test_endpoint_derivation(recorded, major, expected):
    assert endpoint_url_for_major(recorded, major) == expected
