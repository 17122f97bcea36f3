"""A real DNS server on a loopback UDP port, serving the records of open-mode participants."""

from __future__ import annotations

import socket
import threading

import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset


class LoopbackDNS:
    """Answers TXT and CNAME queries from `records` {(name, type): value}; NXDOMAIN otherwise."""

    def __init__(self, records: dict[tuple[str, str], str]):
        self.records = {(name.rstrip(".").lower(), rtype): value for (name, rtype), value in records.items()}
        self.queries: list[tuple[str, str]] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def nameserver(self) -> str:
        return f"127.0.0.1:{self.sock.getsockname()[1]}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, address = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            query = dns.message.from_wire(data)
            question = query.question[0]
            name = question.name.to_text(omit_final_dot=True).lower()
            rtype = dns.rdatatype.to_text(question.rdtype)
            self.queries.append((name, rtype))
            response = dns.message.make_response(query)
            response.flags |= dns.flags.AA
            value = self.records.get((name, rtype))
            if value is None:
                response.set_rcode(dns.rcode.NXDOMAIN)
            else:
                rdata = f'"{value}"' if rtype == "TXT" else value
                response.answer.append(
                    dns.rrset.from_text(question.name, 60, dns.rdataclass.IN, rtype, rdata)
                )
            self.sock.sendto(response.to_wire(), address)

    def __enter__(self) -> LoopbackDNS:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self.thread.join()
        self.sock.close()
