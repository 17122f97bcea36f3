"""A real HTTP server on loopback that records what the CRO POSTs and answers chosen statuses."""

from __future__ import annotations

import queue
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class RecordingPeer:
    """Answers each POST with the next status of `statuses` (the last one repeats)."""

    def __init__(self, statuses: list[int] | None = None, *, keep_alive: bool = False):
        self.statuses = list(statuses or [200])
        self.received: queue.Queue[bytes] = queue.Queue()
        # Per POST: (request target, Host header, the client's port: one per TCP connection).
        self.requests: queue.Queue[tuple[str, str, int]] = queue.Queue()
        peer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"

            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                peer.requests.put((self.path, self.headers.get("Host", ""), self.client_address[1]))
                peer.received.put(body)
                status = peer.statuses.pop(0) if len(peer.statuses) > 1 else peer.statuses[0]
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/shapeshifter/api/v3/message"

    def __enter__(self) -> RecordingPeer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
