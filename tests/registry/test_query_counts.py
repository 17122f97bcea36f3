"""Query answers take a fixed number of SQL queries, whatever the portfolio size; updates are bulk."""

from functools import partial

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from registry.models import CongestionPoint, CongestionPointVersion, Membership, Representation
from registry.selectors.portfolio_queries import (
    agr_portfolio_on_day,
    agr_portfolio_query_answer,
    dso_portfolio_query_answer,
)
from registry.selectors.registry_history import entity_history
from registry.selectors.registry_state import RegistryFilter, congestion_point_state_list
from registry.services.portfolio import agr_portfolio_update_apply, dso_portfolio_update_apply
from tests.factories import agr_update, conn, cp, d, dso_update

# What each answer needs: DSO query 3 (CP with its version; memberships, each with its AGR id; the AGRs);
# AGR query 2 (representations, memberships with their CP, DSO and version).
DSO_QUERY_MAX = 3
AGR_QUERY_MAX = 2
CPS = 5


def portfolio_build(*, dso, agr, size: int) -> None:
    """`size` connections spread over CPS congestion points, all represented by `agr`, plus unallocated ones."""
    addresses = [f"ean.{100000000000 + n}" for n in range(size)]
    cps = [
        cp(f"ean.00000000000{i}", "2024-01-01", None, *(conn(a, "2024-01-01") for a in addresses[i::CPS]))
        for i in range(CPS)
    ]
    assert dso_portfolio_update_apply(dso=dso, message=dso_update(dso.domain, *cps)).accepted
    unallocated = [conn(f"ean.{900000000000 + n}", "2024-01-01") for n in range(size // 10)]
    update = agr_update(agr.domain, *(conn(a, "2024-01-01") for a in addresses), *unallocated)
    assert agr_portfolio_update_apply(agr=agr, message=update).accepted


def queries_of(function) -> tuple[int, object]:
    with CaptureQueriesContext(connection) as captured:
        result = function()
    return len(captured), result


@pytest.mark.parametrize("size", [10, 1000])
def test_dso_query_answer_takes_a_fixed_number_of_queries(dso1, agr_a, size, django_assert_max_num_queries):
    portfolio_build(dso=dso1, agr=agr_a, size=size)

    with django_assert_max_num_queries(DSO_QUERY_MAX):
        answer = dso_portfolio_query_answer(
            dso=dso1, entity_address="ean.000000000000", period=d("2024-05-01")
        )

    assert len(answer.congestion_point.connections) == len(range(0, size, CPS))
    assert all(c.agr_domain == "agr-a.example.com" for c in answer.congestion_point.connections)


@pytest.mark.parametrize("size", [10, 1000])
def test_agr_query_answer_takes_a_fixed_number_of_queries(dso1, agr_a, size, django_assert_max_num_queries):
    portfolio_build(dso=dso1, agr=agr_a, size=size)

    with django_assert_max_num_queries(AGR_QUERY_MAX):
        answer = agr_portfolio_query_answer(agr=agr_a, period=d("2024-05-01"))

    assert sum(len(p.connections) for p in answer.dso_portfolios[0].congestion_points) == size
    assert len(answer.unallocated_connections) == size // 10


def read_query_counts(*, dso, agr) -> list[int]:
    day = d("2024-05-01")

    def history() -> None:
        found = entity_history(entity_address="ean.000000000001")
        list(found.versions), list(found.memberships), list(found.representations)

    def listing() -> None:
        for point in congestion_point_state_list(selection=RegistryFilter(day=day, dso=dso)):
            list(point.state_memberships)

    return [
        queries_of(
            partial(dso_portfolio_query_answer, dso=dso, entity_address="ean.000000000001", period=day)
        )[0],
        queries_of(partial(agr_portfolio_query_answer, agr=agr, period=day))[0],
        queries_of(partial(agr_portfolio_on_day, agr=agr, day=day))[0],
        queries_of(listing)[0],
        queries_of(history)[0],
    ]


def test_query_counts_do_not_grow_with_the_portfolio(make_participant):
    """The same number of queries for 10 and for 1000 connections, for every read."""
    counts = {}
    for size in (10, 1000):
        dso, _ = make_participant(f"dso{size}.example.com", "DSO")
        agr, _ = make_participant(f"agr{size}.example.com", "AGR")
        portfolio_build(dso=dso, agr=agr, size=size)
        counts[size] = read_query_counts(dso=dso, agr=agr)
        # The next size reuses the addresses under other participants: clear the registry first.
        for model in (Membership, CongestionPointVersion, CongestionPoint, Representation):
            model.objects.all().delete()

    assert counts[10] == counts[1000]
    assert counts[10][:2] == [DSO_QUERY_MAX, AGR_QUERY_MAX]


def test_a_1000_connection_update_is_applied_with_bulk_queries(dso1, agr_a):
    """Not a query per row: a 1000-connection update costs a few dozen queries at most."""
    connections = [conn(f"ean.{100000000000 + n}", "2024-01-01") for n in range(1000)]
    dso_message = dso_update(dso1.domain, cp("ean.000000000001", "2024-01-01", None, *connections))
    agr_message = agr_update(agr_a.domain, *connections)

    dso_queries, dso_outcome = queries_of(lambda: dso_portfolio_update_apply(dso=dso1, message=dso_message))
    agr_queries, agr_outcome = queries_of(lambda: agr_portfolio_update_apply(agr=agr_a, message=agr_message))

    assert dso_outcome.accepted and agr_outcome.accepted
    assert dso_queries <= 30, dso_queries
    assert agr_queries <= 35, agr_queries


def update_statement_counts(*, dso, agr, first: int, size: int) -> tuple[int, int]:
    """Statements of a DSO update putting `size` new connections in a new CP, then of an AGR update
    representing them."""
    connections = [conn(f"ean.{first + n}", "2024-01-01") for n in range(size)]
    cp_address = f"ean.{first + 999_999}"
    dso_message = dso_update(dso.domain, cp(cp_address, "2024-01-01", None, *connections))
    agr_message = agr_update(agr.domain, *connections)
    dso_queries, dso_outcome = queries_of(lambda: dso_portfolio_update_apply(dso=dso, message=dso_message))
    agr_queries, agr_outcome = queries_of(lambda: agr_portfolio_update_apply(agr=agr, message=agr_message))
    assert dso_outcome.accepted and agr_outcome.accepted
    return dso_queries, agr_queries


@pytest.mark.postgres
def test_update_statements_do_not_grow_with_the_update_or_the_registry(dso1, agr_a):
    """On PostgreSQL (arrays and COPY: elsewhere rows go in batches), an update of 1,000 connections sends as many statements as one of 10, on a registry holding
    a few thousand connections as on an empty one: every read and write is one set-based statement."""
    small = update_statement_counts(dso=dso1, agr=agr_a, first=500_000_000_000, size=10)
    large = update_statement_counts(dso=dso1, agr=agr_a, first=600_000_000_000, size=1000)
    portfolio_build(dso=dso1, agr=agr_a, size=3000)
    large_on_full = update_statement_counts(dso=dso1, agr=agr_a, first=700_000_000_000, size=1000)

    assert small == large == large_on_full


# A one-CP DSOPortfolioUpdate on PostgreSQL (registry/services/portfolio/_dso_rows.py): savepoint,
# create the CP, read the current memberships, write, release; a CP that existed adds its lock
# read and the read of its version.
DSO_NEW_CP_STATEMENTS = 5
DSO_KNOWN_CP_STATEMENTS = 7


@pytest.mark.postgres
@pytest.mark.parametrize("size", [10, 1000])
def test_a_one_cp_dso_update_takes_few_statements_whatever_the_registry(dso1, agr_a, size):
    """The common message (one CP, one connection) in a handful of statements, on a registry of 10
    as of 1,000 connections: new, then the same CP again (nothing changed), then with another
    connection (a membership superseded and one inserted)."""
    portfolio_build(dso=dso1, agr=agr_a, size=size)
    new = dso_update(
        dso1.domain, cp("ean.000000000077", "2024-01-01", None, conn("ean.800000000001", "2024-01-01"))
    )
    moved = dso_update(
        dso1.domain, cp("ean.000000000077", "2024-01-01", None, conn("ean.800000000002", "2024-01-01"))
    )

    counts = [
        queries_of(partial(dso_portfolio_update_apply, dso=dso1, message=message))
        for message in (new, new, moved)
    ]

    assert all(outcome.accepted for _, outcome in counts)
    assert [statements for statements, _ in counts] == [
        DSO_NEW_CP_STATEMENTS,
        DSO_KNOWN_CP_STATEMENTS,
        DSO_KNOWN_CP_STATEMENTS + 1,  # the supersede of the membership no longer listed
    ]
    assert list(
        Membership.objects.current()
        .filter(congestion_point__entity_address="ean.000000000077")
        .values_list("connection_address", flat=True)
    ) == ["ean.800000000002"]


# A one-connection AGRPortfolioUpdate on PostgreSQL (registry/services/portfolio/_agr_rows.py):
# savepoint, create the connection, read the TimeStamps and representations, write, release; a
# connection that existed adds its lock read.
AGR_NEW_CONNECTION_STATEMENTS = 5
AGR_KNOWN_CONNECTION_STATEMENTS = 6


@pytest.mark.postgres
@pytest.mark.parametrize("size", [10, 1000])
def test_a_one_connection_agr_update_takes_few_statements_whatever_the_registry(dso1, agr_a, size):
    """A new connection, the same again, then another period for it (a representation superseded
    and one inserted), on a registry of 10 as of 1,000 connections."""
    portfolio_build(dso=dso1, agr=agr_a, size=size)
    new = agr_update(agr_a.domain, conn("ean.800000000009", "2024-01-01"))
    moved = agr_update(agr_a.domain, conn("ean.800000000009", "2024-03-01"))

    counts = [
        queries_of(partial(agr_portfolio_update_apply, agr=agr_a, message=message))
        for message in (new, new, moved)
    ]

    assert all(outcome.accepted for _, outcome in counts)
    assert [statements for statements, _ in counts] == [
        AGR_NEW_CONNECTION_STATEMENTS,
        AGR_KNOWN_CONNECTION_STATEMENTS,
        AGR_KNOWN_CONNECTION_STATEMENTS + 1,  # the supersede of the period no longer listed
    ]
    assert list(
        Representation.objects.current()
        .filter(connection_address="ean.800000000009")
        .values_list("start_period", flat=True)
    ) == [d("2024-03-01")]
