"""The delivery attempt log: every attempt stored, shown on the message page and in the API."""

from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from registry.models import DeliveryAttempt, Message
from registry.services import outbound
from tests.peer_server import RecordingPeer

DSO = "dso1.example.com"


def deliver_until_final(message: Message) -> None:
    for _ in range(10):
        outbound.outbound_message_deliver(message_pk=message.pk)
        message.refresh_from_db()
        if message.status != Message.Status.RESPONSE_QUEUED:
            return
        Message.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())


def test_each_attempt_is_stored_and_shown(make_participant, make_role_user):
    with RecordingPeer([503, 429, 200]) as peer:
        participant, _ = make_participant(DSO, "DSO", endpoint_url=peer.url)
        message = outbound.participant_test_message_send(participant=participant)
        deliver_until_final(message)
    assert message.status == Message.Status.DELIVERED
    attempts = list(DeliveryAttempt.objects.filter(message=message))
    assert [(a.number, a.http_status, a.outcome) for a in attempts] == [
        (1, 503, "retry"),
        (2, 429, "retry"),
        (3, 200, "delivered"),
    ]
    assert attempts[0].next_attempt_at is not None and attempts[2].next_attempt_at is None
    assert attempts[0].summary.startswith("HTTP 503 from ")
    assert all(a.duration_seconds >= 0 for a in attempts)

    viewer = make_role_user("viewer")
    web = Client()
    web.force_login(viewer)
    page = web.get(f"/messages/{message.pk}/").content.decode()
    assert "delivered after 3 attempts" in page
    assert page.count('data-outcome="retry"') == 2 and page.count('data-outcome="delivered"') == 1

    api = APIClient()
    api.force_authenticate(viewer)
    rows = api.get("/api/delivery-attempts/", {"message": message.pk}).json()["results"]
    assert sorted((row["number"], row["http_status"]) for row in rows) == [(1, 503), (2, 429), (3, 200)]


def test_a_connection_error_records_its_class_and_the_final_failure(make_participant, make_role_user):
    participant, _ = make_participant(DSO, "DSO", endpoint_url="http://127.0.0.1:9/message")
    message = outbound.participant_test_message_send(participant=participant)
    Message.objects.filter(pk=message.pk).update(give_up_at=timezone.now())
    deliver_until_final(message)
    assert message.status == Message.Status.FAILED
    attempt = DeliveryAttempt.objects.get(message=message)
    assert (attempt.outcome, attempt.http_status, attempt.error_class) == ("failed", None, "ConnectionError")
    viewer = make_role_user("viewer")
    web = Client()
    web.force_login(viewer)
    assert "failed after 1 attempt" in web.get(f"/messages/{message.pk}/").content.decode()
