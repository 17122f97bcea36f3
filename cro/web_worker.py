"""gunicorn's threaded worker, with keep-alive that costs little for a client who closes.

With keep-alive, a client that reuses its connection (a proxy, a load balancer, wrk) skips
the TCP handshake and the close of every request. gunicorn's `gthread` worker returns each
kept-alive connection to its main loop's poller; when the connection becomes readable, the
main loop hands it to a thread to read the next request, and when the client only closed it
(what the peers' client does after every 200), the thread finds nothing and hands it back to
the main loop to close: two hand-offs between threads for nothing. Here the main loop peeks
first and closes such a connection itself. Without keep-alive gthread's main loop waits
instead for each client to close, which costs about the same.

A new connection whose request is there already (the client sends it with its handshake)
also skips the selector gthread builds per connection to wait for it.

Measured (the CRO's gunicorn alone, 2 processes, /health/live, server CPU per request): 8
threads that open a connection, ask once and close it cost 0.92-1.03 ms with gthread without
keep-alive, 0.97-1.11 with gthread's keep-alive and 0.91-0.99 here (with requests as the
client, as the peers' client is, 1.19-1.25 without keep-alive and 1.23-1.29 here); wrk reusing
16 connections cost 0.81-0.85 ms without keep-alive and 0.63-0.70 with it. Selected in
gunicorn.conf.py (`WEB_WORKER_CLASS`); README "Performance".
"""

from __future__ import annotations

import socket

from gunicorn.workers.gthread import ThreadWorker


class KeepAliveThreadWorker(ThreadWorker):
    """`gthread`, closing on its main loop the kept-alive connections their clients closed."""

    def on_client_socket_readable(self, conn, client) -> None:
        if self.cfg.is_ssl or not closed_by_client(conn.sock):
            # A request (or TLS, whose records cannot be peeked at): a thread reads it.
            super().on_client_socket_readable(conn, client)
            return
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self.nr_conns -= 1
        conn.close()  # nothing is left to send, nor to drain: the client's FIN is all that came

    def handle(self, conn):
        if not conn.initialized and not conn.data_ready and not self.cfg.is_ssl:
            conn.data_ready = readable_now(conn.sock)
        return super().handle(conn)


def closed_by_client(sock: socket.socket) -> bool:
    """Whether the client closed `sock` (or reset it) and sent nothing more."""
    return _waiting(sock) == b""


def readable_now(sock: socket.socket) -> bool:
    """Whether bytes, or the client's close, wait on `sock` now."""
    return _waiting(sock) is not None


def _waiting(sock: socket.socket) -> bytes | None:
    """The first byte waiting on `sock`, left there; b"" for the client's close (or a reset:
    the thread's read meets the error and handles it as gthread does); None when nothing waits
    (on the main loop, a spurious wake-up: a thread then waits for the request, as in gthread)."""
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return None
    except OSError:
        return b""
