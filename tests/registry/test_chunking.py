"""A database bounds the parameters of one statement (SQLite 32766, PostgreSQL 65535), so no statement
of an update may bind a parameter per listed address or row: on SQLite the services read in chunks
and write in batches, on PostgreSQL they pass one array (or COPY). Here the chunks and batches are
shrunk to 2 rows and the limit to a few dozen parameters, so that a few dozen addresses show, on
either database, that every statement stays under the limit and that the result does not depend
on where the chunks split."""

import datetime as dt

import pytest
from django.db import connection

from registry.models import (
    CongestionPoint,
    CongestionPointVersion,
    Connection,
    Membership,
    Representation,
    RepresentationSequence,
)
from registry.services.portfolio import _bulk, agr_portfolio_update_apply, dso_portfolio_update_apply
from tests.factories import agr_update, conn, cp, dso_update

ADDRESSES = [f"ean.{100000000000 + n}" for n in range(7)]
ROWS_PER_STATEMENT = 2
# Two rows of the widest table the updates write, plus the parameters next to a chunk in a filter.
PARAMETER_LIMIT = (
    ROWS_PER_STATEMENT
    * max(
        len(model._meta.concrete_fields)
        for model in (
            CongestionPoint,
            CongestionPointVersion,
            Connection,
            Membership,
            Representation,
            RepresentationSequence,
        )
    )
    + 4
)
# Enough that one statement binding a parameter per CP or connection exceeds PARAMETER_LIMIT.
MANY_CPS, CONNECTIONS_PER_CP = PARAMETER_LIMIT + 5, 2


@pytest.fixture(autouse=True)
def parameters_per_statement(monkeypatch):
    """The number of parameters each statement bound (a PostgreSQL array counts as one)."""
    monkeypatch.setattr(_bulk, "CHUNK_SIZE", ROWS_PER_STATEMENT)
    monkeypatch.setattr(_bulk, "BULK_BATCH_SIZE", ROWS_PER_STATEMENT)
    counts: list[tuple[int, str]] = []

    def count(execute, sql, params, many, context):
        for row in params if many else [params]:
            counts.append((len(row or ()), sql))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        yield counts


def over_the_limit(counts: list[tuple[int, str]]) -> list[tuple[int, str]]:
    assert counts, "no statement was seen"
    return [(n, sql[:120]) for n, sql in counts if n > PARAMETER_LIMIT]


def test_dso_updates_across_chunks(dso1, dso2, parameters_per_statement):
    first = dso_portfolio_update_apply(
        dso=dso1,
        message=dso_update(
            dso1.domain,
            *(
                cp(f"ean.00000000000{i}", "2024-01-01", None, conn(a, "2024-01-01"))
                for i, a in enumerate(ADDRESSES[:5])
            ),
        ),
    )
    replaced = dso_portfolio_update_apply(
        dso=dso1,
        message=dso_update(
            dso1.domain,
            *(
                cp(f"ean.00000000000{i}", "2024-01-01", None, conn(a, "2024-02-01"))
                for i, a in enumerate(ADDRESSES[:5])
            ),
        ),
    )
    conflicting = dso_portfolio_update_apply(
        dso=dso2,
        message=dso_update(
            dso2.domain,
            cp("ean.000000000009", "2024-01-01", None, *(conn(a, "2024-03-01") for a in ADDRESSES)),
        ),
    )

    assert first.accepted and replaced.accepted
    assert Membership.objects.current().filter(start_period=dt.date(2024, 2, 1)).count() == 5
    assert Membership.objects.exclude(superseded_at=None).count() == 5
    assert conflicting.reasons == tuple(
        f"Connection conflict: [{a}] at [ean.00000000000{i}]" for i, a in enumerate(ADDRESSES[:5])
    )
    assert over_the_limit(parameters_per_statement) == []


