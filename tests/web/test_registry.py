"""Registry pages: congestion points with filters, a CP's timeline, an AGR's portfolio on a day,
the history of an entity, and the CSV export of the current selection (cro-rules §8 data)."""

from __future__ import annotations

import datetime as dt

from django.urls import reverse
from django.utils import timezone

from registry.models import CongestionPoint
from tests.web import builders

HEADER = (
    "congestion_point,cp_start,cp_end,mutex_offers_supported,day_ahead_redispatch_by,"
    "intraday_redispatch_by,connection,connection_start,connection_end"
)


def cps(response) -> dict[str, list[str]]:
    """CP address -> the connection addresses the page lists for it."""
    return {
        cp.entity_address: [membership.connection_address for membership in cp.state_memberships]
        for cp in response.context["records"]
    }


def export(client, **params) -> list[str]:
    response = client.get(reverse("web:registry-export"), params)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="registry')
    return b"".join(response.streaming_content).decode().splitlines()


def test_registry_lists_every_current_cp_with_its_connections(staff_client, example):
    response = staff_client.get(reverse("web:registry"))
    assert cps(response) == {
        builders.CP1: ["ean.100000000001", "ean.100000000002", "ean.100000000003"],
        builders.CP2: ["ean.100000000004"],
    }
    content = response.content.decode()
    assert "agr-a.example.com" in content and "agr-b.example.com" in content


