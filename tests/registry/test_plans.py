"""The registry's queries use the indexes meant for them, so their cost follows the answer (issue 10).

Checked through the plans PostgreSQL picks (EXPLAIN), not timing: a registry of 40,000 current
memberships and representations plus as many superseded rows is filled with SQL, then every SQL
statement of a small query or update is explained. None may scan a registry table whole, and each
uses the index meant for it: current reads and reads "as known at T" alike. bench/plans.py prints
the same plans with their buffers on a registry of millions of connections.
"""

from __future__ import annotations

import json

import pytest
from django.db import connection

from registry.selectors.portfolio_queries import agr_portfolio_query_answer, dso_portfolio_query_answer
from registry.services.portfolio import agr_portfolio_update_apply, dso_portfolio_update_apply
from tests.factories import agr_update, conn, cp, d, dso_update
from tests.plans import nodes, plan_of, statements_sent

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

CONNECTIONS = 40_000
PER_CP = 1_000
# The tables that grow with the connections (the 40 CPs are rightly read whole at this size).
LARGE_TABLES = ("registry_membership", "registry_representation", "registry_connection")
# The indexes each read is meant to use (registry/models/portfolio.py): one per way in, keyed
# (entity, superseded_at), for the current rows and the rows known at a moment alike.
MEMBERSHIP_BY_CONNECTION = "membership_conn_idx"
MEMBERSHIP_BY_CP = "membership_cp_idx"
REPRESENTATION_BY_CONNECTION = "representation_conn_idx"
REPRESENTATION_BY_AGR = "representation_agr_idx"


def address(n: int) -> str:
    return f"ean.{n:015d}"


# (recorded_at, superseded_at) SQL of the superseded rows, then of the current rows.
HISTORY_THEN_CURRENT = (("now() - interval '2 days'", "now() - interval '1 day'"), ("now()", "NULL"))


