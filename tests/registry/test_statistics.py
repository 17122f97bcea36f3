"""A large update refreshes the planner statistics as soon as it commits (PostgreSQL)."""

import pytest
from django.db import connection

from registry.services.portfolio import dso_portfolio_update_apply
from registry.services.portfolio._bulk import ANALYZE_MIN_ROWS
from tests.factories import conn, cp, dso_update

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def estimated_rows(table: str) -> float:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [table])
        return cursor.fetchone()[0]


def test_a_large_update_analyzes_the_tables_it_filled(dso1):
    size = ANALYZE_MIN_ROWS + 200
    connections = [conn(f"ean.{100000000000 + n}", "2024-01-01") for n in range(size)]
    assert estimated_rows("registry_membership") < size

    outcome = dso_portfolio_update_apply(
        dso=dso1, message=dso_update(dso1.domain, cp("ean.000000000001", "2024-01-01", None, *connections))
    )

    assert outcome.accepted
    assert estimated_rows("registry_membership") == size
    # VACUUM too: the new pages are all-visible, so index-only probes skip the heap.
    with connection.cursor() as cursor:
        cursor.execute("SELECT relallvisible FROM pg_class WHERE oid = 'registry_membership'::regclass")
        assert cursor.fetchone()[0] > 0


def test_a_dry_run_analyzes_nothing(dso1):
    before = estimated_rows("registry_membership")
    connections = [conn(f"ean.{100000000000 + n}", "2024-01-01") for n in range(ANALYZE_MIN_ROWS + 200)]

    outcome = dso_portfolio_update_apply(
        dso=dso1,
        message=dso_update(dso1.domain, cp("ean.000000000001", "2024-01-01", None, *connections)),
        dry_run=True,
    )

    assert outcome.accepted and outcome.dry_run
    assert estimated_rows("registry_membership") == before


def test_a_small_update_reads_no_statistics_after_it_commits(dso1):
    """The common one-connection message: nothing between its commit and its response leaving."""
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        outcome = dso_portfolio_update_apply(
            dso=dso1,
            message=dso_update(
                dso1.domain,
                cp("ean.000000000001", "2024-01-01", None, conn("ean.100000000001", "2024-01-01")),
            ),
        )
    assert outcome.accepted
    assert queries.captured_queries[-1]["sql"] == "COMMIT"
    assert [query["sql"] for query in queries.captured_queries if "pg_class" in query["sql"]] == []
