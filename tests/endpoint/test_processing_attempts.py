"""Poison messages (issue 15, item 4): a message whose processing keeps failing is given up on
after CRO_MAX_PROCESSING_ATTEMPTS, answered Rejected with a generic reason and left failed for the
administrators; the sweep no longer dispatches it, and a replay of it no longer waits for ever."""

import pytest

from registry import tasks
from registry.models import Membership, Message
from registry.services import processing_attempts, sweep
from registry.services.portfolio import dso_portfolio_update_apply
from registry.uftp import messages as m
from tests import factories
from tests.endpoint.test_processing import DSO, receive, response_payload

CP1, C1 = "ean.000000000001", "ean.100000000001"
# A connection stored before entity addresses were checked strictly: no XML can carry it.
UNWRITABLE_ADDRESS = "ea1.2024-01.example.com:c\x01"


@pytest.fixture
def dso(make_participant):
    return make_participant(DSO, "DSO")


@pytest.fixture
def poison_query(dso):
    """A DSOPortfolioQuery whose answer cannot be serialised: its processing raises every time."""
    update = factories.dso_update(
        DSO, factories.cp(CP1, "2024-01-01", None, factories.conn(C1, "2024-01-01"))
    )
    assert dso_portfolio_update_apply(dso=dso[0], message=update).accepted
    Membership.objects.filter(connection_address=C1).update(connection_address=UNWRITABLE_ADDRESS)
    return factories.dso_query(sender=DSO, entity_address=CP1, period="2024-06-01")


def run_task(message: Message) -> None:
    tasks.process_inbound_message.apply(args=[message.pk])
    message.refresh_from_db()


def test_a_poison_message_is_failed_and_answered_after_the_attempts(dso, poison_query, settings):
    settings.CRO_MAX_PROCESSING_ATTEMPTS = 3
    settings.CRO_SWEEP_AFTER_SECONDS = 0
    message = receive(poison_query, role="DSO", private_key=dso[1])

    for attempt in range(1, 4):
        run_task(message)
        assert (message.status, message.attempts) == ("processing", attempt)
        assert message.last_error  # what went wrong, for the administrators
        assert sweep.messages_sweep().inbound == 1  # still dispatched again

    run_task(message)  # the sweep's fourth dispatch: attempts are used up

    assert message.status == "failed" and message.result == "Rejected"
    assert message.rejection_reason == processing_attempts.PROCESSING_FAILED_REASON
    assert "gave up after 3 processing attempts" in message.last_error
    answer = response_payload(message.responses.get(direction="out"))
    assert isinstance(answer, m.DSOPortfolioQueryResponse)
    assert (
        answer.result == m.Result.REJECTED
        and answer.rejection_reason == processing_attempts.PROCESSING_FAILED_REASON
    )
    assert sweep.messages_sweep().inbound == 0
    run_task(message)
    assert Message.objects.filter(direction="out").count() == 1


def test_a_replay_of_a_failed_message_gets_its_answer(dso, poison_query, settings):
    settings.CRO_MAX_PROCESSING_ATTEMPTS = 1
    first = receive(poison_query, role="DSO", private_key=dso[1])
    run_task(first)
    run_task(first)
    assert first.status == "failed"

    again = receive(poison_query, role="DSO", private_key=dso[1])
    run_task(again)

    assert again.status == "processed" and again.result == "Rejected"
    assert (
        response_payload(again.responses.get()).rejection_reason
        == processing_attempts.PROCESSING_FAILED_REASON
    )


def test_waiting_for_an_earlier_twin_is_bounded(dso, settings):
    settings.CRO_MAX_PENDING_RETRIES = 3
    payload = factories.test_message(sender=DSO)
    first = receive(payload, role="DSO", private_key=dso[1])  # never processed: its worker is gone
    again = receive(payload, role="DSO", private_key=dso[1])

    run_task(again)

    assert again.status == "failed" and again.result == "Rejected"
    assert again.attempts == 0  # waiting is no failed attempt
    assert "gave up waiting" in again.last_error
    assert isinstance(response_payload(again.responses.get()), m.TestMessageResponse)  # 3.x: no Result
    first.refresh_from_db()
    assert first.status == "received"
