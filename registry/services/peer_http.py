"""The deliveries' HTTP/1.1 client: one kept-alive connection per peer origin, one POST at a time.

A delivery needs little of HTTP: it POSTs one body and reads the answer's status, its
Location (a redirect) and the start of its body (an error's text). urllib3 did this for
about 240 us of CPU per POST, http.client alone for about 130 (its headers go through the
email package's parser), this client for about 40 (measured in process against a loopback
server, 2,500-byte bodies, a kept connection): on the path of every answer. urllib3 stays for
peers behind an egress proxy (`outbound._pool_for`).

What it does: TCP_NODELAY; TLS with certificate and host name checks against certifi's CA
bundle; one timeout for the connection and for each read; a kept connection that the peer
closed (or wrote to unasked) while idle is replaced before the POST; interim 1xx answers are
skipped; a body comes by Content-Length, chunked, or until the peer closes, and is kept up to
ANSWER_BODY_LIMIT bytes (the connection is closed rather than drained beyond that). A POST is
never sent twice: a failure raises, and the delivery's backoff decides (cro-rules §6).

No Django here: the caller passes the timeout and maps the errors to its own texts.
"""

from __future__ import annotations

import select
import socket
import ssl
import threading
from dataclasses import dataclass
from functools import cache
from io import BufferedReader
from urllib.parse import quote

import certifi

ANSWER_BODY_LIMIT = 64 * 1024
_LINE_LIMIT = 8 * 1024
_HEADER_LIMIT = 100
_INTERIM_LIMIT = 10
_NO_BODY = frozenset({204, 304})


class PeerTimeout(Exception):
    """The peer did not accept the connection, or did not answer, within the timeout."""


class PeerConnectionError(Exception):
    """The connection failed: refused, reset, closed before the whole answer, TLS refused, or
    an answer that is not HTTP/1.x."""


@dataclass(frozen=True, slots=True)
class PeerAnswer:
    status: int
    headers: dict[str, str]  # names in lower case; a repeated header keeps its last value
    data: bytes  # the body, at most ANSWER_BODY_LIMIT bytes of it


@cache
def tls_context() -> ssl.SSLContext:
    """Certificates checked against certifi's bundle, as requests and urllib3 did here before."""
    return ssl.create_default_context(cafile=certifi.where())


class PeerOrigin:
    """One peer origin (scheme, host, port) and the connection kept to it."""

    def __init__(self, *, scheme: str, host: str, port: int | None):
        if scheme not in ("http", "https") or not host:
            raise ValueError(f"not an http(s) origin: {scheme}://{host}")
        self.tls = scheme == "https"
        self.host = host
        self.port = port or (443 if self.tls else 80)
        name = f"[{host}]" if ":" in host else host
        self._host_header = (name.encode("idna") if not name.isascii() else name.encode()) + (
            b":%d" % port if port else b""
        )
        self._sock: socket.socket | None = None
        self._reader: BufferedReader | None = None
        # One POST at a time on the one connection: a worker's pool process posts from one
        # thread, but eager tasks or a threaded pool may share the origin.
        self._lock = threading.Lock()

    def post(self, target: str, *, body: bytes, content_type: str, seconds: float) -> PeerAnswer:
        """POST `body` to `target` (path and query) once; raises PeerTimeout or PeerConnectionError."""
        with self._lock:
            return self._post(target, body=body, content_type=content_type, seconds=seconds)

    def _post(self, target: str, *, body: bytes, content_type: str, seconds: float) -> PeerAnswer:
        head = (
            b"POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
            b"User-Agent: CRO\r\n\r\n"
            % (_request_target(target), self._host_header, content_type.encode(), len(body))
        )
        try:
            sock, reader = self._connection(seconds)
            sock.settimeout(seconds)
            sock.sendall(head + body)  # one write: TCP_NODELAY sends a separate head at once
            answer, keep = _answer_read(reader)
        except TimeoutError as exc:
            self.close()
            raise PeerTimeout(str(exc) or "timed out") from exc
        except (OSError, _Malformed, ValueError) as exc:
            self.close()
            raise PeerConnectionError(_describe(exc)) from exc
        if not keep:
            self.close()
        return answer

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
        self._sock = self._reader = None

    def _connection(self, seconds: float) -> tuple[socket.socket, BufferedReader]:
        if self._sock is not None and self._reader is not None and _still_open(self._sock):
            return self._sock, self._reader
        self.close()
        sock = socket.create_connection((self.host, self.port), timeout=seconds)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.tls:
                sock = tls_context().wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise
        self._sock, self._reader = sock, sock.makefile("rb")
        return sock, self._reader


