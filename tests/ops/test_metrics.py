"""/metrics in-process: each metric moves at its point (endpoint, processing and delivery tasks)."""

import pytest
from django.test import Client

from registry import tasks
from registry.models import Message
from registry.services import outbound
from registry.services.heartbeat import heartbeat_record
from tests import factories
from tests.peer_server import RecordingPeer

from .helpers import sample

URL = "/shapeshifter/api/v3/message"
DSO = "dso1.example.com"


def scrape(client=None, **headers) -> str:
    response = (client or Client()).get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return response.content.decode()


@pytest.fixture
def dso(make_participant):
    return make_participant(DSO, "DSO")


def test_refusals_are_counted_by_status(db):
    before = scrape()
    client = Client()
    assert client.post(URL, data=b"<not-xml", content_type="text/xml").status_code == 400
    assert client.generic("POST", URL, b"", CONTENT_TYPE="text/xml", CONTENT_LENGTH="").status_code == 411
    after = scrape()
    assert (
        sample(after, "cro_http_refusals_total", status="400")
        == sample(before, "cro_http_refusals_total", status="400") + 1
    )
    assert (
        sample(after, "cro_http_refusals_total", status="411")
        == sample(before, "cro_http_refusals_total", status="411") + 1
    )
    assert sample(after, "cro_accept_seconds_count") == sample(before, "cro_accept_seconds_count") + 2


def test_received_processed_and_delivered_move(dso):
    participant, private_key = dso
    with RecordingPeer([200]) as peer:
        participant.endpoint_url = peer.url
        participant.save()
        before = scrape()
        body = factories.signed(factories.test_message(sender=DSO), role="DSO", private_key=private_key)
        assert Client().post(URL, data=body, content_type="text/xml").status_code == 200
        received = Message.objects.get(direction="in")
        tasks.process_inbound_message.apply(args=(received.pk,))
        response = Message.objects.get(direction="out")
        tasks.deliver_outbound_message.apply(args=(response.pk,))
        assert peer.received.get(timeout=5)
    after = scrape()

    def moved(name, **labels):
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert moved("cro_messages_received_total", type="TestMessage", version="3.1.0") == 1
    assert moved("cro_messages_processed_total", type="TestMessage", result="accepted") == 1
    assert moved("cro_delivery_attempts_total", outcome="delivered") == 1
    assert moved("cro_processing_seconds_count") == 1
    assert moved("cro_delivery_seconds_count") == 1
    # A redelivered task finds the message delivered: no attempt, nothing counted.
    tasks.deliver_outbound_message.apply(args=(response.pk,))
    assert sample(scrape(), "cro_delivery_attempts_total", outcome="delivered") == sample(
        after, "cro_delivery_attempts_total", outcome="delivered"
    )


def test_failed_and_retried_deliveries_are_counted_apart(make_participant):
    participant, _ = make_participant(DSO, "DSO")
    before = scrape()
    with RecordingPeer([503, 400]) as peer:
        participant.endpoint_url = peer.url
        participant.save()
        message = outbound.participant_test_message_send(participant=participant)
        tasks.deliver_outbound_message.apply(args=(message.pk,))
        Message.objects.filter(pk=message.pk).update(next_attempt_at=None)
        tasks.deliver_outbound_message.apply(args=(message.pk,))
    after = scrape()
    assert (
        sample(after, "cro_delivery_attempts_total", outcome="retry")
        - sample(before, "cro_delivery_attempts_total", outcome="retry")
        == 1
    )
    assert (
        sample(after, "cro_delivery_attempts_total", outcome="failed")
        - sample(before, "cro_delivery_attempts_total", outcome="failed")
        == 1
    )
    assert sample(after, "cro_deliveries_failed") == 1


def test_gauges_come_from_the_database(dso):
    participant, private_key = dso
    heartbeat_record(component="worker", node="w1")
    body = factories.signed(factories.test_message(sender=DSO), role="DSO", private_key=private_key)
    assert Client().post(URL, data=body, content_type="text/xml").status_code == 200
    text = scrape()
    assert sample(text, "cro_messages_pending", status="received") == 1
    assert sample(text, "cro_messages_pending_oldest_age_seconds", status="received") >= 0
    assert sample(text, "cro_participants", status="active") == 1
    assert 0 <= sample(text, "cro_heartbeat_age_seconds", component="worker") < 5
    assert sample(text, "cro_heartbeat_age_seconds", component="beat") == -1


def test_a_token_closes_the_metrics(db, settings):
    settings.CRO_METRICS_TOKEN = "s3cret-metrics-token"
    client = Client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert "cro_participants" in scrape(client, HTTP_AUTHORIZATION="Bearer s3cret-metrics-token")
