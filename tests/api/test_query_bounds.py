"""Every list answers with a fixed number of SQL queries, whatever the registry's size: measured on
10,000 connections (20 congestion points of 500, represented by 5 AGRs of 2,000)."""

import datetime as dt

import pytest

from registry.models import (
    CongestionPoint,
    CongestionPointVersion,
    Connection,
    Membership,
    Message,
    Participant,
    Representation,
)
from tests.api.conftest import make_message

CONNECTIONS = 10_000
CPS, AGRS = 20, 5
T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
T1 = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
START = dt.date(2024, 1, 1)


@pytest.fixture
def big_registry(make_participant):
    dso = make_participant("big-dso.example.com", "DSO")[0]
    agrs = [make_participant(f"big-agr-{n}.example.com", "AGR")[0] for n in range(AGRS)]
    cps = CongestionPoint.objects.bulk_create(
        CongestionPoint(entity_address=f"ean.9{n:011d}", dso=dso) for n in range(CPS)
    )
    versions = []
    for cp in cps:
        common = {"congestion_point": cp, "start_period": START, "day_ahead_redispatch_by": "DSO"}
        versions.append(
            CongestionPointVersion(**common, mutex_offers_supported=True, recorded_at=T0, superseded_at=T1)
        )
        versions.append(CongestionPointVersion(**common, mutex_offers_supported=False, recorded_at=T1))
    CongestionPointVersion.objects.bulk_create(versions)
    addresses = [f"ean.1{n:011d}" for n in range(CONNECTIONS)]
    Connection.objects.bulk_create(Connection(entity_address=address) for address in addresses)
    per_cp, per_agr = CONNECTIONS // CPS, CONNECTIONS // AGRS
    Membership.objects.bulk_create(
        Membership(
            congestion_point=cps[n // per_cp], connection_address=address, start_period=START, recorded_at=T0
        )
        for n, address in enumerate(addresses)
    )
    Representation.objects.bulk_create(
        Representation(agr=agrs[n // per_agr], connection_address=address, start_period=START, recorded_at=T0)
        for n, address in enumerate(addresses)
    )
    for n in range(100):
        make_message(agrs[n % AGRS], direction="in" if n % 2 else "out", status="processed")
    assert Membership.objects.count() == Representation.objects.count() == CONNECTIONS
    return {"dso": dso, "agrs": agrs, "cps": cps}


def _total_connections(body) -> int:
    return sum(len(row["connections"]) for row in body["results"])


# (url, the most SQL queries it may take, what the answer must hold). One query authenticates the token.
CASES = [
    (
        "/api/congestion-points/?limit=1000",
        5,
        lambda b: (b["count"], _total_connections(b)) == (CPS, CONNECTIONS),
    ),
    (
        "/api/congestion-points/?limit=1000&active_on=2024-06-15&as_of=2024-03-01T00:00:00Z",
        5,
        lambda b: (b["count"], _total_connections(b)) == (CPS, CONNECTIONS),
    ),
    (
        "/api/congestion-points/?agr=big-agr-0.example.com&active_on=2024-06-15",
        5,
        lambda b: (
            (b["count"], _total_connections(b))
            == (CONNECTIONS // AGRS // (CONNECTIONS // CPS), CONNECTIONS // AGRS)
        ),
    ),
    ("/api/congestion-points/?connection=ean.100000009999", 5, lambda b: b["count"] == 1),
    # The AGRs list links to each one's connections instead of inlining them (hundreds of thousands).
    (
        "/api/agr-portfolios/",
        4,
        lambda b: b["count"] == AGRS and all("/connections/" in r["connections"] for r in b["results"]),
    ),
    (
        "/api/agr-portfolios/{agr}/connections/?limit=1000",
        4,
        lambda b: len(b["results"]) == 1000 and "offset=1000" in b["next"] and "count" not in b,
    ),
    (
        "/api/agr-portfolios/?active_on=2024-06-15&entity_address=ean.100000000001",
        4,
        lambda b: b["count"] == 1,
    ),
    # The history's pages are not counted (a count(*) would read it whole): a next link or none.
    (
        "/api/history/congestion-points/?limit=1000",
        3,
        lambda b: "count" not in b and len(b["results"]) == 2 * CPS and b["next"] is None,
    ),
    (
        "/api/history/memberships/?limit=1000",
        3,
        lambda b: len(b["results"]) == 1000 and "offset=1000" in b["next"],
    ),
    (
        "/api/history/memberships/?dso=big-dso.example.com&active_on=2024-06-15&current=true&offset=9990",
        3,
        lambda b: len(b["results"]) == 10 and b["next"] is None,
    ),
    (
        "/api/history/representations/?limit=1000",
        3,
        lambda b: len(b["results"]) == 1000 and "offset=1000" in b["next"],
    ),
    ("/api/participants/?limit=1000", 3, lambda b: b["count"] == 1 + AGRS),
    ("/api/messages/?limit=1000", 3, lambda b: b["count"] == 100),
    ("/api/messages/?limit=1000&include=xml", 3, lambda b: all("inner_xml" in row for row in b["results"])),
]


def test_lists_take_a_fixed_number_of_queries(big_registry, staff_client, django_assert_max_num_queries):
    # One test over every list: the 30,000 rows are built once.
    staff_client.get("/api/cro/")  # warm up: content types, token
    for url, max_queries, holds in CASES:
        url = url.format(agr=big_registry["agrs"][1].pk)
        with django_assert_max_num_queries(max_queries, info=url):
            response = staff_client.get(url)
        assert response.status_code == 200, url
        assert holds(response.json()), url


def test_the_agr_query_answer_takes_a_fixed_number_of_queries(
    big_registry, staff_client, django_assert_max_num_queries
):
    agr = big_registry["agrs"][2]
    with django_assert_max_num_queries(5):
        response = staff_client.get(f"/api/agr-portfolios/{agr.pk}/query-answer/", {"period": "2024-06-15"})
    body = response.json()
    assert body["result"] == "Accepted"
    cps = body["dso_portfolios"][0]["congestion_points"]
    assert sum(len(cp["connections"]) for cp in cps) == CONNECTIONS // AGRS
    assert Participant.objects.get(pk=agr.pk).role == "AGR"
    assert Message.objects.count() == 100
