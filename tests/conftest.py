"""Fixtures shared by every layer of the test suite."""

import pytest
from django.db import connection

from registry.uftp import keys


def pytest_collection_modifyitems(config, items):
    """Skip PostgreSQL-only tests when the suite runs on SQLite."""
    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL=postgres://...)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def keypair():
    """A fresh (private, public) base64 key pair."""
    return keys.generate_keypair()


@pytest.fixture
def make_participant(db):
    """Create a participant with a fresh key pair; returns (participant, private_key)."""
    from registry.models import Participant

    def _make(domain: str, role: str = "DSO", *, endpoint_url: str | None = None, **extra):
        private_key, public_key = keys.generate_keypair()
        participant = Participant.objects.create(
            domain=domain,
            role=role,
            public_key=public_key,
            endpoint_url=endpoint_url or f"http://127.0.0.1:9/{domain}/shapeshifter/api/v3/message",
            **extra,
        )
        return participant, private_key

    return _make
