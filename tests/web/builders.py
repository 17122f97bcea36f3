"""Registry and message-log contents for the web tests, built through the real code paths.

`worked_example` sends the updates of cro-rules §8 through the UFTP endpoint and processes them,
so the message log holds real signed messages, responses and conversations, and the registry
rows link to the messages that recorded them. `bulk_registry` builds a large registry fast with
bulk_create (for the query-count tests).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from django.test import Client
from django.utils import timezone

from registry.models import (
    CongestionPoint,
    CongestionPointVersion,
    Membership,
    Message,
    Participant,
    Representation,
)
from registry.services import processing
from registry.uftp import messages as m
from tests import factories

URL = "/shapeshifter/api/v3/message"
DSO1, DSO2 = "dso1.example.com", "dso2.example.com"
AGR_A, AGR_B = "agr-a.example.com", "agr-b.example.com"
CP1, CP2 = "ean.000000000001", "ean.000000000002"


@dataclass
class Example:
    dso1: Participant
    dso2: Participant
    agr_a: Participant
    agr_b: Participant
    keys: dict[str, str]  # domain -> private key
    update_dso1: Message  # the inbound DSOPortfolioUpdate of dso1
    failed: Message  # an outbound response whose delivery failed


def receive_and_process(payload: m.PayloadMessage, *, role: str, private_key: str) -> Message:
    body = factories.signed(payload, role=role, private_key=private_key)
    response = Client().post(URL, data=body, content_type="text/xml")
    assert response.status_code == 200, response.content
    message = Message.objects.filter(direction="in").latest("pk")
    processing.message_process(message_pk=message.pk)
    message.refresh_from_db()
    return message


def worked_example(make_participant) -> Example:
    dso1, dso1_key = make_participant(DSO1, "DSO")
    dso2, dso2_key = make_participant(DSO2, "DSO")
    agr_a, agr_a_key = make_participant(AGR_A, "AGR")
    agr_b, agr_b_key = make_participant(AGR_B, "AGR")
    c = factories.connection
    update_dso1 = receive_and_process(
        factories.dso_update(
            sender=DSO1,
            congestion_points=[
                factories.congestion_point(
                    CP1,
                    "2024-01-01",
                    connections=[
                        c("ean.100000000001", "2024-01-01"),
                        c("ean.100000000002", "2024-01-01", "2024-06-30"),
                        c("ean.100000000003", "2024-07-01"),
                    ],
                )
            ],
        ),
        role="DSO",
        private_key=dso1_key,
    )
    receive_and_process(
        factories.dso_update(
            sender=DSO2,
            congestion_points=[
                factories.congestion_point(
                    CP2,
                    "2024-03-01",
                    "2024-12-31",
                    mutex=False,
                    day_ahead="AGR",
                    intraday=None,
                    connections=[c("ean.100000000004", "2024-03-01", "2024-12-31")],
                )
            ],
        ),
        role="DSO",
        private_key=dso2_key,
    )
    receive_and_process(
        factories.agr_update(
            sender=AGR_A,
            connections=[
                c("ean.100000000001", "2024-01-01"),
                c("ean.100000000002", "2024-01-01"),
                c("ean.100000000009", "2024-01-01"),
                c("ean.100000000004", "2024-05-01"),
            ],
        ),
        role="AGR",
        private_key=agr_a_key,
    )
    receive_and_process(
        factories.agr_update(sender=AGR_B, connections=[c("ean.100000000003", "2024-07-01")]),
        role="AGR",
        private_key=agr_b_key,
    )
    receive_and_process(
        factories.agr_query(sender=AGR_A, period="2024-06-15"), role="AGR", private_key=agr_a_key
    )
    assert update_dso1.result == "Accepted", update_dso1.rejection_reason
    failed = Message.objects.filter(direction="out", request=update_dso1).get()
    Message.objects.filter(pk=failed.pk).update(
        status=Message.Status.FAILED,
        attempts=7,
        last_error="ConnectionError posting to http://127.0.0.1:9/dso1: connection refused (gave up after 7 attempts)",
        next_attempt_at=None,
    )
    failed.refresh_from_db()
    return Example(
        dso1=dso1,
        dso2=dso2,
        agr_a=agr_a,
        agr_b=agr_b,
        keys={DSO1: dso1_key, DSO2: dso2_key, AGR_A: agr_a_key, AGR_B: agr_b_key},
        update_dso1=update_dso1,
        failed=failed,
    )


def bulk_registry(
    *,
    dso: Participant,
    agr: Participant,
    congestion_points: int = 200,
    connections_per_cp: int = 50,
    cp_prefix: str = "9",
    connection_prefix: str = "8",
) -> None:
    """`congestion_points` x `connections_per_cp` current memberships (10,000 by default), each
    connection represented by `agr`, plus some history (a superseded version per CP). Addresses
    start with the prefixes, so that two calls with other prefixes do not clash."""
    now = timezone.now()
    earlier = now - dt.timedelta(days=1)
    cps = CongestionPoint.objects.bulk_create(
        [
            CongestionPoint(entity_address=f"ean.{cp_prefix}{index:011d}", dso=dso)
            for index in range(congestion_points)
        ]
    )
    start = dt.date(2024, 1, 1)
    versions = []
    for cp in cps:
        versions.append(
            CongestionPointVersion(
                congestion_point=cp,
                start_period=start,
                end_period=None,
                mutex_offers_supported=False,
                day_ahead_redispatch_by="DSO",
                intraday_redispatch_by="",
                recorded_at=earlier,
                superseded_at=now,
                source="csv",
            )
        )
        versions.append(
            CongestionPointVersion(
                congestion_point=cp,
                start_period=start,
                end_period=None,
                mutex_offers_supported=True,
                day_ahead_redispatch_by="DSO",
                intraday_redispatch_by="AGR",
                recorded_at=now,
                source="csv",
            )
        )
    CongestionPointVersion.objects.bulk_create(versions, batch_size=2000)
    memberships, representations = [], []
    for cp_index, cp in enumerate(cps):
        for index in range(connections_per_cp):
            address = f"ean.{connection_prefix}{cp_index:05d}{index:06d}"
            memberships.append(
                Membership(
                    congestion_point=cp,
                    connection_address=address,
                    start_period=start,
                    recorded_at=now,
                    source="csv",
                )
            )
            representations.append(
                Representation(
                    agr=agr, connection_address=address, start_period=start, recorded_at=now, source="csv"
                )
            )
    Membership.objects.bulk_create(memberships, batch_size=2000)
    Representation.objects.bulk_create(representations, batch_size=2000)


def bulk_messages(*, participant: Participant, count: int = 500, failed: int = 60) -> None:
    """Signed-looking messages in and out over the last days (not processed), some failed."""
    now = timezone.now()
    rows = []
    for index in range(count):
        outbound = index % 2 == 1
        rows.append(
            Message(
                direction="out" if outbound else "in",
                status="failed"
                if outbound and index < failed * 2
                else ("delivered" if outbound else "processed"),
                message_type="TestMessageResponse" if outbound else "TestMessage",
                version="3.1.0",
                sender_domain="cro.example.com" if outbound else participant.domain,
                sender_role="CRO" if outbound else participant.role,
                recipient_domain=participant.domain if outbound else "cro.example.com",
                recipient_role=participant.role if outbound else "CRO",
                participant=participant,
                message_id=str(uuid.uuid4()),
                conversation_id=str(uuid.uuid4()),
                signed_xml="<SignedMessage/>",
                inner_xml="<TestMessage/>",
                body_digest="0" * 64,
                result="Accepted",
                attempts=3 if outbound else 0,
                last_error="HTTP 503" if outbound and index < failed * 2 else "",
            )
        )
    created = Message.objects.bulk_create(rows, batch_size=1000)
    # Spread them over the last three days (created_at is auto_now_add: set it afterwards).
    for index, message in enumerate(created):
        message.created_at = now - dt.timedelta(hours=index % 72, minutes=index % 60)
    Message.objects.bulk_update(created, ["created_at"], batch_size=1000)
