"""Delivery of outbound messages (cro-rules §6) to a real HTTP server on loopback."""

import datetime as dt
from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from registry.models import Message
from registry.services import outbound, sweep
from tests.peer_server import RecordingPeer

DSO = "dso1.example.com"


@pytest.fixture
def queued(make_participant):
    """A queued TestMessage to a participant whose endpoint is set by the test."""

    def _queued(endpoint_url: str) -> Message:
        participant, _ = make_participant(DSO, "DSO", endpoint_url=endpoint_url)
        return outbound.participant_test_message_send(participant=participant)

    return _queued


def deliver(message: Message) -> outbound.DeliveryOutcome | None:
    outcome = outbound.outbound_message_deliver(message_pk=message.pk)
    message.refresh_from_db()
    return outcome


def make_due(message: Message) -> None:
    Message.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())


def test_200_is_final_success(queued):
    with RecordingPeer([200]) as peer:
        message = queued(peer.url)
        outcome = deliver(message)
        assert peer.received.get(timeout=1) == message.signed_xml.encode()
    assert outcome.delivered
    assert message.status == "delivered"
    assert message.attempts == 1
    assert message.delivered_at is not None


@pytest.mark.parametrize("status", [400, 401, 403, 413])
def test_definite_4xx_fails_without_retry(queued, status):
    with RecordingPeer([status]) as peer:
        message = queued(peer.url)
        outcome = deliver(message)
        make_due(message)
        assert deliver(message) is None  # nothing more is attempted
        assert peer.received.qsize() == 1
    assert outcome.failed
    assert message.status == "failed"
    assert message.attempts == 1
    assert f"HTTP {status}" in message.last_error


@pytest.mark.parametrize("status", [500, 503, 404, 419, 429])
def test_retryable_answers_are_retried_with_backoff(queued, status, settings):
    settings.CRO_DELIVERY_BACKOFF_BASE_SECONDS = 10
    with RecordingPeer([status, status, 200]) as peer:
        message = queued(peer.url)
        first = deliver(message)
        assert first.retry_in == 10
        assert deliver(message) is None  # not due yet
        make_due(message)
        second = deliver(message)
        assert second.retry_in == 20  # exponential
        make_due(message)
        assert deliver(message).delivered
    assert message.status == "delivered"
    assert message.attempts == 3


def test_connection_refused_is_retried(queued):
    with RecordingPeer() as peer:
        url = peer.url
    message = queued(url)  # the server is gone: connection refused
    outcome = deliver(message)
    assert outcome.retry_in is not None
    assert message.status == "response_queued"
    assert "ConnectionError" in message.last_error


def test_gives_up_after_the_retry_window(queued):
    with RecordingPeer([503]) as peer:
        message = queued(peer.url)
        Message.objects.filter(pk=message.pk).update(give_up_at=timezone.now() - dt.timedelta(seconds=1))
        outcome = deliver(message)
    assert outcome.failed
    assert message.status == "failed"
    assert "gave up after 1 attempts" in message.last_error


def test_administrator_retry_queues_a_failed_delivery_again(queued):
    with RecordingPeer([400, 200]) as peer:
        message = queued(peer.url)
        deliver(message)
        assert message.status == "failed"
        outbound.outbound_message_retry(message=message)
        assert message.status == "response_queued"
        assert deliver(message).delivered
    assert message.attempts == 2


def test_only_failed_messages_can_be_retried(queued):
    from django.core.exceptions import ValidationError

    message = queued("http://127.0.0.1:9/x")
    with pytest.raises(ValidationError):
        outbound.outbound_message_retry(message=message)


