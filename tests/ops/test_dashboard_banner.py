"""The dashboard's red banner: stale worker or beat heartbeats, messages waiting past the sweep."""

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from registry.models import Heartbeat, Message
from registry.services import outbound
from registry.services.heartbeat import heartbeat_record


@pytest.fixture
def staff(client, db):
    user = get_user_model().objects.create_user("operator", password="pw-for-tests", is_staff=True)
    client.force_login(user)
    return client


@pytest.fixture
def beating(db):
    heartbeat_record(component="worker", node="w1")
    heartbeat_record(component="beat", node="beat")


def banner(client) -> str | None:
    html = client.get(reverse("web:dashboard")).content.decode()
    if 'id="health-banner"' not in html:
        return None
    return html.split('id="health-banner"', 1)[1].split("</div>\n</div>", 1)[0]


def test_no_banner_when_all_is_well(staff, beating):
    assert banner(staff) is None


def test_banner_names_a_stale_worker(staff, beating, settings):
    Heartbeat.objects.filter(component="worker").update(
        beat_at=timezone.now() - dt.timedelta(seconds=settings.CRO_HEALTH_WORKER_MAX_AGE_SECONDS + 30)
    )
    text = banner(staff)
    assert text is not None
    assert "The worker has not given a sign of life" in text
    assert "beat" not in text.split("worker", 1)[0]


def test_banner_when_no_beat_was_ever_seen(staff, db):
    heartbeat_record(component="worker", node="w1")
    assert "No beat heartbeat has ever been recorded" in banner(staff)


def test_banner_for_a_message_waiting_past_the_sweep_threshold(staff, beating, make_participant, settings):
    participant, _ = make_participant("dso1.example.com", "DSO")
    message = outbound.participant_test_message_send(participant=participant)
    assert banner(staff) is None  # just queued: not late
    late = timezone.now() - dt.timedelta(seconds=settings.CRO_SWEEP_AFTER_SECONDS + 5)
    Message.objects.filter(pk=message.pk).update(updated_at=late, next_attempt_at=None)
    text = banner(staff)
    assert text is not None
    assert f"waiting longer than {settings.CRO_SWEEP_AFTER_SECONDS} s" in text
    # The threshold is the setting, not a constant.
    settings.CRO_SWEEP_AFTER_SECONDS = 3600
    assert banner(staff) is None


def test_a_delivery_waiting_for_its_backoff_is_not_late(staff, beating, make_participant, settings):
    participant, _ = make_participant("dso1.example.com", "DSO")
    message = outbound.participant_test_message_send(participant=participant)
    late = timezone.now() - dt.timedelta(seconds=settings.CRO_SWEEP_AFTER_SECONDS + 5)
    Message.objects.filter(pk=message.pk).update(
        updated_at=late, attempts=1, next_attempt_at=timezone.now() + dt.timedelta(seconds=300)
    )
    assert banner(staff) is None
