"""`participant_add` with over-long input (issue 15, item 12): a clear message, a non-zero exit,
no traceback and nothing stored; the same limits hold for every caller of the service."""

import pytest
from django.core.exceptions import ValidationError

from registry.models import Participant
from registry.services.participants import participant_create
from registry.uftp import keys
from tests.foundation.test_commands import manage, shell_db  # noqa: F401 - the fixture

LONG_ENDPOINT = "https://dso1.example.com/" + "a" * 600
LONG_DOMAIN = ("a" * 60 + ".") * 5 + "com"  # a valid pattern, 308 characters


@pytest.mark.parametrize(
    ("domain", "endpoint", "field", "message"),
    [
        ("dso1.example.com", LONG_ENDPOINT, "endpoint_url", "at most 500"),
        (LONG_DOMAIN, "https://dso1.example.com/x", "domain", "at most 253"),
    ],
)
def test_participant_add_with_over_long_input_from_a_shell(shell_db, domain, endpoint, field, message):  # noqa: F811
    result = manage(
        "participant_add",
        "--domain",
        domain,
        "--role",
        "DSO",
        "--public-key",
        keys.generate_keypair()[1],
        "--endpoint",
        endpoint,
        env=shell_db,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert f"participant not saved: {field}:" in result.stderr and message in result.stderr
    assert not Participant.objects.exists()


def test_service_refuses_an_over_long_endpoint(db):
    with pytest.raises(ValidationError) as caught:
        participant_create(
            domain="dso1.example.com",
            role="DSO",
            public_keys=[keys.generate_keypair()[1]],
            endpoint_url=LONG_ENDPOINT,
        )
    assert "at most 500" in caught.value.message_dict["endpoint_url"][0]
    assert not Participant.objects.exists()


@pytest.mark.django_db
def test_registering_a_participant_validates_its_input_once(monkeypatch):
    """participant_create checks the fields, then saves them without checking them again."""
    from registry.services import participants

    calls = []
    real_clean = participants._clean
    monkeypatch.setattr(participants, "_clean", lambda **fields: calls.append(fields) or real_clean(**fields))

    participant_create(
        domain="dso1.example.com",
        role="DSO",
        public_keys=[keys.generate_keypair()[1]],
        endpoint_url="https://dso1.example.com/shapeshifter/api/v3/message",
    )

    assert Participant.objects.filter(domain="dso1.example.com").exists()
    assert len(calls) == 1