def _request_target(target: str) -> bytes:
    """`target` as it goes on the request line: characters a URL may not hold percent-encoded."""
    if target.isascii() and target.isprintable() and " " not in target:
        return target.encode()
    return quote(target, safe="/?#[]@!$&'()*+,;=:%~").encode()


def _still_open(sock: socket.socket) -> bool:
    """A kept connection is usable when nothing waits on it: an idle peer sends nothing, so
    anything readable is its close, a reset, or bytes that belong to no request."""
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


class _Malformed(Exception):
    """The answer is not HTTP/1.x as this client reads it."""


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not accepted: {exc.verify_message or exc}"
    return str(exc) or exc.__class__.__name__


def _line(reader: BufferedReader) -> bytes:
    line = reader.readline(_LINE_LIMIT + 1)
    if len(line) > _LINE_LIMIT:
        raise _Malformed("an answer line longer than 8 KiB")
    if not line.endswith(b"\n"):
        raise _Malformed("the peer closed the connection before the whole answer")
    return line


def _answer_read(reader: BufferedReader) -> tuple[PeerAnswer, bool]:
    """The answer to the request just sent, and whether the connection may be kept."""
    for _ in range(_INTERIM_LIMIT + 1):
        if not reader.peek(1):
            raise _Malformed("the peer closed the connection without answering")
        status_line = _line(reader)
        parts = status_line.split(None, 2)
        if (
            len(parts) < 2
            or not parts[0].startswith(b"HTTP/1.")
            or not (len(parts[1]) == 3 and parts[1].isdigit())
        ):
            raise _Malformed(f"not an HTTP/1.x answer: {status_line[:80]!r}")
        version, status = parts[0], int(parts[1])
        headers = _headers_read(reader)
        if 100 <= status < 200:
            continue  # an interim answer (100 Continue, 103 Early Hints): the final one follows
        break
    else:
        raise _Malformed(f"more than {_INTERIM_LIMIT} interim answers")
    connection = headers.get("connection", "").lower()
    keep = "close" not in connection if version == b"HTTP/1.1" else "keep-alive" in connection
    if status in _NO_BODY:
        return PeerAnswer(status, headers, b""), keep
    if "chunked" in headers.get("transfer-encoding", "").lower():
        data, whole = _chunked_read(reader)
    elif "content-length" in headers:
        length = headers["content-length"].strip()
        if not length.isdigit():
            raise _Malformed(f"Content-Length {length[:40]!r}")
        data, whole = _exact_read(reader, int(length))
    else:
        data, whole, keep = reader.read(ANSWER_BODY_LIMIT), False, False  # until the peer closes
    return PeerAnswer(status, headers, data), keep and whole


def _headers_read(reader: BufferedReader) -> dict[str, str]:
    headers: dict[str, str] = {}
    for _ in range(_HEADER_LIMIT + 1):
        line = _line(reader)
        if line in (b"\r\n", b"\n"):
            return headers
        name, colon, value = line.partition(b":")
        if not colon or not name or name != name.strip():
            raise _Malformed(f"a header line without a name: {line[:80]!r}")
        headers[name.decode("latin-1").lower()] = value.strip().decode("latin-1")
    raise _Malformed(f"more than {_HEADER_LIMIT} header lines")


def _exact_read(reader: BufferedReader, length: int) -> tuple[bytes, bool]:
    """(the body, whether all of it was read); a longer body than the limit is left unread."""
    wanted = min(length, ANSWER_BODY_LIMIT)
    data = reader.read(wanted) if wanted else b""
    if len(data) < wanted:
        raise _Malformed("the peer closed the connection before the whole answer")
    return data, wanted == length


def _chunked_read(reader: BufferedReader) -> tuple[bytes, bool]:
    data = bytearray()
    while True:
        size_text = _line(reader).split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise _Malformed(f"a chunk size {size_text[:20]!r}") from None
        if size == 0:
            while _line(reader) not in (b"\r\n", b"\n"):  # trailer fields
                pass
            return bytes(data), True
        if len(data) + size > ANSWER_BODY_LIMIT:
            return bytes(data), False  # not drained: the connection is closed instead
        chunk = reader.read(size)
        if len(chunk) < size:
            raise _Malformed("the peer closed the connection before the whole answer")
        data += chunk
        if _line(reader) not in (b"\r\n", b"\n"):
            raise _Malformed("a chunk longer than its size")
