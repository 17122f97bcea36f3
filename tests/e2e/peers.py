"""Real Shapeshifter peers for the end-to-end tests and the benchmark.

- `Peer`: a DSO or AGR built on the shapeshifter-uftp library: its *service* (FastAPI under
  uvicorn, in a thread) receives what the CRO sends, its *client* sends to the CRO. Every
  arrival is recorded with the inner XML as signed by the CRO and the HTTP status the library
  answered, and, when the library's own pipeline got that far, the parsed library object.
- `StubEndpoint`: a bare HTTP endpoint answering a chosen status (a peer that says 400, 503...).
- `DnsServer`: a tiny UDP DNS server (dnspython) for open mode: answers, SERVFAIL, NXDOMAIN or
  silence, per domain.
- helpers to sign and post messages the library's client would refuse to build.

No Django imports here (the benchmark uses this module without settings). No
`from __future__ import annotations` either: FastAPI reads the endpoint's annotations.
"""

import base64
import datetime as dt
import logging
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests
from fastapi import Response
from fastapi.exceptions import HTTPException
from nacl.bindings import crypto_sign_open
from nacl.signing import SigningKey
from shapeshifter_uftp import (
    ShapeshifterAgrCroClient,
    ShapeshifterAgrService,
    ShapeshifterCroService,
    ShapeshifterDsoCroClient,
    ShapeshifterDsoService,
    transport,
)
from shapeshifter_uftp.uftp import PayloadMessage, SignedMessage

from tests.dns_server import DnsServer  # noqa: F401 (used by the e2e tests)

from .processes import free_port

UFTP_PATH = "/shapeshifter/api/v3/message"


