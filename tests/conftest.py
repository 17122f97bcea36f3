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


@pytest.fixture
def make_role_user(db):
    """A staff user in one of the role groups (registry/roles.py); None: staff without a group."""
    from django.apps import apps
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from registry.roles import roles_create

    # The migration made the groups, but a transactional test's flush may have removed them since.
    roles_create(apps=apps)

    def _make(role: str | None, *, username: str | None = None, password: str | None = None):
        user = get_user_model().objects.create_user(
            username=username or f"{role or 'staff'}-user", password=password, is_staff=True
        )
        if role is not None:
            user.groups.add(Group.objects.get(name=role))
        return user

    return _make
