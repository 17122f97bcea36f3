"""Participants and stored messages for the registry tests."""

from __future__ import annotations

import uuid

import pytest

from registry.uftp import messages as uftp


@pytest.fixture
def dso1(make_participant):
    return make_participant("dso1.example.com", "DSO")[0]


@pytest.fixture
def dso2(make_participant):
    return make_participant("dso2.example.com", "DSO")[0]


@pytest.fixture
def agr_a(make_participant):
    return make_participant("agr-a.example.com", "AGR")[0]


@pytest.fixture
def agr_b(make_participant):
    return make_participant("agr-b.example.com", "AGR")[0]


@pytest.fixture
def make_message(db):
    """A stored inbound Message, for rows that record which message changed them."""
    from registry.models import Message

    def _make(payload: uftp.PayloadMessage, participant) -> Message:
        return Message.objects.create(
            direction=Message.Direction.INBOUND,
            status=Message.Status.PROCESSING,
            message_type=payload.message_type,
            version=payload.version,
            sender_domain=payload.sender_domain,
            sender_role=participant.role,
            recipient_domain=payload.recipient_domain,
            recipient_role="CRO",
            participant=participant,
            message_id=payload.message_id,
            conversation_id=payload.conversation_id,
            time_stamp=payload.time_stamp,
            signed_xml="<SignedMessage/>",
            inner_xml=f"<{payload.message_type}/>",
            body_digest=uuid.uuid4().hex * 2,
        )

    return _make
