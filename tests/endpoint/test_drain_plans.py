"""The drain's reads cost what is pending, not the message history (PostgreSQL plans, no timing)."""

import json

import pytest
from django.db import connection, transaction

from registry.models import Message
from registry.services import processing
from tests.plans import nodes, plan_of, statements_sent

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

HISTORY = 20_000
SENDER = ("dso1.example.com", "DSO")


@pytest.fixture
def long_history():
    """A sender with 20,000 processed messages and 3 pending ones, and another sender's pending one."""

    def message(n: int, status: str, domain: str = SENDER[0]) -> Message:
        return Message(
            direction="in",
            status=status,
            message_type="TestMessage",
            version="3.1.0",
            sender_domain=domain,
            sender_role="DSO",
            recipient_domain="cro.example.com",
            recipient_role="CRO",
            message_id=f"m-{domain}-{n}",
            conversation_id=f"c-{n}",
        )

    Message.objects.bulk_create([message(n, "processed") for n in range(HISTORY)], batch_size=5000)
    Message.objects.bulk_create(
        [message(HISTORY + n, "received") for n in range(3)] + [message(0, "received", "dso2.example.com")]
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE registry_message")


def plans(run) -> list[str]:
    with transaction.atomic():
        return [
            json.dumps(plan_of(sql, params, bound_on_server=bound_on_server))
            for sql, params, bound_on_server in statements_sent(run)
            if sql.lstrip().upper().startswith(("SELECT", "WITH"))
        ]


def test_the_pending_senders_and_a_batch_come_from_the_pending_rows(long_history):
    senders: list = []
    batch: list = []
    explained = plans(lambda: senders.extend(processing._pending_senders()))
    explained += plans(lambda: batch.extend(processing._pending_batch(sender=SENDER, batch=20) or ()))

    assert senders == [SENDER, ("dso2.example.com", "DSO")]  # one row per sender
    assert [m.message_id for m in batch] == [f"m-{SENDER[0]}-{HISTORY + n}" for n in range(3)]
    assert len(explained) == 2
    for plan in explained:
        assert "message_inbound_pending_idx" in plan, plan
        assert not [node for node in nodes(json.loads(plan)) if message_scanned_whole(node)], plan


def message_scanned_whole(node: dict) -> bool:
    return node["Node Type"] == "Seq Scan" and node.get("Relation Name") == "registry_message"


def test_a_batch_write_finds_its_rows_by_key_even_in_a_generic_plan(long_history):
    """The batch's write (processed fields and responses, rows.rows_update_and_insert) is
    prepared on the server after a few runs, where PostgreSQL may keep a generic plan: it must
    reach the messages by their key, not by reading the history."""
    from registry.services import rows

    fields = ("status", "result", "processed_at", "updated_at")
    sql, _, _ = rows.update_and_insert_statement(Message, fields, Message)
    with transaction.atomic():
        plan = plan_of(sql, ["[]", "[]"], bound_on_server=True)
    assert not [node for node in nodes(plan) if message_scanned_whole(node)], plan
    assert "registry_message_pkey" in json.dumps(plan)
