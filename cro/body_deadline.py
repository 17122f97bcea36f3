"""Slow clients must not hold the web tier: a request body must arrive within a deadline.

gunicorn reads a request body from the socket as the application asks for it, on the thread that
serves the request; a client trickling its body would hold that thread for as long as it likes
(slowloris). This WSGI middleware reads the whole body first (spooled to disk when large), and
when the deadline passes the socket's read side is cut: the client is answered 408 and the
thread is free again. A body shorter than its Content-Length (the client gave up) is answered 400
and never reaches the application. Without gunicorn (no `gunicorn.socket`) it does nothing.

One watchdog thread per process cuts the sockets whose deadline passed (a thread started per
request cost about as much CPU as storing the message). A timeout on the socket would not do:
gunicorn's body reader loops over recv() until it has what it was asked for, so a client sending
a byte now and then never lets one recv() time out.

In production a buffering reverse proxy (nginx) in front does this for every request (README).
"""

from __future__ import annotations

import heapq
import itertools
import os
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterable

_CHUNK = 64 * 1024
# How often the watchdog of an idle process looks at its (empty) list of deadlines.
IDLE_LOOK_SECONDS = 1.0
_SPOOL_IN_MEMORY = 1024 * 1024


class BodyDeadline:
    def __init__(self, app: Callable, *, seconds: float):
        self.app = app
        self.seconds = seconds

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        sock = environ.get("gunicorn.socket")
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if sock is None or length <= 0 or self.seconds <= 0:
            return self.app(environ, start_response)
        body, complete, timed_out = self._read_body(environ["wsgi.input"], sock, length)
        if not complete:
            body.close()
            if timed_out:
                return _refuse(
                    start_response, "408 Request Timeout", b"the request body arrived too slowly\n"
                )
            return _refuse(
                start_response, "400 Bad Request", b"the request body is shorter than its Content-Length\n"
            )
        environ["wsgi.input"] = body
        return self.app(environ, start_response)

    def _read_body(self, stream, sock: socket.socket, length: int):
        watch = _watchdog.watch(sock, self.seconds)
        body = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)
        received = 0
        try:
            while received < length:
                chunk = stream.read(min(_CHUNK, length - received))
                if not chunk:
                    break
                body.write(chunk)
                received += len(chunk)
        except OSError:
            pass
        finally:
            timed_out = _watchdog.release(watch)
        body.seek(0)
        return body, received == length, timed_out


class _Watch:
    __slots__ = ("sock", "done", "cut")

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.done = False  # the body was read (or given up on): never cut it from now on
        self.cut = False  # the deadline passed first: the socket's read side was shut down


class _Watchdog:
    """The deadlines of the bodies being read in this process, and one thread that cuts them.

    The lock orders a cut against the end of a read: a socket is cut only while its body is
    still being read, never once the thread has moved on (a keep-alive connection's next request).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._due = threading.Condition(self._lock)
        self._deadlines: list[tuple[float, int, _Watch]] = []
        self._order = itertools.count()
        self._pid = 0  # the process the thread runs in (a fork has none)
        # When the thread looks next, at the latest. A new deadline later than that needs no
        # wake-up: every body gets the same time, so a new one is almost never due first, and
        # waking the thread per request cost about a tenth of a web process's CPU.
        self._wakes_at = 0.0

    def watch(self, sock: socket.socket, seconds: float) -> _Watch:
        watch = _Watch(sock)
        entry = (time.monotonic() + seconds, next(self._order), watch)
        with self._lock:
            if self._pid != os.getpid():
                self._pid = os.getpid()
                threading.Thread(target=self._run, name="body-deadline", daemon=True).start()
            heapq.heappush(self._deadlines, entry)
            if entry[0] < self._wakes_at:
                self._due.notify()
        return watch

    def release(self, watch: _Watch) -> bool:
        """The read is over: True when the deadline cut it."""
        with self._lock:
            watch.done = True
            # Bodies mostly end in the order they began: drop the finished ones at the front.
            while self._deadlines and self._deadlines[0][2].done:
                heapq.heappop(self._deadlines)
            return watch.cut

    def _run(self) -> None:
        with self._lock:
            while True:
                while self._deadlines and self._deadlines[0][2].done:
                    heapq.heappop(self._deadlines)
                now = time.monotonic()
                if not self._deadlines:
                    # Idle: look again in a while (a deadline due before then wakes it).
                    self._wakes_at = now + IDLE_LOOK_SECONDS
                    self._due.wait(IDLE_LOOK_SECONDS)
                    continue
                wait = self._deadlines[0][0] - now
                if wait > 0:
                    self._wakes_at = self._deadlines[0][0]
                    self._due.wait(wait)
                    continue
                watch = heapq.heappop(self._deadlines)[2]
                watch.cut = True
                try:
                    watch.sock.shutdown(socket.SHUT_RD)  # wakes the blocked read: it sees the end
                except OSError:
                    pass


_watchdog = _Watchdog()


def _refuse(start_response: Callable, status: str, text: bytes) -> list[bytes]:
    start_response(
        status,
        [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(text))),
            ("Connection", "close"),
        ],
    )
    return [text]
