"""services/peer_http.py, the deliveries' HTTP/1.1 client, against real loopback servers that
answer as scripted (every way an answer may be framed, and the ways it can go wrong), and over
TLS with a certificate made for the test."""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
import time

import pytest

from registry.services import peer_http
from registry.services.peer_http import PeerConnectionError, PeerOrigin, PeerTimeout

BODY = b"<SignedMessage/>" * 10


CLOSE = object()


class ScriptedPeer:
    """Serves each connection with `answer(request_number_on_this_connection, request)`, which
    returns the bytes to send back (the connection is kept), those bytes and CLOSE (sent, then
    the connection is closed), or None (closed without an answer)."""

    def __init__(self, answer, *, tls: ssl.SSLContext | None = None):
        self.answer = answer
        self.tls = tls
        self.connections = 0
        self.requests: list[bytes] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> ScriptedPeer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.listener.close()

    def origin(self, host: str = "127.0.0.1", scheme: str = "http") -> PeerOrigin:
        return PeerOrigin(scheme=scheme, host=host, port=self.port)

    def _serve(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._connection, args=(sock,), daemon=True).start()

    def _connection(self, sock: socket.socket) -> None:
        self.connections += 1
        try:
            if self.tls is not None:
                sock = self.tls.wrap_socket(sock, server_side=True)
            reader = sock.makefile("rb")
            number = 0
            while True:
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    line = reader.readline()
                    if not line:
                        return
                    head += line
                length = int(
                    next(
                        h.split(b":")[1]
                        for h in head.split(b"\r\n")
                        if h.lower().startswith(b"content-length")
                    )
                )
                request = head + reader.read(length)
                self.requests.append(request)
                number += 1
                reply = self.answer(number, request)
                if reply is None:
                    return
                if isinstance(reply, tuple):
                    sock.sendall(reply[0])
                    return
                sock.sendall(reply)
        except (OSError, ssl.SSLError):
            return
        finally:
            sock.close()