def test_agr_updates_across_chunks(agr_a, agr_b, parameters_per_statement):
    first = agr_portfolio_update_apply(
        agr=agr_a, message=agr_update(agr_a.domain, *(conn(a, "2024-01-01") for a in ADDRESSES[:5]))
    )
    older = agr_portfolio_update_apply(
        agr=agr_a,
        message=agr_update(
            agr_a.domain,
            *(conn(a, "2024-02-01") for a in ADDRESSES),
            time_stamp=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
        ),
    )
    conflicting = agr_portfolio_update_apply(
        agr=agr_b,
        message=agr_update(agr_b.domain, *(conn(a, "2024-03-01") for a in ADDRESSES)),
        conflict_policy="reject",
    )
    superseding = agr_portfolio_update_apply(
        agr=agr_b,
        message=agr_update(agr_b.domain, *(conn(a, "2024-03-01") for a in ADDRESSES)),
        conflict_policy="supersede",
    )

    assert first.accepted
    assert older.reasons == tuple(
        f"Subordinate sequence number: connection [{a}] was updated by a newer message" for a in ADDRESSES[:5]
    )
    assert conflicting.reasons == tuple(
        f"Connection conflict: [{a}] represented by another AGR" for a in ADDRESSES[:5]
    )
    assert superseding.accepted
    assert Representation.objects.current().filter(agr=agr_a, end_period=dt.date(2024, 2, 29)).count() == 5
    assert Representation.objects.current().filter(agr=agr_b).count() == 7
    assert over_the_limit(parameters_per_statement) == []


def test_no_statement_of_a_large_update_binds_a_parameter_per_row(
    dso1, dso2, agr_a, agr_b, parameters_per_statement
):
    """Every read and write of the updates, with more CPs and connections than the limit."""
    cp_addresses = [f"ean.{200000000000 + n}" for n in range(MANY_CPS)]
    connections = [f"ean.{100000000000 + n}" for n in range(MANY_CPS * CONNECTIONS_PER_CP)]

    def portfolio(start: str, *, mutex: bool):
        return [
            cp(
                address,
                "2024-01-01",
                None,
                *(conn(c, start) for c in connections[n * CONNECTIONS_PER_CP : (n + 1) * CONNECTIONS_PER_CP]),
                mutex=mutex,
            )
            for n, address in enumerate(cp_addresses)
        ]

    registered = dso_portfolio_update_apply(
        dso=dso1, message=dso_update(dso1.domain, *portfolio("2024-01-01", mutex=True))
    )
    replaced = dso_portfolio_update_apply(
        dso=dso1, message=dso_update(dso1.domain, *portfolio("2024-02-01", mutex=False))
    )
    conflicting = dso_portfolio_update_apply(
        dso=dso2,
        message=dso_update(
            dso2.domain,
            cp("ean.000000000009", "2024-01-01", None, *(conn(c, "2024-01-01") for c in connections)),
        ),
    )
    represented = agr_portfolio_update_apply(
        agr=agr_a, message=agr_update(agr_a.domain, *(conn(c, "2024-02-01") for c in connections))
    )
    taken_over = agr_portfolio_update_apply(
        agr=agr_b,
        message=agr_update(agr_b.domain, *(conn(c, "2024-03-01") for c in connections)),
        conflict_policy="supersede",
    )

    assert registered.accepted and replaced.accepted and represented.accepted and taken_over.accepted
    assert len(conflicting.reasons) == len(connections)
    assert CongestionPoint.objects.filter(last_time_stamp__isnull=False).count() == MANY_CPS
    assert CongestionPointVersion.objects.current().filter(mutex_offers_supported=False).count() == MANY_CPS
    assert Membership.objects.current().filter(start_period=dt.date(2024, 2, 1)).count() == len(connections)
    assert Representation.objects.current().filter(agr=agr_a, end_period=dt.date(2024, 2, 29)).count() == len(
        connections
    )
    assert RepresentationSequence.objects.filter(agr=agr_b).count() == len(connections)
    assert over_the_limit(parameters_per_statement) == []
