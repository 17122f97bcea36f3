"""The dashboard counts retried deliveries apart from failed ones; its chart's bars open that hour."""

import datetime as dt
import html
import re

from django.test import Client
from django.utils import timezone

from registry.models import Message
from registry.selectors.dashboard import dashboard_counts
from tests.api.conftest import make_message

DSO = "dso1.example.com"


def test_retrying_deliveries_are_counted_apart_from_failed(make_participant):
    participant, _ = make_participant(DSO, "DSO")
    make_message(participant, direction="out", status="failed", attempts=5)
    make_message(participant, direction="out", status="response_queued", attempts=2)
    make_message(participant, direction="out", status="response_queued", attempts=0)  # not tried yet
    counts = dashboard_counts()
    assert (counts.failed_deliveries, counts.deliveries_retrying) == (1, 1)


def test_a_chart_bar_links_to_the_messages_of_its_hour(make_participant, make_role_user):
    participant, _ = make_participant(DSO, "DSO")
    now = timezone.now()
    make_message(participant, message_type="ThisHour")
    earlier = make_message(participant, message_type="Earlier")
    Message.objects.filter(pk=earlier.pk).update(created_at=now - dt.timedelta(hours=3))
    client = Client()
    client.force_login(make_role_user("viewer"))
    page = client.get("/").content.decode()
    assert 'data-count="retrying"' in page
    links = [html.unescape(href) for href in re.findall(r'<a class="bar-link" href="([^"]+)"', page)]
    assert len(links) == 72
    listing = client.get(links[-1]).content.decode()  # the current hour
    assert "ThisHour" in listing and "Earlier" not in listing
    listing = client.get(links[-4]).content.decode()  # three hours ago
    assert "Earlier" in listing and "ThisHour" not in listing