def quiet_logging() -> None:
    """The library logs every message at DEBUG, uvicorn every request: keep their warnings only.

    Called after each service is built (uvicorn's Config resets its loggers).
    """
    for name in ("shapeshifter-uftp", "uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).setLevel(logging.WARNING)


quiet_logging()


def _thread_safe_xsi_cache() -> None:
    """Work around a race in xsdata, which the peer library parses with.

    XmlContext.build_xsi_cache() runs whenever sys.modules grew since its last run: it
    *clears* the shared class index and refills it. A thread parsing at that moment finds no
    class for the root element and the library answers HTTP 400 ("No class found matching
    root: DSOPortfolioQuery"), seen under the benchmark's load. Rebuild into a new dict under
    a lock and swap it in instead. Applies to this process only (the test peers, the bench).
    """
    import sys
    from collections import defaultdict

    from xsdata.formats.dataclass.context import XmlContext

    if getattr(XmlContext.build_xsi_cache, "_cro_e2e_patched", False):
        return
    lock = threading.Lock()

    def build_xsi_cache(self) -> None:
        if len(sys.modules) == self.sys_modules:
            return
        with lock:
            modules = len(sys.modules)
            if modules == self.sys_modules:
                return
            index: dict[str, list[type]] = defaultdict(list)
            builder = self.get_builder()
            for clazz in self.get_subclasses(object):
                if self.is_binding_model(clazz):
                    meta = builder.build_class_meta(clazz)
                    if meta.target_qname:
                        index[meta.target_qname].append(clazz)
            self.xsi_cache = index
            self.sys_modules = modules

    build_xsi_cache._cro_e2e_patched = True
    XmlContext.build_xsi_cache = build_xsi_cache


_thread_safe_xsi_cache()


def generate_keypair() -> tuple[str, str]:
    """(private, public) base64 keys in the UFTP format (64-byte private, 32-byte public)."""
    signing_key = SigningKey.generate()
    private = bytes(signing_key) + bytes(signing_key.verify_key)
    return base64.b64encode(private).decode(), base64.b64encode(bytes(signing_key.verify_key)).decode()


def public_from_private(private_key: str) -> str:
    return base64.b64encode(base64.b64decode(private_key)[32:]).decode()


# --------------------------------------------------------------------------- arrivals


@dataclass
class Arrival:
    """One message that arrived at a peer's service."""

    sender_domain: str
    sender_role: str
    xml: str  # the inner XML, as signed by the sender ("" when the signature did not verify)
    received_at: float  # time.monotonic()
    status: int | None = None  # HTTP status the library answered
    parsed: Any = None  # the library's object, once its process_* method ran
    root: ET.Element | None = field(default=None, repr=False)

    @property
    def tag(self) -> str:
        return self.root.tag if self.root is not None else ""

    @property
    def attrs(self) -> dict[str, str]:
        return dict(self.root.attrib) if self.root is not None else {}

    def __getitem__(self, name: str) -> str | None:
        return self.attrs.get(name)


class _RecordingMixin:
    """Records everything the library's service receives; put before the library class."""

    answer_test_messages = True

    def _recorder_setup(self) -> None:
        self.arrivals: list[Arrival] = []
        self.condition = threading.Condition()

    def _receive_message(self, message: SignedMessage) -> Response:
        xml = ""
        try:
            key = self.key_lookup_function(message.sender_domain, message.sender_role)
            xml = crypto_sign_open(message.body, base64.b64decode(key)).decode("utf-8")
        except Exception:  # recorded with empty XML; the library answers what it answers
            xml = ""
        arrival = Arrival(
            sender_domain=message.sender_domain,
            sender_role=str(message.sender_role),
            xml=xml,
            received_at=time.monotonic(),
        )
        try:
            arrival.root = ET.fromstring(xml) if xml else None
        except ET.ParseError:
            arrival.root = None
        with self.condition:
            self.arrivals.append(arrival)
        status = 500
        try:
            response = super()._receive_message(message)
            status = response.status_code
            return response
        except HTTPException as exc:
            status = exc.status_code
            raise
        finally:
            with self.condition:
                arrival.status = status
                self.condition.notify_all()

    def _record_parsed(self, message: PayloadMessage) -> None:
        with self.condition:
            for arrival in reversed(self.arrivals):
                if arrival.attrs.get("MessageID") == message.message_id:
                    arrival.parsed = message
                    break
            self.condition.notify_all()

    def process_test_message(self, message, sender_role):
        self._record_parsed(message)
        if self.answer_test_messages:
            super().process_test_message(message, sender_role)


def _record(self, message):
    self._record_parsed(message)


def _recording_class(base: type) -> type:
    namespace = {name: _record for name in base.__abstractmethods__}
    namespace["process_test_message_response"] = _record
    return type(f"Recording{base.__name__}", (_RecordingMixin, base), namespace)


RecordingDsoService = _recording_class(ShapeshifterDsoService)
RecordingAgrService = _recording_class(ShapeshifterAgrService)


class Peer:
    """A DSO or AGR: the library's service (receiving) and client (sending) with one key pair."""

    def __init__(
        self,
        *,
        domain: str,
        role: str,
        cro_domain: str,
        cro_public_key: str,
        cro_url: str,
        port: int | None = None,
        private_key: str | None = None,
        version: str = "3.1.0",
    ):
        assert role in ("DSO", "AGR")
        self.domain = domain
        self.role = role
        self.cro_domain = cro_domain
        self.cro_public_key = cro_public_key
        self.cro_url = cro_url
        self.port = port or free_port()
        self.version = version
        if private_key is None:
            private_key, _ = generate_keypair()
        self.private_key = private_key
        self.public_key = public_from_private(private_key)
        self.service = None
        self._arrivals_before: list[Arrival] = []

    # ---- the service
    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{UFTP_PATH}"

    def _key_lookup(self, domain, role):
        if domain == self.cro_domain and str(role) == "CRO":
            return self.cro_public_key
        return None

    def _endpoint_lookup(self, domain, role):
        if domain == self.cro_domain and str(role) == "CRO":
            return self.cro_url
        return None

    def start(self) -> "Peer":
        service_class = RecordingDsoService if self.role == "DSO" else RecordingAgrService
        self.service = service_class(
            sender_domain=self.domain,
            signing_key=self.private_key,
            key_lookup_function=self._key_lookup,
            endpoint_lookup_function=self._endpoint_lookup,
            host="127.0.0.1",
            port=self.port,
            path=UFTP_PATH,
            version=self.version,
        )
        self.service._recorder_setup()
        quiet_logging()
        self.service.run_in_thread()
        return self

    def stop(self) -> None:
        if self.service is not None:
            with self.service.condition:
                self._arrivals_before.extend(self.service.arrivals)
            self.service.stop()
            self.service.inbound_executor.shutdown(wait=False)
            self.service.outbound_executor.shutdown(wait=False)
            self.service = None

    @property
    def arrivals(self) -> list[Arrival]:
        current = []
        if self.service is not None:
            with self.service.condition:
                current = list(self.service.arrivals)
        return self._arrivals_before + current

    def wait_for(
        self,
        *,
        conversation_id: str | None = None,
        tag: str | None = None,
        timeout: float = 30,
        parsed: bool = False,
        count: int = 1,
    ) -> Arrival | list[Arrival]:
        """Wait for `count` arrivals matching; `parsed`: also wait until the library processed them."""

        def matching() -> list[Arrival]:
            return [
                a
                for a in self.arrivals
                if (conversation_id is None or a.attrs.get("ConversationID") == conversation_id)
                and (tag is None or a.tag == tag)
                and a.status is not None
            ]

        deadline = time.monotonic() + timeout
        while True:
            found = matching()
            if len(found) >= count and (not parsed or all(a.parsed is not None for a in found[:count])):
                return found[0] if count == 1 else found[:count]
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"{self.domain}: {count} arrival(s) (conversation {conversation_id}, tag {tag}, "
                    f"parsed={parsed}) not seen in {timeout}s; arrived: "
                    + "; ".join(f"{a.tag}/{a.status}/{a.attrs.get('ConversationID')}" for a in self.arrivals)
                )
            if self.service is not None:
                with self.service.condition:
                    self.service.condition.wait(0.2)
            else:
                time.sleep(0.2)

    # ---- the client
    def client(
        self, *, recipient_domain: str | None = None, endpoint: str | None = None, version: str | None = None
    ):
        client_class = ShapeshifterDsoCroClient if self.role == "DSO" else ShapeshifterAgrCroClient
        return client_class(
            sender_domain=self.domain,
            signing_key=self.private_key,
            recipient_domain=recipient_domain or self.cro_domain,
            recipient_endpoint=endpoint or self.cro_url,
            recipient_signing_key=self.cro_public_key,
            version=version or self.version,
        )

    def send(self, message: PayloadMessage, **client_options) -> PayloadMessage:
        """Send through the library's client (raises ClientTransportException unless HTTP 200)."""
        self.client(**client_options)._send_message(message)
        return message


