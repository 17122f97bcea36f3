# ruff: noqa: F811 (large_registry, imported from test_plans.py, is a fixture: a test parameter here)
"""The administrators' pages and the API lists read only the rows they show (issue 10).

Checked through the plans PostgreSQL picks (EXPLAIN), not timing, on the registry of
tests/registry/test_plans.py (40,000 current memberships and representations plus as many
superseded rows): no statement of a page may scan a table that grows with the connections,
whatever column the table is sorted by, and the history lists count nothing.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from registry.models import CongestionPoint
from tests.registry.test_plans import (  # noqa: F401 (large_registry is a fixture)
    large_registry,
    plans_of,
    whole_table_scans,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def dso1(make_participant):
    return make_participant("dso1.example.com", "DSO")[0]


@pytest.fixture
def agr_a(make_participant):
    return make_participant("agr-a.example.com", "AGR")[0]


@pytest.fixture
def agr_b(make_participant):
    return make_participant("agr-b.example.com", "AGR")[0]


def page_plans(client, url: str) -> list:
    answers = []
    plans = plans_of(lambda: answers.append(client.get(url)))
    assert answers[0].status_code == 200, url
    return plans


# Every sort the table offers, a page further on, each kind of search, a day, a past moment.
# (One test for them all: filling the registry is what takes time.)
REGISTRY_QUERIES = [
    "",
    "?sort=-entity_address",
    "?sort=dso",
    # Page 2 of 25 (the registry has 40 CPs: a page of 100 would be the whole registry, whose
    # connection counts are rightly read by a scan of everything).
    "?sort=-dso&per_page=25&page=2",
    "?q=ean.000000000012345",  # a connection by its whole address
    "?q=000000000012345",  # the same without "ean."
    "?q=ean.90000000000001",  # part of a CP's address
    "?day=2024-06-01",
    "?as_of=2030-01-01T00:00&q=ean.900000000000012",  # as known at a moment: history rows too
]


def test_the_registry_page_scans_no_table_of_connections(large_registry, staff_client):
    scans = {
        query: whole_table_scans(page_plans(staff_client, f"/registry/{query}")) for query in REGISTRY_QUERIES
    }
    assert scans == {query: [] for query in REGISTRY_QUERIES}


def test_the_registry_table_sorts_and_searches_only_by_indexed_columns(large_registry, staff_client):
    """Only the CP's address and DSO sort: the columns computed from the connections do not.
    A connection is found by its whole address."""
    response = staff_client.get("/registry/", {"q": "000000000012345"})
    assert [cp.entity_address for cp in response.context["records"]] == ["ean.900000000000012"]
    table = staff_client.get("/registry/").context["table"]
    assert [column.name for column in table.columns if column.orderable] == ["entity_address", "dso"]
    # A sort asked for by hand on another column is ignored, not run.
    response = staff_client.get("/registry/", {"sort": "connections"})
    assert response.status_code == 200
    assert whole_table_scans(page_plans(staff_client, "/registry/?sort=connections")) == []


def test_the_congestion_point_and_history_pages_scan_no_table_of_connections(large_registry, staff_client):
    cp = CongestionPoint.objects.get(entity_address="ean.900000000000007")
    assert whole_table_scans(page_plans(staff_client, f"/registry/congestion-points/{cp.pk}/")) == []
    assert whole_table_scans(page_plans(staff_client, "/registry/history/?address=ean.000000000000042")) == []


def test_the_api_lists_neither_count_the_history_nor_scan(large_registry, staff_client):
    assert whole_table_scans(page_plans(staff_client, "/api/congestion-points/")) == []
    for path in ("memberships", "representations", "congestion-points"):
        url = f"/api/history/{path}/"
        with CaptureQueriesContext(connection) as captured:
            body = staff_client.get(url).json()
        assert "count" not in body and len(body["results"]) == (40 if path == "congestion-points" else 50)
        assert (body["next"] is None) if path == "congestion-points" else ("offset=50" in body["next"])
        assert not [q["sql"] for q in captured.captured_queries if "COUNT(" in q["sql"].upper()]
        assert whole_table_scans(page_plans(staff_client, url)) == []
        assert whole_table_scans(page_plans(staff_client, f"{url}?offset=1000&limit=10")) == []
