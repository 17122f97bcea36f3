"""Fixtures and message builders for the registry tests: parsed UFTP dataclasses, no XML."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid

import pytest

from registry.uftp import messages as uftp

CRO_DOMAIN = "cro.example.com"
MARKET_TIME_ZONE = "Europe/Amsterdam"
_seconds = itertools.count(1)


def next_time_stamp() -> dt.datetime:
    """Strictly increasing TimeStamps, so that each new update is the newest by default."""
    return dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=next(_seconds))


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def conn(address: str, start: str, end: str | None = None) -> uftp.ConnectionPeriod:
    return uftp.ConnectionPeriod(entity_address=address, start_period=d(start), end_period=d(end) if end else None)


def cp(
    address: str,
    start: str,
    end: str | None = None,
    *connections: uftp.ConnectionPeriod,
    mutex: bool = True,
    day_ahead: str = "DSO",
    intraday: str | None = "AGR",
) -> uftp.CongestionPointUpdate:
    return uftp.CongestionPointUpdate(
        entity_address=address,
        start_period=d(start),
        end_period=d(end) if end else None,
        mutex_offers_supported=mutex,
        day_ahead_redispatch_by=uftp.RedispatchBy(day_ahead),
        intraday_redispatch_by=uftp.RedispatchBy(intraday) if intraday else None,
        connections=tuple(connections),
    )


def _metadata(sender_domain: str, time_stamp: dt.datetime | None) -> dict:
    return {
        "version": "3.1.0",
        "sender_domain": sender_domain,
        "recipient_domain": CRO_DOMAIN,
        "time_stamp": time_stamp or next_time_stamp(),
        "message_id": str(uuid.uuid4()),
        "conversation_id": str(uuid.uuid4()),
    }


def dso_update(
    sender_domain: str, *cps: uftp.CongestionPointUpdate, time_stamp: dt.datetime | None = None
) -> uftp.DSOPortfolioUpdate:
    return uftp.DSOPortfolioUpdate(
        **_metadata(sender_domain, time_stamp), time_zone=MARKET_TIME_ZONE, congestion_points=tuple(cps)
    )


def agr_update(
    sender_domain: str, *connections: uftp.ConnectionPeriod, time_stamp: dt.datetime | None = None
) -> uftp.AGRPortfolioUpdate:
    return uftp.AGRPortfolioUpdate(
        **_metadata(sender_domain, time_stamp), time_zone=MARKET_TIME_ZONE, connections=tuple(connections)
    )


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