# --------------------------------------------------------------------------- raw messages


def fill_metadata(
    message: PayloadMessage,
    *,
    sender_domain: str,
    recipient_domain: str,
    version: str = "3.1.0",
    time_stamp: str | None = None,
) -> PayloadMessage:
    """Fill the metadata the library's client would (but with any version and timestamp)."""
    message.version = version
    message.sender_domain = sender_domain
    message.recipient_domain = recipient_domain
    message.time_stamp = time_stamp or message.time_stamp or dt.datetime.now(dt.UTC).isoformat()
    message.message_id = message.message_id or str(uuid.uuid4())
    message.conversation_id = message.conversation_id or str(uuid.uuid4())
    return message


def signed_xml(
    message: PayloadMessage | bytes, *, private_key: str, sender_domain: str, sender_role: str
) -> bytes:
    """A SignedMessage around `message` (a library object, or inner XML bytes), signed with the key."""
    if isinstance(message, bytes):
        from nacl.bindings import crypto_sign

        sealed = crypto_sign(message, base64.b64decode(private_key))
    else:
        sealed = transport.seal_message(message, private_key)
    wrapper = SignedMessage(sender_domain=sender_domain, sender_role=sender_role, body=sealed)
    return transport.to_xml(wrapper).encode("utf-8")


def post(url: str, data: bytes, *, content_type: str = "text/xml; charset=utf-8", timeout: float = 30):
    return requests.post(url, data=data, headers={"Content-Type": content_type}, timeout=timeout)


# --------------------------------------------------------------------------- a stub endpoint


class StubEndpoint:
    """An HTTP endpoint that answers every POST with `status` (after `delay` seconds) and records it."""

    def __init__(self, status: int = 200, *, delay: float = 0.0, port: int | None = None):
        self.status = status
        self.delay = delay
        self.requests: list[tuple[float, bytes]] = []
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with stub._lock:
                    stub.requests.append((time.monotonic(), body))
                if stub.delay:
                    time.sleep(stub.delay)
                self.send_response(stub.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port or 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{UFTP_PATH}"

    def start(self) -> "StubEndpoint":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.requests)


# --------------------------------------------------------------------------- DNS


# --------------------------------------------------------------------------- the library's CRO


class MinimalLibraryCro(ShapeshifterCroService):
    """The library's own CRO service answering each message at once (benchmark baseline)."""

    def __init__(self, *args, peer_keys: dict, peer_endpoints: dict, **kwargs):
        super().__init__(
            *args,
            key_lookup_function=lambda domain, role: peer_keys.get((domain, str(role))),
            endpoint_lookup_function=lambda domain, role: peer_endpoints.get((domain, str(role))),
            **kwargs,
        )

    def _respond(self, response, recipient_domain, recipient_role, version):
        client = self._get_client(recipient_domain, recipient_role, version)
        client._send_message(response)

    def process_dso_portfolio_query(self, message):
        from shapeshifter_uftp import DsoPortfolioQueryResponse

        response = DsoPortfolioQueryResponse(
            conversation_id=message.conversation_id,
            dso_portfolio_query_message_id=message.message_id,
            period=message.period,
            time_zone=message.time_zone,
            result="Rejected",
            rejection_reason="minimal CRO",
        )
        self._respond(response, message.sender_domain, "DSO", message.version)

    def process_dso_portfolio_update(self, message):
        from shapeshifter_uftp import DsoPortfolioUpdateResponse

        response = DsoPortfolioUpdateResponse(
            conversation_id=message.conversation_id, dso_portfolio_update_message_id=message.message_id
        )
        self._respond(response, message.sender_domain, "DSO", message.version)

    def process_agr_portfolio_query(self, message):  # not used by the benchmark
        pass

    def process_agr_portfolio_update(self, message):  # not used by the benchmark
        pass