def ok(body: bytes = b"", extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


def test_a_post_is_sent_whole_and_its_answer_read():
    with ScriptedPeer(lambda n, r: ok(b"fine")) as peer:
        answer = peer.origin().post(
            "/shapeshifter/api/v3/message?a=b", body=BODY, content_type="text/xml", seconds=5
        )
    assert (answer.status, answer.data) == (200, b"fine")
    request = peer.requests[0]
    head, body = request.split(b"\r\n\r\n", 1)
    assert head.split(b"\r\n")[0] == b"POST /shapeshifter/api/v3/message?a=b HTTP/1.1"
    assert b"Host: 127.0.0.1:%d" % peer.port in head
    assert b"Content-Type: text/xml" in head
    assert body == BODY


def test_one_connection_serves_consecutive_posts():
    with ScriptedPeer(lambda n, r: ok()) as peer:
        origin = peer.origin()
        for _ in range(3):
            assert origin.post("/", body=BODY, content_type="text/xml", seconds=5).status == 200
    assert peer.connections == 1


@pytest.mark.parametrize(
    ("reply", "data"),
    [
        (
            b"HTTP/1.1 503 Busy\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nbusy\r\n4\r\n now\r\n0\r\nX-T: 1\r\n\r\n",
            b"busy now",
        ),
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", b"ok"),
        (b"HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n", b""),
        (b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nX-A: 1\r\n\r\n", b""),
    ],
)
def test_every_framing_of_a_kept_answer(reply, data):
    with ScriptedPeer(lambda n, r: reply) as peer:
        origin = peer.origin()
        first = origin.post("/", body=BODY, content_type="text/xml", seconds=5)
        second = origin.post("/", body=BODY, content_type="text/xml", seconds=5)
    assert first.data == second.data == data
    assert peer.connections == 1  # the framing was read exactly: the connection was kept


@pytest.mark.parametrize(
    "reply",
    [
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
    ],
)
def test_an_answer_that_closes_the_connection_is_followed_by_a_new_one(reply):
    with ScriptedPeer(lambda n, r: reply) as peer:
        origin = peer.origin()
        origin.post("/", body=BODY, content_type="text/xml", seconds=5)
        origin.post("/", body=BODY, content_type="text/xml", seconds=5)
    assert peer.connections == 2


def test_a_body_until_the_close():
    """No Content-Length, no chunks: the body ends where the peer closes; the connection is not kept."""
    with ScriptedPeer(lambda n, r: (b"HTTP/1.0 500 Oops\r\n\r\nno length", CLOSE)) as peer:
        origin = peer.origin()
        answer = origin.post("/", body=BODY, content_type="text/xml", seconds=5)
        assert (answer.status, answer.data) == (500, b"no length")
        assert origin.post("/", body=BODY, content_type="text/xml", seconds=5).status == 500
    assert peer.connections == 2


def test_a_kept_connection_the_peer_closed_while_idle_is_replaced():
    """The peer's idle timeout closed the kept connection: the next POST opens a new one instead
    of failing on the dead one (nothing is sent twice: the dead one got nothing)."""
    with ScriptedPeer(lambda n, r: (ok(), CLOSE)) as peer:  # announces keep-alive, then closes
        origin = peer.origin()
        assert origin.post("/", body=BODY, content_type="text/xml", seconds=5).status == 200
        time.sleep(0.2)  # the peer's FIN arrives
        assert origin.post("/", body=BODY, content_type="text/xml", seconds=5).status == 200
    assert peer.connections == 2
    assert len(peer.requests) == 2


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (None, "without answering"),
        ((b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", CLOSE), "before the whole answer"),
        ((b"HTTP/1.1 200 OK\r\nContent-", CLOSE), "before the whole answer"),
        (b"SSH-2.0-OpenSSH\r\n\r\n", "not an HTTP/1.x answer"),
        (b"HTTP/1.1 2000 OK\r\n\r\n", "not an HTTP/1.x answer"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "Content-Length"),
        (b"HTTP/1.1 200 OK\r\n no-name\r\n\r\n", "without a name"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "chunk size"),
        (b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 101 + b"\r\n", "more than 100 header lines"),
        (b"HTTP/1.1 200 " + b"x" * 9000 + b"\r\n\r\n", "longer than 8 KiB"),
        (b"HTTP/1.1 100 Continue\r\n\r\n" * 11 + ok(), "more than 10 interim answers"),
    ],
)
def test_a_broken_answer_is_a_connection_error_and_the_connection_is_dropped(reply, error):
    with ScriptedPeer(lambda n, r: reply if len(peer.requests) == 1 else ok()) as peer:
        origin = peer.origin()
        with pytest.raises(PeerConnectionError, match=error):
            origin.post("/", body=BODY, content_type="text/xml", seconds=5)
        assert origin._sock is None
        assert origin.post("/", body=BODY, content_type="text/xml", seconds=5).status == 200


def test_a_large_answer_is_cut_at_the_limit_and_its_connection_not_kept():
    big = b"x" * (peer_http.ANSWER_BODY_LIMIT + 10)
    chunked = b"HTTP/1.1 500 E\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(big), big)
    for reply in (ok(big), chunked):
        with ScriptedPeer(lambda n, r, reply=reply: reply) as peer:
            origin = peer.origin()
            answer = origin.post("/", body=BODY, content_type="text/xml", seconds=5)
            assert len(answer.data) <= peer_http.ANSWER_BODY_LIMIT
            assert origin._sock is None


def test_refused_and_silent_peers():
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(PeerConnectionError, match="connection refused"):
        PeerOrigin(scheme="http", host="127.0.0.1", port=port).post(
            "/", body=BODY, content_type="text/xml", seconds=5
        )
    with socket.create_server(("127.0.0.1", 0)) as silent:
        origin = PeerOrigin(scheme="http", host="127.0.0.1", port=silent.getsockname()[1])
        started = time.monotonic()
        with pytest.raises(PeerTimeout):
            origin.post("/", body=BODY, content_type="text/xml", seconds=0.5)
        assert time.monotonic() - started < 3


def test_a_target_with_characters_a_url_may_not_hold_is_percent_encoded():
    with ScriptedPeer(lambda n, r: ok()) as peer:
        peer.origin().post("/p\u00e4th with space?q=\u00fc", body=BODY, content_type="text/xml", seconds=5)
    assert peer.requests[0].split(b"\r\n")[0] == b"POST /p%C3%A4th%20with%20space?q=%C3%BC HTTP/1.1"


def test_origins_other_than_http_are_refused():
    with pytest.raises(ValueError, match="not an http"):
        PeerOrigin(scheme="ftp", host="peer.example", port=None)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for "localhost" (only), and its key."""
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def tls_peer(certificate):
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(*certificate)
    with ScriptedPeer(lambda n, r: ok(b"over tls"), tls=server) as peer:
        yield peer


def test_tls_checks_the_certificate_against_the_ca_bundle(tls_peer):
    """certifi's bundle does not hold the test's own certificate: refused, nothing posted."""
    with pytest.raises(PeerConnectionError, match="TLS certificate not accepted"):
        tls_peer.origin("localhost", "https").post("/", body=BODY, content_type="text/xml", seconds=5)
    assert tls_peer.requests == []


def test_tls_posts_to_a_trusted_peer_and_checks_its_name(tls_peer, certificate, monkeypatch):
    trusting = ssl.create_default_context(cafile=str(certificate[0]))
    monkeypatch.setattr(peer_http, "tls_context", lambda: trusting)
    origin = tls_peer.origin("localhost", "https")
    for _ in range(2):
        answer = origin.post("/", body=BODY, content_type="text/xml", seconds=5)
        assert (answer.status, answer.data) == (200, b"over tls")
    assert tls_peer.connections == 1
    assert tls_peer.requests[0].split(b"\r\n\r\n", 1)[1] == BODY
    # The certificate names "localhost", not the address.
    with pytest.raises(PeerConnectionError, match="TLS certificate not accepted"):
        tls_peer.origin("127.0.0.1", "https").post("/", body=BODY, content_type="text/xml", seconds=5)


def test_threads_sharing_an_origin_take_turns_on_its_connection():
    """Eager tasks or a threaded Celery pool may post to one origin at once: each answer is read
    by the thread whose request it answers."""

    def answer(n, request):
        time.sleep(0.005)  # the others' requests are sent meanwhile, were the connection not held
        return ok(request.rsplit(b"\r\n\r\n", 1)[1][-8:])

    with ScriptedPeer(answer) as peer:
        origin = peer.origin()
        answers: dict[int, bytes] = {}

        def post(number: int) -> None:
            for round_ in range(20):
                body = BODY + b"%04d%04d" % (number, round_)
                answers[number * 100 + round_] = origin.post(
                    "/", body=body, content_type="text/xml", seconds=5
                ).data

        threads = [threading.Thread(target=post, args=(number,)) for number in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert answers == {n * 100 + r: b"%04d%04d" % (n, r) for n in range(4) for r in range(20)}
