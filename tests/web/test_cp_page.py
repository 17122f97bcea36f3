"""The congestion point page (AGRs per connection, a compact grouped timeline, history linked to
the CSV import) and the DSO portfolio on a day."""

from __future__ import annotations

import datetime as dt

from django.urls import reverse

from registry.models import CongestionPoint
from registry.services import csv_io
from registry.web.presentation import membership_timeline, timeline_ticks
from tests.web import builders
from tests.web.test_csv_import import csv_text


def test_the_cp_page_shows_the_agr_of_each_connection(staff_client, example):
    cp = CongestionPoint.objects.get(entity_address=builders.CP1)
    response = staff_client.get(reverse("web:congestion-point-detail", kwargs={"pk": cp.pk}))
    agrs = {row.connection_address: [r.agr.domain for r in row.agr_list] for row in response.context["page"]}
    assert agrs == {
        "ean.100000000001": [builders.AGR_A],
        "ean.100000000002": [builders.AGR_A],
        "ean.100000000003": [builders.AGR_B],
    }
    assert f'href="/participants/{example.agr_b.pk}/">{builders.AGR_B}</a>' in response.content.decode()


def test_identical_connections_share_one_timeline_row(staff_client, make_participant):
    dso, _ = make_participant(builders.DSO1, "DSO")
    rows = [f"ean.000000000001,2024-01-01,,true,DSO,AGR,ean.1000000{n:05d},2024-01-01," for n in range(400)]
    rows.append("ean.000000000001,2024-01-01,,true,DSO,AGR,ean.100000099999,2024-05-01,2024-09-30")
    job = csv_io.csv_import_preview(dso=dso, data=csv_text(*rows).encode())
    csv_io.csv_import_queue(csv_import=job)
    csv_io.csv_import_apply(csv_import_pk=job.pk)
    cp = CongestionPoint.objects.get(entity_address="ean.000000000001")
    response = staff_client.get(reverse("web:congestion-point-detail", kwargs={"pk": cp.pk}))
    timeline = response.context["timeline"]
    assert [row.label for row in timeline.rows] == ["congestion point", "400 connections", "ean.100000099999"]
    assert timeline.connection_count == 401 and timeline.height < 200
    assert len(timeline.ticks) >= 4
    content = response.content.decode()
    # History rows written by the import link to it.
    assert f'href="/import/{job.pk}/" data-csv-import' in content
    history = staff_client.get(reverse("web:entity-history"), {"address": "ean.100000099999"})
    assert f'href="/import/{job.pk}/" data-csv-import' in history.content.decode()


def test_the_timeline_draws_at_most_max_rows():
    class Row:
        def __init__(self, address, start):
            self.connection_address, self.start_period, self.end_period = address, start, None
            self.superseded_at, self.recorded_at = None, dt.datetime(2024, 1, 1, tzinfo=dt.UTC)

    rows = [Row(f"ean.{n}", dt.date(2024, 1, 1) + dt.timedelta(days=n)) for n in range(50)]
    timeline = membership_timeline(rows, versions=[], today=dt.date(2024, 6, 1), max_rows=10)
    assert len(timeline.rows) == 10 and timeline.rows_not_shown == 40


def test_timeline_ticks_stay_apart_whatever_the_span():
    def x_of(day):
        return (day - dt.date(2015, 1, 1)).days * 800 / (dt.date(2030, 1, 1) - dt.date(2015, 1, 1)).days

    ticks = timeline_ticks(first=dt.date(2015, 1, 1), last=dt.date(2030, 1, 1), x_of=x_of, plot_width=800)
    assert 4 <= len(ticks) <= 12
    assert min(b.x - a.x for a, b in zip(ticks, ticks[1:], strict=False)) >= 50
    short = timeline_ticks(
        first=dt.date(2024, 3, 5), last=dt.date(2024, 3, 20), x_of=lambda d: 0, plot_width=800
    )
    assert len(short) == 2


def test_dso_portfolio_on_a_day_lists_cps_connections_and_agrs(staff_client, example):
    url = reverse("web:dso-portfolio")
    assert staff_client.get(url).context["form"].initial["day"] is not None
    response = staff_client.get(url, {"dso": example.dso1.pk, "day": "2024-07-15"})
    assert [cp.entity_address for cp in response.context["cps_page"]] == [builders.CP1]
    assert response.context["cps_page"][0].connection_count == 2
    listed = {m.connection_address: [r.agr.domain for r in m.agr_list] for m in response.context["page"]}
    assert listed == {"ean.100000000001": [builders.AGR_A], "ean.100000000003": [builders.AGR_B]}
    response = staff_client.get(url, {"dso": example.dso2.pk, "day": "2025-01-10"})
    assert "no congestion point active on that day" in response.content.decode()


def test_dso_portfolio_as_known_at_a_moment(staff_client, example):
    from registry.models import Representation

    recorded = Representation.objects.get(connection_address="ean.100000000003").recorded_at
    response = staff_client.get(
        reverse("web:dso-portfolio"),
        {
            "dso": example.dso1.pk,
            "day": "2024-07-15",
            # Just before the AGR's update: the DSO's, applied a moment earlier, is known.
            "as_of": (recorded - dt.timedelta(microseconds=1)).isoformat(),
        },
    )
    listed = {m.connection_address: m.agr_list for m in response.context["page"]}
    assert listed["ean.100000000003"] == []
