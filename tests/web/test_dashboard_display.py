"""The dashboard reads well: thousands separators, barred participants in a banner, x-axis day
labels that never overlap."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from registry.selectors.dashboard import HourCount
from registry.web.presentation import AXIS_LABEL_MIN_GAP, hourly_chart
from tests.web import builders


def test_counts_have_thousands_separators_and_barred_participants_a_banner(staff_client, make_participant):
    dso, _ = make_participant("dso1.example.com", "DSO")
    agr, _ = make_participant("agr1.example.com", "AGR")
    make_participant("agr2.example.com", "AGR", status="barred")
    builders.bulk_registry(dso=dso, agr=agr, congestion_points=1, connections_per_cp=1200)
    page = staff_client.get(reverse("web:dashboard")).content.decode()
    assert 'data-count="connections">1,200<' in page
    assert 'id="barred-banner"' in page and "1 participant barred" in page
    assert "?status=barred" in page


def test_no_barred_banner_when_nobody_is_barred(staff_client, make_participant):
    make_participant("dso1.example.com", "DSO")
    assert 'id="barred-banner"' not in staff_client.get(reverse("web:dashboard")).content.decode()


@pytest.mark.parametrize("first_hour", [0, 5, 21, 22, 23])
def test_axis_labels_never_overlap(first_hour):
    start = dt.datetime(2026, 3, 1, first_hour, tzinfo=ZoneInfo("Europe/Amsterdam"))
    hours = [
        HourCount(hour=start + dt.timedelta(hours=index), inbound=index % 3, outbound=1)
        for index in range(72)
    ]
    labels = hourly_chart(hours).labels
    assert len(labels) >= 3
    gaps = [later.x - earlier.x for earlier, later in zip(labels, labels[1:], strict=False)]
    assert min(gaps) >= AXIS_LABEL_MIN_GAP
