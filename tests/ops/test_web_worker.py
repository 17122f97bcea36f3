"""cro/web_worker.py: the gthread worker's main loop closes the kept-alive connections their
clients closed, and hands every other readable one to a thread as gthread does.

The worker's main-loop callback and its handle() are called on real loopback sockets; the
thread pool is replaced by a recorder (the rest of gthread's loop is gunicorn's own, served
for real by the e2e tests in tests/e2e/test_http.py).
"""

from __future__ import annotations

import selectors
import socket
import struct
from collections import deque
from types import SimpleNamespace

import pytest
from gunicorn.workers.gthread import TConn, ThreadWorker

from cro.web_worker import KeepAliveThreadWorker, closed_by_client, readable_now


@pytest.fixture
def connected():
    """A loopback TCP connection: (client side, server side)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    yield client, server
    client.close()
    server.close()


class Worker(KeepAliveThreadWorker):
    """The worker's state as its main loop holds it, without a process around it."""

    def __init__(self, *, is_ssl: bool = False):  # noqa: D107 - gunicorn's __init__ needs an arbiter
        self.cfg = SimpleNamespace(is_ssl=is_ssl, keepalive=2)
        self.poller = selectors.DefaultSelector()
        self.keepalived_conns = deque()
        self.nr_conns = 0
        self.enqueued = []

    def enqueue_req(self, conn):
        self.enqueued.append(conn)

    def keep_alive(self, server: socket.socket) -> TConn:
        """`server` as finish_request leaves a kept-alive connection: on the poller, not blocking."""
        conn = TConn(self.cfg, server, ("127.0.0.1", 0), ("127.0.0.1", 0))
        self.keepalived_conns.append(conn)
        self.poller.register(server, selectors.EVENT_READ, None)
        self.nr_conns += 1
        return conn


def test_a_connection_its_client_closed_is_closed_on_the_main_loop(connected):
    client, server = connected
    worker = Worker()
    conn = worker.keep_alive(server)
    client.close()
    worker.on_client_socket_readable(conn, server)
    assert worker.enqueued == []  # no thread hand-off
    assert server.fileno() == -1
    assert worker.nr_conns == 0
    assert not worker.keepalived_conns
    assert not worker.poller.get_map()


def test_a_reset_connection_is_closed_on_the_main_loop(connected):
    client, server = connected
    worker = Worker()
    conn = worker.keep_alive(server)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()  # RST
    worker.on_client_socket_readable(conn, server)
    assert worker.enqueued == []
    assert server.fileno() == -1
    assert worker.nr_conns == 0


@pytest.mark.parametrize("sent", [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"G"])
def test_the_next_request_goes_to_a_thread(connected, sent):
    client, server = connected
    worker = Worker()
    conn = worker.keep_alive(server)
    client.sendall(sent)
    worker.on_client_socket_readable(conn, server)
    assert worker.enqueued == [conn]
    assert server.fileno() != -1
    assert worker.nr_conns == 1  # still open, now the thread's
    assert not worker.keepalived_conns
    assert not worker.poller.get_map()
    assert server.recv(100, socket.MSG_PEEK) == sent  # the peek consumed nothing


def test_a_request_sent_with_the_close_still_goes_to_a_thread(connected):
    """A client that sends its last request and closes (half-close) is answered."""
    client, server = connected
    worker = Worker()
    conn = worker.keep_alive(server)
    client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    client.shutdown(socket.SHUT_WR)
    worker.on_client_socket_readable(conn, server)
    assert worker.enqueued == [conn]


def test_a_spurious_wake_up_goes_to_a_thread_as_in_gthread(connected):
    _, server = connected
    worker = Worker()
    conn = worker.keep_alive(server)
    worker.on_client_socket_readable(conn, server)
    assert worker.enqueued == [conn]
    assert server.fileno() != -1


def test_tls_connections_are_not_peeked_at(connected):
    client, server = connected
    worker = Worker(is_ssl=True)
    conn = worker.keep_alive(server)
    client.close()
    worker.on_client_socket_readable(conn, server)
    assert worker.enqueued == [conn]  # gthread's own path: a thread reads and closes


@pytest.mark.parametrize(
    ("send", "close", "expected"), [(False, False, False), (True, False, True), (False, True, True)]
)
def test_a_new_connection_with_its_request_there_needs_no_wait(connected, monkeypatch, send, close, expected):
    """handle() marks a new connection ready when bytes (or the close) are there, so gthread skips
    building a selector to wait for them; otherwise gthread waits as before."""
    client, server = connected
    seen = []
    monkeypatch.setattr(ThreadWorker, "handle", lambda self, conn: seen.append(conn.data_ready) or False)
    if send:
        client.sendall(b"GET / HTTP/1.1\r\n")
    if close:
        client.close()
    worker = Worker()
    conn = TConn(worker.cfg, server, ("127.0.0.1", 0), ("127.0.0.1", 0))
    assert worker.handle(conn) is False
    assert seen == [expected]
    assert readable_now(server) is expected
    if send:
        assert server.recv(100) == b"GET / HTTP/1.1\r\n"  # nothing consumed


def test_closed_by_client_on_a_socket_that_is_gone():
    sock = socket.socket()
    sock.close()
    assert closed_by_client(sock) is True
