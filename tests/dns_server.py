"""A real DNS server on a loopback UDP port, serving the records of open-mode participants."""

from __future__ import annotations

import logging
import socket
import threading

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset


class DnsServer:
    """A UDP DNS server on 127.0.0.1 for open-mode tests.

    `behaviour[domain]` = "servfail" | "nxdomain" | "drop" applies to every name under the
    domain; otherwise the names registered with `add_participant` are answered and the rest
    get NXDOMAIN. `authenticated_data` sets the AD flag on every answer, as a validating
    resolver does on answers it validated with DNSSEC.
    """

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.records: dict[tuple[str, str], list[str]] = {}
        self.behaviour: dict[str, str] = {}
        self.queries: list[tuple[str, str]] = []
        self.authenticated_data = False
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def nameserver(self) -> str:
        return f"127.0.0.1:{self.port}"

    def add(self, name: str, rdtype: str, *texts: str) -> None:
        self.records[(name.lower().rstrip(".") + ".", rdtype)] = list(texts)

    def add_participant(self, *, domain: str, role: str, cs1: str, host: str, version: str = "3.1.0") -> None:
        """`cs1`: one cs1. key, or two separated by a space (a rotation)."""
        label = role.lower()
        self.add(f"_{label}._usef.{domain}", "TXT", f'"{cs1}"')
        self.add(f"_http._{label}._usef.{domain}", "CNAME", host.rstrip(".") + ".")
        self.add(f"_usef.{domain}", "TXT", f'"{version}"')

    def start(self) -> DnsServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(timeout=5)
        self.sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, address = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                reply = self._answer(data)
            except Exception:  # a query we cannot read: no answer, like a broken server
                logging.getLogger(__name__).warning("DNS test server could not answer a query", exc_info=True)
                continue
            if reply is not None:
                self.sock.sendto(reply, address)

    def _answer(self, data: bytes) -> bytes | None:
        query = dns.message.from_wire(data)
        question = query.question[0]
        name = question.name.to_text().lower()
        rdtype = dns.rdatatype.to_text(question.rdtype)
        self.queries.append((name, rdtype))
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA | dns.flags.RA
        if self.authenticated_data:
            response.flags |= dns.flags.AD
        for domain, behaviour in self.behaviour.items():
            if name == domain + "." or name.endswith("." + domain + "."):
                if behaviour == "drop":
                    return None
                if behaviour == "servfail":
                    response.set_rcode(dns.rcode.SERVFAIL)
                    return response.to_wire()
                response.set_rcode(dns.rcode.NXDOMAIN)
                return response.to_wire()
        texts = self.records.get((name, rdtype))
        if texts:
            response.answer.append(dns.rrset.from_text_list(question.name, 60, "IN", rdtype, texts))
        elif any(key[0] == name for key in self.records):
            pass  # the name exists, not with this type: NOERROR, no answer
        else:
            response.set_rcode(dns.rcode.NXDOMAIN)
        return response.to_wire()

    def __enter__(self) -> DnsServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
