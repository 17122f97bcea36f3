"""Two workers processing conflicting messages at the same moment, through the worker's own path.

The registry service runs nested in the worker's transaction (message row lock, response row),
so its retry after a lost race happens inside that outer transaction: the loser must still be
answered with the proper conflict reason and the registry must hold the winner only.
"""

import threading

import pytest
from django.test import Client

from registry.models import Membership, Message
from registry.services import processing
from registry.services.portfolio import dso as portfolio_dso
from tests import factories
from tests.registry.test_concurrency import TIMEOUT, run_together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

C1 = "ean.100000000001"


def received(payload, *, private_key: str) -> Message:
    body = factories.signed(payload, role="DSO", private_key=private_key)
    assert (
        Client().post("/shapeshifter/api/v3/message", data=body, content_type="text/xml").status_code == 200
    )
    return Message.objects.get(direction="in", message_id=payload.message_id)


def test_conflicting_updates_processed_at_once_one_wins_one_is_rejected(make_participant, monkeypatch):
    dso1, key1 = make_participant("dso1.example.com", "DSO")
    dso2, key2 = make_participant("dso2.example.com", "DSO")
    first = received(
        factories.dso_update(
            sender=dso1.domain,
            congestion_points=[
                factories.congestion_point(
                    "ean.000000000001", "2024-01-01", connections=[factories.connection(C1, "2024-01-01")]
                )
            ],
        ),
        private_key=key1,
    )
    second = received(
        factories.dso_update(
            sender=dso2.domain,
            congestion_points=[
                factories.congestion_point(
                    "ean.000000000002", "2024-01-01", connections=[factories.connection(C1, "2024-06-01")]
                )
            ],
        ),
        private_key=key2,
    )
    # Both workers pass the conflict check before either writes.
    both_checked = threading.Barrier(2)
    real_check = portfolio_dso._dso_connection_conflicts
    calls = []

    def check_then_wait(**kwargs):
        reasons = real_check(**kwargs)
        calls.append(reasons)
        if len(calls) <= 2:
            both_checked.wait(TIMEOUT)
        return reasons

    monkeypatch.setattr(portfolio_dso, "_dso_connection_conflicts", check_then_wait)

    run_together(
        lambda: processing.message_process(message_pk=first.pk),
        lambda: processing.message_process(message_pk=second.pk),
    )

    first.refresh_from_db()
    second.refresh_from_db()
    assert {first.status, second.status} == {"processed"}
    assert sorted([first.result, second.result]) == ["Accepted", "Rejected"]
    loser = first if first.result == "Rejected" else second
    winner_cp = "ean.000000000002" if loser is first else "ean.000000000001"
    assert loser.rejection_reason == f"Connection conflict: [{C1}] at [{winner_cp}]"
    assert list(Membership.objects.values_list("congestion_point__entity_address", flat=True)) == [winner_cp]
    # Each message got exactly one response, carrying its own Result.
    for message in (first, second):
        response = Message.objects.get(direction="out", request=message)
        assert response.result == message.result
