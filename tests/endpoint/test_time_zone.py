"""TimeZone (cro-rules §3.7): the market zone, or a zone with the same UTC offsets throughout the Periods."""

import datetime as dt

import pytest
from django.test import Client

from registry.models import Membership, Message
from registry.services import processing, time_zones
from registry.uftp import codec, keys
from registry.uftp import messages as m
from tests import factories

URL = "/shapeshifter/api/v3/message"
DSO = "dso1.example.com"
AGR = "agr1.example.com"


def answer_to(payload, *, role: str, private_key: str) -> m.PayloadMessage:
    from django.conf import settings

    response = Client().post(
        URL, data=factories.signed(payload, role=role, private_key=private_key), content_type="text/xml"
    )
    assert response.status_code == 200, response.content
    outbound = processing.message_process(message_pk=Message.objects.filter(direction="in").latest("pk").pk)
    envelope = codec.parse_signed_message(outbound.signed_xml.encode())
    return codec.parse_any(
        codec.open_body(envelope.body, [keys.public_key_from_private(settings.CRO_SIGNING_KEY)])
    )


def test_brussels_is_accepted_beside_amsterdam_and_copied_into_the_response(make_participant):
    _, private_key = make_participant(AGR, "AGR")
    update = factories.agr_update(
        AGR, factories.connection("ean.100000000001", "2024-01-01"), time_zone="Europe/Brussels"
    )
    assert answer_to(update, role="AGR", private_key=private_key).result == m.Result.ACCEPTED
    query = factories.agr_query(sender=AGR, period="2024-03-31", time_zone="Europe/Brussels")  # a DST day
    answer = answer_to(query, role="AGR", private_key=private_key)
    assert answer.result == m.Result.ACCEPTED, answer.rejection_reason
    assert answer.time_zone == "Europe/Brussels"


def test_a_dso_update_in_brussels_is_applied(make_participant):
    _, private_key = make_participant(DSO, "DSO")
    update = factories.dso_update(
        DSO,
        factories.congestion_point(
            "ean.000000000001", "2024-01-01", None, factories.connection("ean.100000000001", "2024-01-01")
        ),
        time_zone="Europe/Brussels",
    )
    assert answer_to(update, role="DSO", private_key=private_key).result == m.Result.ACCEPTED
    assert Membership.objects.filter(connection_address="ean.100000000001").exists()


@pytest.mark.parametrize(
    "time_zone", ["America/New_York", "Europe/London", "Africa/Lagos", "Europe/NotAZone"]
)
def test_a_zone_with_another_offset_is_rejected(make_participant, time_zone):
    _, private_key = make_participant(AGR, "AGR")
    query = factories.agr_query(sender=AGR, period="2024-06-01", time_zone=time_zone)
    answer = answer_to(query, role="AGR", private_key=private_key)
    assert answer.result == m.Result.REJECTED
    assert answer.rejection_reason.startswith("TimeZone rejected")
    assert answer.time_zone == time_zone


def test_same_offset_today_but_not_throughout_the_periods_is_rejected(make_participant):
    # Africa/Lagos is UTC+1 all year: the same as Amsterdam in winter, not in summer.
    _, private_key = make_participant(AGR, "AGR")
    update = factories.agr_update(
        AGR, factories.connection("ean.100000000001", "2024-01-01", "2024-02-01"), time_zone="Africa/Lagos"
    )
    accepted = answer_to(update, role="AGR", private_key=private_key)
    assert accepted.result == m.Result.ACCEPTED, accepted.rejection_reason
    winter = factories.agr_query(sender=AGR, period="2024-01-15", time_zone="Africa/Lagos")
    assert answer_to(winter, role="AGR", private_key=private_key).result == m.Result.ACCEPTED
    spanning = factories.agr_update(
        AGR, factories.connection("ean.100000000002", "2024-01-01", "2024-04-30"), time_zone="Africa/Lagos"
    )
    answer = answer_to(spanning, role="AGR", private_key=private_key)
    assert answer.result == m.Result.REJECTED
    assert "2024-03-31T01:00Z" in answer.rejection_reason


def test_message_days_of_an_open_end_reach_five_years_ahead():
    update = factories.agr_update(AGR, factories.connection("ean.100000000001", "2024-01-01"))
    first, last = time_zones._message_days(update)
    assert first == dt.date(2024, 1, 1)
    assert last >= dt.date.today() + dt.timedelta(days=5 * 365)