def test_registry_filters_by_dso_agr_day_and_address(staff_client, example):
    url = reverse("web:registry")
    assert list(cps(staff_client.get(url, {"dso": example.dso2.pk}))) == [builders.CP2]
    # On 2024-07-15 ...002 has left CP1 and ...003 has joined.
    assert cps(staff_client.get(url, {"day": "2024-07-15"})) == {
        builders.CP1: ["ean.100000000001", "ean.100000000003"],
        builders.CP2: ["ean.100000000004"],
    }
    # CP2 ends on 2024-12-31.
    assert list(cps(staff_client.get(url, {"day": "2025-01-10"}))) == [builders.CP1]
    # An AGR: only CPs with its connections, and only those connections (cro-rules §8, agr-a 2024-06-15).
    assert cps(staff_client.get(url, {"agr": example.agr_a.pk, "day": "2024-06-15"})) == {
        builders.CP1: ["ean.100000000001", "ean.100000000002"],
        builders.CP2: ["ean.100000000004"],
    }
    assert cps(staff_client.get(url, {"agr": example.agr_b.pk, "day": "2024-06-15"})) == {}
    assert list(cps(staff_client.get(url, {"q": "100000000004"}))) == [builders.CP2]
    # Before anything was recorded the registry was empty.
    before = (timezone.now() - dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    assert cps(staff_client.get(url, {"as_of": before})) == {}


def test_export_writes_the_selection_in_the_import_columns(staff_client, example):
    # Every DSO: a first column names each row's owner.
    assert export(staff_client) == [
        "dso," + HEADER,
        "dso1.example.com,ean.000000000001,2024-01-01,,true,DSO,AGR,ean.100000000001,2024-01-01,",
        "dso1.example.com,ean.000000000001,2024-01-01,,true,DSO,AGR,ean.100000000002,2024-01-01,2024-06-30",
        "dso1.example.com,ean.000000000001,2024-01-01,,true,DSO,AGR,ean.100000000003,2024-07-01,",
        "dso2.example.com,ean.000000000002,2024-03-01,2024-12-31,false,AGR,,ean.100000000004,2024-03-01,2024-12-31",
    ]
    assert export(staff_client, dso=example.dso2.pk) == [
        HEADER,
        "ean.000000000002,2024-03-01,2024-12-31,false,AGR,,ean.100000000004,2024-03-01,2024-12-31",
    ]
    assert export(staff_client, agr=example.agr_b.pk, day="2024-07-15") == [
        "dso," + HEADER,
        "dso1.example.com,ean.000000000001,2024-01-01,,true,DSO,AGR,ean.100000000003,2024-07-01,",
    ]


def test_export_link_carries_the_current_filter(staff_client, example):
    response = staff_client.get(
        reverse("web:registry"), {"dso": example.dso1.pk, "day": "2024-07-15", "page": "1"}
    )
    content = response.content.decode()
    assert f'href="/registry/export.csv?dso={example.dso1.pk}&amp;day=2024-07-15" data-export' in content


def test_congestion_point_timeline(staff_client, example):
    cp = CongestionPoint.objects.get(entity_address=builders.CP1)
    response = staff_client.get(reverse("web:congestion-point-detail", kwargs={"pk": cp.pk}))
    assert response.status_code == 200
    assert [m.connection_address for m in response.context["page"]] == [
        "ean.100000000001",
        "ean.100000000002",
        "ean.100000000003",
    ]
    assert all(m.recorded_by == example.update_dso1 for m in response.context["page"])
    timeline = response.context["timeline"]
    assert [row.label for row in timeline.rows] == [
        "congestion point",
        "ean.100000000001",
        "ean.100000000002",
        "ean.100000000003",
    ]
    bounded, open_ended = timeline.rows[2].segments[0], timeline.rows[1].segments[0]
    assert not bounded.open_ended and open_ended.open_ended and bounded.width < open_ended.width
    assert f'href="/messages/{example.update_dso1.pk}/"' in response.content.decode()
    assert staff_client.get(reverse("web:congestion-point-detail", kwargs={"pk": 999999})).status_code == 404


def test_agr_portfolio_on_a_day_matches_the_worked_example(staff_client, example):
    url = reverse("web:agr-portfolio")
    response = staff_client.get(url, {"agr": example.agr_a.pk, "day": "2025-01-10"})
    placed = {c.entity_address: c.congestion_point for c in response.context["page"]}
    assert placed == {
        "ean.100000000001": builders.CP1,
        "ean.100000000002": None,
        "ean.100000000004": None,
        "ean.100000000009": None,
    }
    assert response.context["page"].paginator.count == 4
    assert staff_client.get(url).context["form"].initial["day"] is not None
    response = staff_client.get(url, {"agr": example.agr_b.pk, "day": "2024-01-01"})
    assert "No connections available" in response.content.decode()


def test_entity_history_says_what_changed_when_and_by_which_message(staff_client, example):
    from tests import factories

    # dso1 ends ...001 on 2024-12-31: a new membership row supersedes the old one.
    update = builders.receive_and_process(
        factories.dso_update(
            sender=builders.DSO1,
            congestion_points=[
                factories.congestion_point(
                    builders.CP1,
                    "2024-01-01",
                    connections=[
                        factories.connection("ean.100000000001", "2024-01-01", "2024-12-31"),
                        factories.connection("ean.100000000002", "2024-01-01", "2024-06-30"),
                        factories.connection("ean.100000000003", "2024-07-01"),
                    ],
                )
            ],
        ),
        role="DSO",
        private_key=example.keys[builders.DSO1],
    )
    assert update.result == "Accepted", update.rejection_reason
    response = staff_client.get(reverse("web:entity-history"), {"address": "ean.100000000001"})
    changes = list(response.context["page"])
    assert changes[0].message == update
    assert [(line.sign, line.kind, line.text) for line in changes[0].lines] == [
        ("−", "membership", "ean.100000000001 in ean.000000000001: 2024-01-01 – open-ended"),
        ("+", "membership", "ean.100000000001 in ean.000000000001: 2024-01-01 – 2024-12-31"),
    ]
    by_message = {change.message.message_type for change in changes}
    assert by_message == {"DSOPortfolioUpdate", "AGRPortfolioUpdate"}
    assert f'href="/messages/{update.pk}/"' in response.content.decode()


def test_entity_history_of_an_unknown_address(staff_client, example):
    response = staff_client.get(reverse("web:entity-history"), {"address": "ean.555555555555"})
    assert list(response.context["page"]) == []
    assert "never held anything" in response.content.decode()
