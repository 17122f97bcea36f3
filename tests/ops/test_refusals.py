"""Refused requests are recorded per minute with a count: visible, and bounded under a flood."""

import datetime as dt

from django.db.models import Sum
from django.test import Client
from django.utils import timezone

from registry.models import RefusalCount
from registry.selectors.refusals import participant_refusal_summary
from registry.services.refusals import OVERFLOW_KIND, refusal_reason_kind, refusal_record
from registry.uftp import keys
from tests import factories

URL = "/shapeshifter/api/v3/message"
DSO = "dso1.example.com"


def test_a_refusal_records_status_reason_sender_and_address(make_participant):
    participant, _ = make_participant(DSO, "DSO")
    wrong_key, _ = keys.generate_keypair()
    body = factories.signed(factories.test_message(sender=DSO), role="DSO", private_key=wrong_key)
    client = Client(REMOTE_ADDR="192.0.2.7")
    for _ in range(3):
        assert client.post(URL, data=body, content_type="text/xml").status_code == 401
    row = RefusalCount.objects.get()
    assert (row.sender_domain, row.sender_role, row.client_address, row.status, row.count) == (
        DSO,
        "DSO",
        "192.0.2.7",
        401,
        3,
    )
    assert row.reason_kind == "signature does not verify"
    assert row.last_reason.startswith("signature does not verify:")
    [summary] = participant_refusal_summary(participant=participant)
    assert str(summary).startswith("3 requests refused since ")
    assert str(summary).endswith(": signature does not verify (401)")


def test_refusals_before_the_body_is_read_are_recorded_without_a_sender(db):
    client = Client(REMOTE_ADDR="192.0.2.8")
    assert client.generic("POST", URL, b"", CONTENT_TYPE="text/xml", CONTENT_LENGTH="").status_code == 411
    row = RefusalCount.objects.get()
    assert (row.status, row.sender_domain, row.client_address, row.reason_kind) == (
        411,
        "",
        "192.0.2.8",
        "Content-Length is required",
    )


def test_reason_kind_drops_the_variable_part():
    assert refusal_reason_kind("unknown sender evil.example.com (DSO)") == "unknown sender"
    assert refusal_reason_kind("invalid SignedMessage: line 1 column 9") == "invalid SignedMessage"
    assert refusal_reason_kind("charset must be UTF-8, not 'latin-1'") == "charset must be UTF-8, not …"


def test_a_flood_of_distinct_senders_and_addresses_stores_a_bounded_number_of_rows(db, settings):
    settings.CRO_REFUSALS_MAX_ROWS_PER_MINUTE = 50
    minute = timezone.now().replace(second=0, microsecond=0)
    flood = 3000  # in one minute, every request with another forged sender and address
    for index in range(flood):
        refusal_record(
            status=401,
            reason=f"unknown sender forged{index}.example.com (DSO) " + "x" * 1000,
            client_address=f"10.{index // 65536}.{index // 256 % 256}.{index % 256}",
            sender_domain=f"forged{index}.example.com",
            sender_role="DSO",
            now=minute + dt.timedelta(seconds=index * 50 / flood),
        )
    assert RefusalCount.objects.count() == 51  # the cap, plus one overflow row for the status
    assert RefusalCount.objects.aggregate(total=Sum("count"))["total"] == flood
    overflow = RefusalCount.objects.get(reason_kind=OVERFLOW_KIND)
    assert overflow.count == flood - 50
    assert max(len(row.last_reason) for row in RefusalCount.objects.all()) == RefusalCount.REASON_MAX_LENGTH


def test_a_flood_through_the_endpoint_stays_bounded(db, settings):
    settings.CRO_REFUSALS_MAX_ROWS_PER_MINUTE = 20
    requests = 600
    for index in range(requests):
        client = Client(REMOTE_ADDR=f"10.1.{index // 256}.{index % 256}")
        body = f'<SignedMessage SenderDomain="f{index}.example.com" SenderRole="DSO" Body="AAAA"/>'
        assert client.post(URL, data=body.encode(), content_type="text/xml").status_code in (400, 401)
    rows = RefusalCount.objects.count()
    minutes = RefusalCount.objects.values("minute").distinct().count()
    # At most the cap plus one overflow row per status, per minute the flood spanned.
    assert rows <= minutes * (20 + 2)
    assert RefusalCount.objects.aggregate(total=Sum("count"))["total"] == requests


def test_old_counts_are_deleted_past_the_retention(db, settings):
    settings.CRO_REFUSALS_RETENTION_DAYS = 7
    old = timezone.now() - dt.timedelta(days=8)
    refusal_record(status=400, reason="old", client_address="192.0.2.1", now=old)
    assert RefusalCount.objects.count() == 1
    refusal_record(status=400, reason="new", client_address="192.0.2.1")
    assert list(RefusalCount.objects.values_list("last_reason", flat=True)) == ["new"]