def test_sweep_dispatches_stuck_messages_only(queued, make_participant, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    stuck = queued("http://127.0.0.1:9/x")
    old = timezone.now() - dt.timedelta(minutes=10)
    Message.objects.filter(pk=stuck.pk).update(next_attempt_at=old)
    fresh_participant, _ = make_participant("dso2.example.com", "DSO")
    fresh = outbound.participant_test_message_send(participant=fresh_participant)
    Message.objects.filter(pk=fresh.pk).update(next_attempt_at=timezone.now() + dt.timedelta(minutes=5))
    report = sweep.messages_sweep(older_than_seconds=60)
    assert report.outbound == 1
    assert report.inbound == 0


def test_a_peer_that_does_not_answer_in_time_is_a_retried_timeout(queued, settings):
    """A listening socket that never answers: the attempt ends at CRO_DELIVERY_TIMEOUT_SECONDS."""
    import socket

    from registry.models import DeliveryAttempt

    settings.CRO_DELIVERY_TIMEOUT_SECONDS = 1
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        message = queued(f"http://127.0.0.1:{silent.getsockname()[1]}/shapeshifter/api/v3/message")
        outcome = deliver(message)
    assert outcome.retry_in is not None
    assert message.last_error.startswith("timeout after 1s posting to http://127.0.0.1:")
    assert DeliveryAttempt.objects.get(message=message).error_class == "Timeout"


def test_deliveries_go_through_the_proxy_the_environment_names(queued, monkeypatch):
    """http_proxy / no_proxy are honoured (an egress proxy in front of the CRO)."""
    from registry.services import outbound

    with RecordingPeer([200]) as proxy, RecordingPeer([200]) as direct:
        monkeypatch.setenv("http_proxy", proxy.url.split("/shapeshifter")[0])
        monkeypatch.delenv("no_proxy", raising=False)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.setattr(outbound, "_pools", {})
        message = queued("http://peer.example.invalid/shapeshifter/api/v3/message")
        assert deliver(message).delivered
        assert proxy.received.get(timeout=5) == message.signed_xml.encode()

        # no_proxy names the peer's host: straight to it.
        monkeypatch.setenv("no_proxy", "127.0.0.1")
        monkeypatch.setattr(outbound, "_pools", {})
        message.participant.endpoint_url = direct.url
        message.participant.save(update_fields=["endpoint_url"])
        second = outbound.participant_test_message_send(participant=message.participant)
        assert deliver(second).delivered
        assert direct.received.get(timeout=5) == second.signed_xml.encode()
        assert proxy.received.empty()


def test_deliveries_to_one_origin_share_a_kept_alive_connection_and_keep_the_query(queued, monkeypatch):
    """The origin's pool (outbound._pool_for): consecutive POSTs reuse one TCP connection, each
    to the endpoint's path with its query string and the origin as Host."""
    monkeypatch.setattr(outbound, "_pools", {})
    with RecordingPeer([200], keep_alive=True) as peer:
        first = queued(peer.url + "?tenant=a%20b")
        second = outbound.participant_test_message_send(participant=first.participant)
        assert deliver(first).delivered
        assert deliver(second).delivered
        requests = [peer.requests.get(timeout=5) for _ in range(2)]
    origin = peer.url.split("/shapeshifter")[0].removeprefix("http://")
    assert [(target, host) for target, host, _ in requests] == [
        ("/shapeshifter/api/v3/message?tenant=a%20b", origin)
    ] * 2
    assert requests[0][2] == requests[1][2]  # the same client port: one connection


def test_an_https_peer_behind_the_environments_proxy_gets_a_proxy_pool_with_the_ca_bundle(monkeypatch):
    """https_proxy names an egress proxy: an https endpoint's pool is a ProxyManager that checks
    the peer's certificate against certifi's bundle (the pool is only built here: no TLS)."""
    import certifi
    import urllib3

    monkeypatch.setenv("https_proxy", "http://127.0.0.1:9")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.setattr(outbound, "_pools", {})
    pool = outbound._pool_for(urlsplit("https://peer.example.invalid/shapeshifter/api/v3/message"))
    assert isinstance(pool, urllib3.ProxyManager)
    assert pool.connection_pool_kw["ca_certs"] == certifi.where()
