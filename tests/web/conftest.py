"""Fixtures of the web interface tests."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from tests.web import builders

PASSWORD = "a-long-test-password-123"


@pytest.fixture
def staff_user(db):
    return get_user_model().objects.create_user(
        username="admin", email="admin@example.com", password=PASSWORD, is_staff=True
    )


@pytest.fixture
def plain_user(db):
    return get_user_model().objects.create_user(username="visitor", password=PASSWORD)


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture
def example(make_participant):
    """cro-rules §8 through the endpoint and the worker, plus one failed delivery."""
    return builders.worked_example(make_participant)


@pytest.fixture
def inline_csv_import(settings):
    """Apply CSV imports in the web process (no Celery worker runs in these tests)."""
    settings.CRO_CSV_IMPORT_INLINE = True