@pytest.fixture
def large_registry(dso1, agr_a, agr_b):
    """40 CPs of 1,000 connections of dso1; agr_a represents the first 100, agr_b the rest."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO registry_congestionpoint (entity_address, dso_id, created_at) "
            "SELECT 'ean.9' || lpad(i::text, 14, '0'), %s, now() FROM generate_series(0, %s) i",
            [dso1.pk, CONNECTIONS // PER_CP - 1],
        )
        cursor.execute(
            "INSERT INTO registry_congestionpointversion (congestion_point_id, start_period, end_period, "
            "mutex_offers_supported, day_ahead_redispatch_by, intraday_redispatch_by, recorded_at, source) "
            "SELECT id, '2024-01-01', NULL, true, 'DSO', 'AGR', now() - interval '2 days', 'test' "
            "FROM registry_congestionpoint"
        )
        # First: the overlap triggers (migration 0012) then find every connection's row there.
        cursor.execute(
            "INSERT INTO registry_connection (entity_address, created_at) "
            "SELECT 'ean.' || lpad(n::text, 15, '0'), now() FROM generate_series(0, %s) n",
            [CONNECTIONS - 1],
        )
        # History first (superseded rows), then the current rows; the SQL parts are constants.
        for recorded, superseded in HISTORY_THEN_CURRENT:
            membership_sql = (
                "INSERT INTO registry_membership (congestion_point_id, connection_address, start_period, "  # noqa: S608
                "end_period, recorded_at, superseded_at, source) "
                f"SELECT cp.id, 'ean.' || lpad(n::text, 15, '0'), '2024-01-01', NULL, {recorded}, {superseded}, "
                "'test' FROM generate_series(0, %s) n JOIN registry_congestionpoint cp "
                "ON cp.entity_address = 'ean.9' || lpad((n / %s)::text, 14, '0')"
            )
            cursor.execute(membership_sql, [CONNECTIONS - 1, PER_CP])
            representation_sql = (
                "INSERT INTO registry_representation (agr_id, connection_address, start_period, end_period, "  # noqa: S608
                "recorded_at, superseded_at, source) "
                "SELECT CASE WHEN n < 100 THEN %s ELSE %s END, 'ean.' || lpad(n::text, 15, '0'), "
                f"'2024-01-01', NULL, {recorded}, {superseded}, 'test' FROM generate_series(0, %s) n"
            )
            cursor.execute(representation_sql, [agr_a.pk, agr_b.pk, CONNECTIONS - 1])
        for table in LARGE_TABLES:
            cursor.execute(f"ANALYZE {table}")


def plans_of(run) -> list[tuple[str, dict]]:
    """(SQL, plan) of every SELECT / UPDATE / WITH `run` sends, explained on the data it saw (a
    WITH of data-modifying parts is planned, not run; a statement bound on the server by its
    generic plan, tests/plans.py)."""
    return [
        (sql, plan_of(sql, params, bound_on_server=bound_on_server))
        for sql, params, bound_on_server in statements_sent(run)
        if sql.lstrip().upper().startswith(("SELECT", "UPDATE", "WITH"))
        and "pg_class" not in sql
        and "FOR UPDATE" not in sql.upper()
    ]


def whole_table_scans(plans) -> list[str]:
    return [
        f"{node['Relation Name']} in: {sql[:300]}"
        for sql, plan in plans
        for node in nodes(plan)
        if node["Node Type"] == "Seq Scan" and node.get("Relation Name") in LARGE_TABLES
    ]


def indexes_used(plans) -> set[str]:
    return {node["Index Name"] for _, plan in plans for node in nodes(plan) if "Index Name" in node}


def test_the_agr_query_probes_the_current_memberships_by_connection(large_registry, agr_a):
    answered = []
    plans = plans_of(lambda: answered.append(agr_portfolio_query_answer(agr=agr_a, period=d("2024-06-01"))))

    assert sum(len(c.connections) for p in answered[0].dso_portfolios for c in p.congestion_points) == 100
    assert whole_table_scans(plans) == []
    assert {REPRESENTATION_BY_AGR, MEMBERSHIP_BY_CONNECTION} <= indexes_used(plans)


def test_the_dso_query_probes_the_current_representations_by_connection(large_registry, dso1):
    answered = []
    plans = plans_of(
        lambda: answered.append(
            dso_portfolio_query_answer(dso=dso1, entity_address="ean.900000000000003", period=d("2024-06-01"))
        )
    )

    assert len(answered[0].congestion_point.connections) == PER_CP
    assert whole_table_scans(plans) == []
    assert REPRESENTATION_BY_CONNECTION in indexes_used(plans)


def test_a_small_dso_update_reads_only_the_rows_of_its_connections(large_registry, dso1):
    listed = [conn(address(n), "2024-01-01") for n in range(5 * PER_CP, 5 * PER_CP + 100)]
    outcomes = []
    plans = plans_of(
        lambda: outcomes.append(
            dso_portfolio_update_apply(
                dso=dso1,
                message=dso_update(dso1.domain, cp("ean.910000000000000", "2024-01-01", None, *listed)),
            )
        )
    )

    assert not outcomes[0].accepted  # the connections are in another CP of this DSO: a conflict
    assert whole_table_scans(plans) == []
    assert MEMBERSHIP_BY_CONNECTION in indexes_used(plans)


def test_a_small_agr_update_reads_only_the_rows_of_its_connections(large_registry, agr_a):
    listed = [conn(address(n), "2024-01-01") for n in range(100)]
    outcomes = []
    plans = plans_of(
        lambda: outcomes.append(
            agr_portfolio_update_apply(agr=agr_a, message=agr_update(agr_a.domain, *listed))
        )
    )

    assert outcomes[0].accepted
    assert whole_table_scans(plans) == []
    assert REPRESENTATION_BY_CONNECTION in indexes_used(plans)


def test_a_dso_update_replacing_a_cp_reads_that_cps_current_memberships(large_registry, dso1):
    """Re-listing a CP with 10% of its connections changed: its current rows come by the CP's index."""
    listed = [
        conn(address(n), "2024-01-01", "2024-12-31" if n % 10 == 0 else None)
        for n in range(3 * PER_CP, 4 * PER_CP)
    ]
    outcomes = []
    plans = plans_of(
        lambda: outcomes.append(
            dso_portfolio_update_apply(
                dso=dso1,
                message=dso_update(dso1.domain, cp("ean.900000000000003", "2024-01-01", None, *listed)),
            )
        )
    )

    assert outcomes[0].accepted
    assert len(outcomes[0].changes) == PER_CP // 10
    assert whole_table_scans(plans) == []
    assert {MEMBERSHIP_BY_CP, MEMBERSHIP_BY_CONNECTION} <= indexes_used(plans)


def test_the_agr_query_as_known_at_a_moment_probes_the_history_by_connection(large_registry, agr_a):
    """As the registry knew it 36 hours ago (the superseded rows): by the indexes of all rows."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT now() - interval '36 hours'")
        (moment,) = cursor.fetchone()
    answered = []
    plans = plans_of(
        lambda: answered.append(agr_portfolio_query_answer(agr=agr_a, period=d("2024-06-01"), as_of=moment))
    )

    assert sum(len(c.connections) for p in answered[0].dso_portfolios for c in p.congestion_points) == 100
    assert whole_table_scans(plans) == []
    assert MEMBERSHIP_BY_CONNECTION in indexes_used(plans)


def test_the_dso_query_as_known_at_a_moment_reads_the_cp_and_probes_by_connection(large_registry, dso1):
    with connection.cursor() as cursor:
        cursor.execute("SELECT now() - interval '36 hours'")
        (moment,) = cursor.fetchone()
    answered = []
    plans = plans_of(
        lambda: answered.append(
            dso_portfolio_query_answer(
                dso=dso1, entity_address="ean.900000000000003", period=d("2024-06-01"), as_of=moment
            )
        )
    )

    assert len(answered[0].congestion_point.connections) == PER_CP
    assert whole_table_scans(plans) == []
    assert {MEMBERSHIP_BY_CP, REPRESENTATION_BY_CONNECTION} <= indexes_used(plans)


def test_plans_are_explained_as_json():
    """The helpers above read EXPLAIN's JSON shape: a node tree under "Plan"."""
    plan = json.loads('{"Node Type": "Seq Scan", "Relation Name": "registry_membership", "Plans": []}')
    assert whole_table_scans([("SELECT 1", plan)]) == ["registry_membership in: SELECT 1"]
