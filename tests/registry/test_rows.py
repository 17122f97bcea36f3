"""registry.services.rows: the drain's INSERT of responses and delivery attempts."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import DataError, connection, transaction
from django.utils import timezone

from registry.models import DeliveryAttempt, Message
from registry.services.rows import rows_insert, rows_update_and_insert

pytestmark = pytest.mark.django_db

ON_POSTGRESQL = pytest.mark.skipif(connection.vendor != "postgresql", reason="the PostgreSQL statement")


def outbound(participant, number: int, **fields) -> Message:
    now = timezone.now()
    values = {
        "direction": Message.Direction.OUTBOUND,
        "status": Message.Status.RESPONSE_QUEUED,
        "message_type": "TestMessageResponse",
        "version": "3.0.0",
        "sender_domain": "cro.example.com",
        "sender_role": "CRO",
        "recipient_domain": participant.domain,
        "recipient_role": participant.role,
        "participant": participant,
        "message_id": f"rows-{number}",
        "conversation_id": "conversation",
        "time_stamp": now,
        "signed_xml": '<SignedMessage Body="x"/>',
        "inner_xml": "<TestMessageResponse/>",
        "body_digest": "0" * 64,
        "next_attempt_at": now,
        **fields,
    }
    return Message(**values)


def test_rows_are_stored_as_given_and_get_their_keys_in_order(make_participant):
    participant, _ = make_participant("dso.example.com")
    at = dt.datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=dt.UTC)
    messages = [
        outbound(participant, 1, rejection_reason='quotes " \\ and ünïcode ✓', next_attempt_at=None),
        outbound(participant, 2, time_stamp=at, attempts=3, result="Accepted"),
        outbound(participant, 3, last_error="x" * 5000),
    ]
    rows_insert(objects=messages)
    assert [m.pk for m in messages] == sorted(m.pk for m in messages)
    for message in messages:
        stored = Message.objects.get(pk=message.pk)
        assert stored.message_id == message.message_id
        assert stored.rejection_reason == message.rejection_reason
        assert stored.last_error == message.last_error
        assert stored.attempts == message.attempts
        assert stored.time_stamp == message.time_stamp
        assert stored.next_attempt_at == message.next_attempt_at
        assert stored.participant_id == participant.pk
        assert stored.request_id is None
        assert abs(stored.updated_at - stored.created_at) < dt.timedelta(seconds=1)  # auto_now: set
    assert Message.objects.get(pk=messages[1].pk).time_stamp == at

    attempts = [
        DeliveryAttempt(
            message=message,
            number=1,
            started_at=at,
            duration_seconds=0.25 * index,
            outcome="retry" if index else "delivered",
            http_status=None if index else 200,
            next_attempt_at=at if index else None,
        )
        for index, message in enumerate(messages)
    ]
    rows_insert(objects=attempts)
    stored = list(DeliveryAttempt.objects.order_by("pk"))
    assert [a.pk for a in stored] == [a.pk for a in attempts]
    assert [(a.message_id, a.duration_seconds, a.http_status, a.next_attempt_at) for a in stored] == [
        (m.pk, 0.25 * i, None if i else 200, at if i else None) for i, m in enumerate(messages)
    ]


@ON_POSTGRESQL
def test_an_over_long_value_is_refused_not_cut(make_participant):
    """Every value is checked against its column as an INSERT checks it: nothing is truncated."""
    participant, _ = make_participant("dso.example.com")
    with pytest.raises(DataError), transaction.atomic():
        rows_insert(objects=[outbound(participant, 1), outbound(participant, 2, message_type="T" * 500)])
    assert not Message.objects.filter(direction=Message.Direction.OUTBOUND).exists()


@ON_POSTGRESQL
def test_one_statement_of_one_parameter_whatever_the_rows(make_participant):
    """A statement with a parameter per value (28 per message row) was past psycopg's cache of
    converted statements (50 parameters): split and quoted anew for every batch."""
    participant, _ = make_participant("dso.example.com")
    executed = []

    def capture(execute, sql, params, many, context):
        executed.append((sql, len(params)))
        return execute(sql, params, many, context)

    statements = set()
    for count in (1, 25):
        executed.clear()
        with connection.execute_wrapper(capture):
            rows_insert(objects=[outbound(participant, 100 * count + i) for i in range(count)])
        assert [params for _, params in executed] == [1]
        statements.add(executed[0][0])
    assert len(statements) == 1
    assert Message.objects.filter(direction=Message.Direction.OUTBOUND).count() == 26


@ON_POSTGRESQL
def test_rows_are_updated_and_inserted_in_one_statement(make_participant):
    """A drain's batch: the processed fields of its messages and their responses."""
    participant, _ = make_participant("dso.example.com")
    stored = [outbound(participant, i) for i in range(3)]
    rows_insert(objects=stored)
    at = dt.datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=dt.UTC)
    for index, message in enumerate(stored[:2]):
        message.status = Message.Status.DELIVERED
        message.last_error = f'error "{index}" ✓'
        message.delivered_at = at
    responses = [outbound(participant, 10 + i, request=stored[i]) for i in range(2)]
    executed = []

    def capture(execute, sql, params, many, context):
        executed.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        rows_update_and_insert(
            updated=stored[:2], fields=["status", "last_error", "delivered_at"], inserted=responses
        )
    assert len(executed) == 1
    for index, message in enumerate(stored):
        message.refresh_from_db()
        if index < 2:
            assert (message.status, message.last_error, message.delivered_at) == (
                Message.Status.DELIVERED,
                f'error "{index}" ✓',
                at,
            )
        else:  # not in the update
            assert (message.status, message.last_error, message.delivered_at) == (
                Message.Status.RESPONSE_QUEUED,
                "",
                None,
            )
    assert [Message.objects.get(pk=r.pk).request_id for r in responses] == [stored[0].pk, stored[1].pk]


