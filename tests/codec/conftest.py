"""Fixtures for the codec tests: plain Python, no database, no Django needed."""

from __future__ import annotations

import socket

import pytest

from registry.uftp import keys


@pytest.fixture
def cro_keys() -> tuple[str, str]:
    """(private, public) base64 key pair of the CRO."""
    return keys.generate_keypair()


@pytest.fixture
def peer_keys() -> tuple[str, str]:
    """(private, public) base64 key pair of a DSO or AGR peer."""
    return keys.generate_keypair()


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """Fail any Python-level outgoing connection; returns the attempts (expected: none)."""
    attempts: list[tuple] = []

    def refuse(self: socket.socket, address: object) -> None:
        attempts.append((self.family, address))
        raise AssertionError(f"network access attempted: {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


@pytest.fixture
def listening_socket():
    """A TCP socket listening on 127.0.0.1; yields (socket, port). Nobody may connect."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.setblocking(False)
    try:
        yield server, server.getsockname()[1]
    finally:
        server.close()
