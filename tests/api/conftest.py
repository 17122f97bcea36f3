"""Users, API clients and a small registry for the API tests."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from registry.models import (
    CongestionPoint,
    CongestionPointVersion,
    Membership,
    Message,
    Participant,
    Representation,
)

PASSWORD = "a-long-test-password-0123"


@dataclass
class Users:
    user: object  # authenticated, not staff
    staff: object  # staff, not superuser: reads only
    admin: object  # staff superuser: reads and writes


@pytest.fixture
def users(db) -> Users:
    model = get_user_model()
    return Users(
        user=model.objects.create_user("user", password=PASSWORD),
        staff=model.objects.create_user("staff", password=PASSWORD, is_staff=True),
        admin=model.objects.create_superuser("admin", password=PASSWORD),
    )


@pytest.fixture
def client_for():
    """An APIClient authenticated with the user's token (None: anonymous)."""

    def _client(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            token, _ = Token.objects.get_or_create(user=user)
            client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return _client


@pytest.fixture
def staff_client(users, client_for) -> APIClient:
    return client_for(users.staff)


@pytest.fixture
def admin_client(users, client_for) -> APIClient:
    return client_for(users.admin)


# ------------------------------------------------------------------------------ the registry
# The worked example of cro-rules §8, recorded at T0, then changed at T1:
# - CP …001's attributes change (Mutex true -> false): version 1 superseded by version 2;
# - connection …002 leaves CP …001 (its membership is superseded, nothing replaces it).
T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
T1 = dt.datetime(2024, 8, 1, tzinfo=dt.UTC)
D = dt.date.fromisoformat

DSO1, DSO2 = "dso1.example.com", "dso2.example.com"
AGR_A, AGR_B = "agr-a.example.com", "agr-b.example.com"
CP1, CP2 = "ean.000000000001", "ean.000000000002"
C1, C2, C3, C4, C9 = (f"ean.10000000000{n}" for n in (1, 2, 3, 4, 9))


@dataclass
class Registry:
    dso1: Participant
    dso2: Participant
    agr_a: Participant
    agr_b: Participant
    cp1: CongestionPoint
    cp2: CongestionPoint
    cp1_v1: CongestionPointVersion
    cp1_v2: CongestionPointVersion
    c2_membership: Membership


def _version(cp, start, end=None, *, recorded_at=T0, **attributes) -> CongestionPointVersion:
    values = {
        "mutex_offers_supported": True,
        "day_ahead_redispatch_by": "DSO",
        "intraday_redispatch_by": "AGR",
    }
    values.update(attributes)
    return CongestionPointVersion.objects.create(
        congestion_point=cp,
        start_period=D(start),
        end_period=D(end) if end else None,
        recorded_at=recorded_at,
        **values,
    )


def _member(cp, address, start, end=None, **extra) -> Membership:
    return Membership.objects.create(
        congestion_point=cp,
        connection_address=address,
        start_period=D(start),
        end_period=D(end) if end else None,
        recorded_at=T0,
        **extra,
    )


def _represent(agr, address, start, end=None) -> Representation:
    return Representation.objects.create(
        agr=agr,
        connection_address=address,
        start_period=D(start),
        end_period=D(end) if end else None,
        recorded_at=T0,
    )


@pytest.fixture
def registry(make_participant) -> Registry:
    dso1 = make_participant(DSO1, "DSO")[0]
    dso2 = make_participant(DSO2, "DSO")[0]
    agr_a = make_participant(AGR_A, "AGR")[0]
    agr_b = make_participant(AGR_B, "AGR")[0]
    cp1 = CongestionPoint.objects.create(entity_address=CP1, dso=dso1)
    cp2 = CongestionPoint.objects.create(entity_address=CP2, dso=dso2)
    cp1_v1 = _version(cp1, "2024-01-01", superseded_at=T1)
    cp1_v2 = _version(cp1, "2024-01-01", recorded_at=T1, mutex_offers_supported=False)
    _version(
        cp2,
        "2024-03-01",
        "2024-12-31",
        mutex_offers_supported=False,
        day_ahead_redispatch_by="AGR",
        intraday_redispatch_by="",
    )
    _member(cp1, C1, "2024-01-01")
    c2_membership = _member(cp1, C2, "2024-01-01", "2024-06-30", superseded_at=T1)
    _member(cp1, C3, "2024-07-01")
    _member(cp2, C4, "2024-03-01", "2024-12-31")
    for address in (C1, C2, C9):
        _represent(agr_a, address, "2024-01-01")
    _represent(agr_a, C4, "2024-05-01")
    _represent(agr_b, C3, "2024-07-01")
    return Registry(dso1, dso2, agr_a, agr_b, cp1, cp2, cp1_v1, cp1_v2, c2_membership)


def make_message(
    participant: Participant, *, direction="in", status="processed", message_type="TestMessage", **extra
):
    outbound = direction == Message.Direction.OUTBOUND
    cro, peer = ("cro.example.com", "CRO"), (participant.domain, participant.role)
    (sender, sender_role), (recipient, recipient_role) = (cro, peer) if outbound else (peer, cro)
    values = {
        "direction": direction,
        "status": status,
        "message_type": message_type,
        "version": "3.1.0",
        "sender_domain": sender,
        "sender_role": sender_role,
        "recipient_domain": recipient,
        "recipient_role": recipient_role,
        "participant": participant,
        "message_id": f"{message_type}-{Message.objects.count()}",
        "signed_xml": f"<SignedMessage SenderDomain='{sender}'/>",
        "inner_xml": f"<{message_type} SenderDomain='{sender}'/>",
        "body_digest": "0" * 64,
    }
    values.update(extra)
    return Message.objects.create(**values)
