"""cro/body_deadline.py without gunicorn: a socket pair stands for a client's connection.

The server side is read as gunicorn's body reader reads it (a buffered stream that loops over
recv() until it has what it was asked for). tests/ops/test_slow_clients.py checks the same
through a real gunicorn.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from cro import body_deadline
from cro.body_deadline import BodyDeadline

BODY = b"<SignedMessage/>" * 64


@pytest.fixture
def connection_pair():
    server, client = socket.socketpair()
    server.settimeout(30)  # a broken deadline fails the test instead of hanging it
    yield server, client
    server.close()
    client.close()


def serve(server: socket.socket, *, length: int, seconds: float) -> tuple[str, bytes]:
    """One request through the middleware: its status and the body the application saw."""
    seen = {}

    def app(environ, start_response):
        seen["body"] = environ["wsgi.input"].read()
        start_response("200 OK", [])
        return [b""]

    answer = {}

    def start_response(status, headers, exc_info=None):
        answer["status"] = status

    environ = {
        "gunicorn.socket": server,
        "CONTENT_LENGTH": str(length),
        "wsgi.input": server.makefile("rb"),
    }
    b"".join(BodyDeadline(app, seconds=seconds)(environ, start_response))
    return answer["status"], seen.get("body", b"")


def test_a_whole_body_reaches_the_application(connection_pair):
    server, client = connection_pair
    client.sendall(BODY)
    assert serve(server, length=len(BODY), seconds=30) == ("200 OK", BODY)


def test_a_body_that_stops_coming_is_cut_at_the_deadline_408(connection_pair):
    server, client = connection_pair
    client.sendall(BODY[:100])  # and then nothing: the connection stays open
    status, _ = serve(server, length=len(BODY), seconds=0.3)
    assert status.startswith("408")


def test_a_body_shorter_than_its_content_length_is_400(connection_pair):
    server, client = connection_pair
    client.sendall(BODY[:100])
    client.shutdown(socket.SHUT_WR)  # the client gave up
    status, _ = serve(server, length=len(BODY), seconds=30)
    assert status.startswith("400")


def test_a_body_read_in_time_is_never_cut_afterwards(connection_pair):
    """The connection goes on (keep-alive): its next request must still be readable after the
    first one's deadline has passed."""
    server, client = connection_pair
    client.sendall(BODY)
    assert serve(server, length=len(BODY), seconds=0.2)[0] == "200 OK"
    threading.Event().wait(0.5)  # past its deadline
    client.sendall(b"next request")
    assert server.recv(100) == b"next request"


def test_no_thread_is_started_per_request(connection_pair, monkeypatch):
    """A thread per request cost as much CPU as storing the message: one watchdog serves all."""
    server, client = connection_pair
    client.sendall(BODY)
    assert serve(server, length=len(BODY), seconds=30)[0] == "200 OK"  # the watchdog runs now
    started = []
    original = threading.Thread.start
    monkeypatch.setattr(threading.Thread, "start", lambda thread: started.append(thread) or original(thread))
    for _ in range(5):
        client.sendall(BODY)
        assert serve(server, length=len(BODY), seconds=30)[0] == "200 OK"
    assert started == []
    assert body_deadline._watchdog._deadlines == []  # nothing left behind


def test_the_watchdog_is_not_woken_per_request(connection_pair, monkeypatch):
    """Every body gets the same time, so a new deadline is never due before the watchdog looks
    next: waking it per request cost about a tenth of a web process's CPU."""
    server, client = connection_pair
    client.sendall(BODY)
    assert serve(server, length=len(BODY), seconds=30)[0] == "200 OK"  # the watchdog runs now
    wake_ups = []
    original = body_deadline._watchdog._due.notify
    monkeypatch.setattr(body_deadline._watchdog._due, "notify", lambda *a: wake_ups.append(a) or original(*a))
    for _ in range(5):
        client.sendall(BODY)
        assert serve(server, length=len(BODY), seconds=30)[0] == "200 OK"
    assert wake_ups == []


def test_a_deadline_due_before_the_watchdog_looks_wakes_it(connection_pair):
    """The watchdog waits for the 30 s deadline of a body read long ago: a body with a shorter
    deadline that stops coming is still cut at its own deadline."""
    server, client = connection_pair
    client.sendall(BODY)
    assert serve(server, length=len(BODY), seconds=30)[0] == "200 OK"
    client.sendall(BODY[:100])
    began = time.monotonic()
    status, _ = serve(server, length=len(BODY), seconds=0.3)
    assert status.startswith("408")
    assert time.monotonic() - began < 5  # not at the watchdog's next look, 30 s on
