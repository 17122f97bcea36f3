"""Builders of parsed and signed UFTP messages for the tests (our codec on both ends)."""

from __future__ import annotations

import datetime as dt
import uuid

from django.conf import settings

from registry.uftp import codec
from registry.uftp import messages as m


def metadata(*, sender: str, version: str = "3.1.0", recipient: str | None = None, **extra) -> dict:
    values = {
        "version": version,
        "sender_domain": sender,
        "recipient_domain": recipient or settings.CRO_DOMAIN,
        "time_stamp": dt.datetime.now(dt.UTC),
        "message_id": str(uuid.uuid4()),
        "conversation_id": str(uuid.uuid4()),
    }
    values.update(extra)
    return values


def connection(address: str, start: str, end: str | None = None) -> m.ConnectionPeriod:
    return m.ConnectionPeriod(
        entity_address=address,
        start_period=dt.date.fromisoformat(start),
        end_period=dt.date.fromisoformat(end) if end else None,
    )


def congestion_point(
    address: str,
    start: str,
    end: str | None = None,
    *,
    connections: list[m.ConnectionPeriod],
    mutex: bool = True,
    day_ahead: str = "DSO",
    intraday: str | None = "AGR",
) -> m.CongestionPointUpdate:
    return m.CongestionPointUpdate(
        entity_address=address,
        start_period=dt.date.fromisoformat(start),
        end_period=dt.date.fromisoformat(end) if end else None,
        mutex_offers_supported=mutex,
        day_ahead_redispatch_by=m.RedispatchBy(day_ahead),
        intraday_redispatch_by=m.RedispatchBy(intraday) if intraday else None,
        connections=tuple(connections),
    )


def dso_update(*, sender: str, congestion_points: list, time_zone: str = "Europe/Amsterdam", **meta):
    return m.DSOPortfolioUpdate(
        **metadata(sender=sender, **meta), time_zone=time_zone, congestion_points=tuple(congestion_points)
    )


def agr_update(*, sender: str, connections: list, time_zone: str = "Europe/Amsterdam", **meta):
    return m.AGRPortfolioUpdate(
        **metadata(sender=sender, **meta), time_zone=time_zone, connections=tuple(connections)
    )


def dso_query(*, sender: str, entity_address: str, period: str, time_zone: str = "Europe/Amsterdam", **meta):
    return m.DSOPortfolioQuery(
        **metadata(sender=sender, **meta),
        time_zone=time_zone,
        period=dt.date.fromisoformat(period),
        entity_address=entity_address,
    )


def agr_query(*, sender: str, period: str, time_zone: str = "Europe/Amsterdam", **meta):
    return m.AGRPortfolioQuery(
        **metadata(sender=sender, **meta), time_zone=time_zone, period=dt.date.fromisoformat(period)
    )


def test_message(*, sender: str, **meta) -> m.TestMessage:
    return m.TestMessage(**metadata(sender=sender, **meta))


test_message.__test__ = False  # a builder, not a test


def signed(
    payload: m.PayloadMessage, *, role: str, private_key: str, envelope_domain: str | None = None
) -> bytes:
    """The SignedMessage a participant would POST."""
    return codec.build_signed_message(
        sender_domain=envelope_domain or payload.sender_domain,
        sender_role=role,
        inner_xml=codec.serialize(payload),
        private_key=private_key,
    )
