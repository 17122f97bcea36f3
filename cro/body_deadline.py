"""Slow clients must not hold the web tier: a request body must arrive within a deadline.

gunicorn reads a request body from the socket as the application asks for it, on the thread that
serves the request; a client trickling its body would hold that thread for as long as it likes
(slowloris). This WSGI middleware reads the whole body first (spooled to disk when large), and a
timer cuts the socket's read side when the deadline passes: the client is answered 408 and the
thread is free again. A body shorter than its Content-Length (the client gave up) is answered 400
and never reaches the application. Without gunicorn (no `gunicorn.socket`) it does nothing.

In production a buffering reverse proxy (nginx) in front does this for every request (README).
"""

from __future__ import annotations

import socket
import tempfile
import threading
from collections.abc import Callable, Iterable

_CHUNK = 64 * 1024
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
        timed_out = threading.Event()

        def cut() -> None:
            timed_out.set()
            try:
                sock.shutdown(socket.SHUT_RD)  # wakes the blocked read: it sees the end of the stream
            except OSError:
                pass

        timer = threading.Timer(self.seconds, cut)
        timer.daemon = True
        timer.start()
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
            timer.cancel()
        body.seek(0)
        return body, received == length, timed_out.is_set()


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