@ON_POSTGRESQL
def test_an_over_long_updated_value_is_refused_and_nothing_is_written(make_participant):
    participant, _ = make_participant("dso.example.com")
    stored = [outbound(participant, 1)]
    rows_insert(objects=stored)
    stored[0].result = "R" * 500
    with pytest.raises(DataError), transaction.atomic():
        rows_update_and_insert(updated=stored, fields=["result"], inserted=[outbound(participant, 2)])
    assert Message.objects.get().result == ""


@ON_POSTGRESQL
def test_values_taken_as_they_are_equal_djangos_database_form(make_participant):
    """_json_rows skips get_db_prep_save for values already in their database form: for every
    kind of value a row holds (choices, aware and naive date-times, ints, bools, a key, None)
    the JSON is the one Django's conversion gives."""
    import json

    from registry.services import rows

    participant, _ = make_participant("dso.example.com")
    at = dt.datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=dt.UTC)
    instances = [
        outbound(participant, 1, time_stamp=at, attempts=3, status=Message.Status.DELIVERED),
        outbound(participant, 2, time_stamp=at.replace(tzinfo=None), status="queued", next_attempt_at=None),
        outbound(participant, 3, attempts=True, path_major=4, result="Accepted"),
    ]
    fields = [field for field in Message._meta.concrete_fields if not field.primary_key]
    columns = [str(field.column) for field in fields]

    def djangos(instance) -> dict:
        row = {}
        for column, field in zip(columns, fields, strict=True):
            value = field.get_db_prep_save(getattr(instance, field.attname), connection)
            row[column] = value.isoformat() if isinstance(value, dt.datetime) else value
        return row

    with pytest.warns(RuntimeWarning, match="naive datetime"):
        expected = [djangos(instance) for instance in instances]
    with pytest.warns(RuntimeWarning, match="naive datetime"):  # made aware as Django makes it
        produced = json.loads(rows._json_rows(instances, fields, columns, adding=False))
    assert produced == json.loads(json.dumps(expected))
    assert produced[2]["attempts"] == 1 and produced[0]["status"] == "delivered"
