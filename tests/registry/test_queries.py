"""DSOPortfolioQuery and AGRPortfolioQuery answers (cro-rules §5), DST days and "as known at"."""

import datetime as dt

import pytest
from django.utils import timezone

from registry.selectors.portfolio_queries import agr_portfolio_query_answer, dso_portfolio_query_answer
from registry.services.portfolio import agr_portfolio_update_apply, dso_portfolio_update_apply
from registry.uftp import messages as uftp
from tests.factories import agr_update, conn, cp, d, dso_update

CP1, CP2 = "ean.000000000001", "ean.000000000002"
C1, C2, C3 = "ean.100000000001", "ean.100000000002", "ean.100000000003"


def dso_apply(dso, *cps):
    outcome = dso_portfolio_update_apply(dso=dso, message=dso_update(dso.domain, *cps))
    assert outcome.accepted, outcome.rejection_reason
    return outcome


def agr_apply(agr, *connections):
    outcome = agr_portfolio_update_apply(agr=agr, message=agr_update(agr.domain, *connections))
    assert outcome.accepted, outcome.rejection_reason
    return outcome


def dso_connections(answer) -> tuple:
    return tuple((c.entity_address, c.agr_domain) for c in answer.congestion_point.connections)


def agr_cps(answer) -> dict:
    return {
        (portfolio.dso_domain, point.entity_address): point.connections
        for portfolio in answer.dso_portfolios
        for point in portfolio.congestion_points
    }


# ------------------------------------------------------------------------------ DSOPortfolioQuery


def test_dso_query_of_an_unknown_cp_is_rejected(dso1):
    answer = dso_portfolio_query_answer(dso=dso1, entity_address=CP1, period=d("2024-01-01"))

    assert not answer.accepted
    assert answer.rejection_reason == f"Unknown congestion point [{CP1}]"


def test_dso_query_of_another_dsos_cp_is_unauthorized(dso1, dso2):
    dso_apply(dso1, cp(CP1, "2024-01-01", None, conn(C1, "2024-01-01")))

    answer = dso_portfolio_query_answer(dso=dso2, entity_address=CP1, period=d("2024-01-01"))

    assert not answer.accepted
    assert answer.rejection_reason == f"Unauthorized: congestion point [{CP1}] is owned by another DSO"


@pytest.mark.parametrize("period", ["2023-12-31", "2024-07-01"])
def test_dso_query_of_a_cp_not_active_on_the_period_is_accepted_without_cp(dso1, period):
    dso_apply(dso1, cp(CP1, "2024-01-01", "2024-06-30", conn(C1, "2024-01-01", "2024-06-30")))

    answer = dso_portfolio_query_answer(dso=dso1, entity_address=CP1, period=d(period))

    assert answer.accepted and answer.rejection_reason is None
    assert answer.congestion_point is None


def test_dso_query_lists_every_active_connection_with_the_agr_on_that_day(dso1, agr_a, agr_b):
    dso_apply(
        dso1,
        cp(CP1, "2024-01-01", None, conn(C3, "2024-01-01"), conn(C1, "2024-01-01"), conn(C2, "2024-03-01")),
    )
    agr_apply(agr_a, conn(C1, "2024-01-01", "2024-01-31"))
    agr_apply(agr_b, conn(C1, "2024-02-01"), conn(C3, "2024-02-01"))

    january = dso_portfolio_query_answer(dso=dso1, entity_address=CP1, period=d("2024-01-15"))
    march = dso_portfolio_query_answer(dso=dso1, entity_address=CP1, period=d("2024-03-01"))

    assert dso_connections(january) == ((C1, "agr-a.example.com"), (C3, None))
    assert dso_connections(march) == ((C1, "agr-b.example.com"), (C2, None), (C3, "agr-b.example.com"))
    assert march.congestion_point.entity_address == CP1


def test_dso_query_of_an_active_cp_without_active_connections_has_no_cp(dso1):
    # The XSD demands at least one Connection in a CongestionPoint element.
    dso_apply(dso1, cp(CP1, "2024-01-01", None, conn(C1, "2024-06-01")))

    answer = dso_portfolio_query_answer(dso=dso1, entity_address=CP1, period=d("2024-03-01"))

    assert answer.accepted and answer.congestion_point is None


# ------------------------------------------------------------------------------ AGRPortfolioQuery


def test_agr_query_without_connections_is_rejected(agr_a):
    answer = agr_portfolio_query_answer(agr=agr_a, period=d("2024-01-01"))

    assert not answer.accepted
    assert answer.rejection_reason == "No connections available"
    assert answer.dso_portfolios == () and answer.unallocated_connections == ()


def test_agr_query_without_connections_on_that_period_is_rejected(agr_a):
    agr_apply(agr_a, conn(C1, "2024-02-01", "2024-02-29"))

    before = agr_portfolio_query_answer(agr=agr_a, period=d("2024-01-31"))
    during = agr_portfolio_query_answer(agr=agr_a, period=d("2024-02-29"))
    after = agr_portfolio_query_answer(agr=agr_a, period=d("2024-03-01"))

    assert [before.accepted, during.accepted, after.accepted] == [False, True, False]
    assert during.unallocated_connections == (C1,)


def test_agr_query_never_lists_another_agrs_connections(dso1, agr_a, agr_b):
    dso_apply(dso1, cp(CP1, "2024-01-01", None, conn(C1, "2024-01-01"), conn(C2, "2024-01-01")))
    agr_apply(agr_a, conn(C1, "2024-01-01"))
    agr_apply(agr_b, conn(C2, "2024-01-01"), conn(C3, "2024-01-01"))

    answer = agr_portfolio_query_answer(agr=agr_a, period=d("2024-05-01"))

    assert agr_cps(answer) == {("dso1.example.com", CP1): (C1,)}
    assert answer.unallocated_connections == ()


def test_agr_query_is_sorted_by_dso_domain_then_entity_address(dso1, dso2, agr_a):
    dso_apply(
        dso2,
        cp(CP2, "2024-01-01", None, conn(C3, "2024-01-01")),
        cp(CP1, "2024-01-01", None, conn(C2, "2024-01-01")),
    )
    dso_apply(dso1, cp("ean.000000000009", "2024-01-01", None, conn(C1, "2024-01-01")))
    agr_apply(agr_a, conn(C3, "2024-01-01"), conn(C2, "2024-01-01"), conn(C1, "2024-01-01"))

    answer = agr_portfolio_query_answer(agr=agr_a, period=d("2024-05-01"))

    assert [p.dso_domain for p in answer.dso_portfolios] == ["dso1.example.com", "dso2.example.com"]
    assert [c.entity_address for c in answer.dso_portfolios[1].congestion_points] == [CP1, CP2]


def test_agr_query_carries_the_cp_attributes(dso1, agr_a):
    dso_apply(
        dso1, cp(CP1, "2024-01-01", None, conn(C1, "2024-01-01"), mutex=False, day_ahead="AGR", intraday=None)
    )
    agr_apply(agr_a, conn(C1, "2024-01-01"))

    (point,) = (
        agr_portfolio_query_answer(agr=agr_a, period=d("2024-05-01")).dso_portfolios[0].congestion_points
    )

    assert point == uftp.AGRQueryCongestionPoint(
        entity_address=CP1,
        mutex_offers_supported=False,
        day_ahead_redispatch_by=uftp.RedispatchBy.AGR,
        intraday_redispatch_by=None,
        connections=(C1,),
    )


# ------------------------------------------------------------------------------ DST days: Periods are dates


@pytest.mark.parametrize("dst_day", ["2024-03-31", "2024-10-27"])
def test_periods_on_dst_days_are_matched_by_date(dso1, agr_a, dst_day):
    day = d(dst_day)
    dso_apply(dso1, cp(CP1, dst_day, dst_day, conn(C1, dst_day, dst_day)))
    agr_apply(agr_a, conn(C1, dst_day, dst_day))

    before = day - dt.timedelta(days=1)
    after = day + dt.timedelta(days=1)
    assert dso_connections(dso_portfolio_query_answer(dso=dso1, entity_address=CP1, period=day)) == (
        (C1, "agr-a.example.com"),
    )
    assert agr_cps(agr_portfolio_query_answer(agr=agr_a, period=day)) == {("dso1.example.com", CP1): (C1,)}
    for other_day in (before, after):
        assert (
            dso_portfolio_query_answer(dso=dso1, entity_address=CP1, period=other_day).congestion_point
            is None
        )
        assert not agr_portfolio_query_answer(agr=agr_a, period=other_day).accepted


@pytest.mark.parametrize(
    ("end", "first_day_out"), [("2024-03-30", "2024-03-31"), ("2024-10-26", "2024-10-27")]
)
def test_a_period_ending_the_day_before_dst_does_not_cover_the_dst_day(dso1, end, first_day_out):
    dso_apply(dso1, cp(CP1, "2024-01-01", end, conn(C1, "2024-01-01", end)))

    assert (
        dso_portfolio_query_answer(dso=dso1, entity_address=CP1, period=d(end)).congestion_point is not None
    )
    assert (
        dso_portfolio_query_answer(dso=dso1, entity_address=CP1, period=d(first_day_out)).congestion_point
        is None
    )


# ------------------------------------------------------------------------------ as known at


def test_queries_answer_as_known_at_a_moment(dso1, agr_a, agr_b):
    before_anything = timezone.now()
    dso_apply(dso1, cp(CP1, "2024-01-01", None, conn(C1, "2024-01-01"), conn(C2, "2024-01-01"), mutex=True))
    agr_apply(agr_a, conn(C1, "2024-01-01"), conn(C2, "2024-01-01"))
    first_known = timezone.now()
    dso_apply(dso1, cp(CP1, "2024-01-01", None, conn(C1, "2024-01-01"), conn(C3, "2024-01-01"), mutex=False))
    agr_apply(agr_a, conn(C1, "2024-01-01", "2024-03-31"))
    agr_apply(agr_b, conn(C1, "2024-04-01"))
    second_known = timezone.now()
    period = d("2024-05-01")

    at_first = dso_portfolio_query_answer(dso=dso1, entity_address=CP1, period=period, as_of=first_known)
    at_second = dso_portfolio_query_answer(dso=dso1, entity_address=CP1, period=period, as_of=second_known)
    now = dso_portfolio_query_answer(dso=dso1, entity_address=CP1, period=period)
    assert dso_connections(at_first) == ((C1, "agr-a.example.com"), (C2, "agr-a.example.com"))
    assert dso_connections(at_second) == ((C1, "agr-b.example.com"), (C3, None))
    assert now == at_second
    assert dso_portfolio_query_answer(
        dso=dso1, entity_address=CP1, period=period, as_of=before_anything
    ).rejection_reason == (f"Unknown congestion point [{CP1}]")

    agr_at_first = agr_portfolio_query_answer(agr=agr_a, period=period, as_of=first_known)
    assert agr_cps(agr_at_first) == {("dso1.example.com", CP1): (C1, C2)}
    assert agr_at_first.dso_portfolios[0].congestion_points[0].mutex_offers_supported is True
    # C1 went to agr-b from April and C2 (untouched by agr-a's second update) left CP1.
    at_second_agr = agr_portfolio_query_answer(agr=agr_a, period=period, as_of=second_known)
    assert (at_second_agr.dso_portfolios, at_second_agr.unallocated_connections) == ((), (C2,))
    assert agr_cps(agr_portfolio_query_answer(agr=agr_a, period=d("2024-03-31"), as_of=second_known)) == {
        ("dso1.example.com", CP1): (C1,)
    }


# ------------------------------------------------------------------------------ SQL twins


def test_the_sql_conditions_select_the_rows_the_orm_conditions_select(dso1, agr_a, agr_b):
    """known_at_sql/active_on_sql (the DSO query's SQL) against known_at_q/active_on_q, on a
    history with supersessions, at every recorded moment (the boundaries) and around them."""
    from django.db import connection

    from registry.models import CongestionPointVersion, Membership, Representation
    from registry.models.portfolio import active_on_q, active_on_sql, known_at_q, known_at_sql

    dso_apply(dso1, cp(CP1, "2024-01-01", None, conn(C1, "2024-01-01"), conn(C2, "2024-01-01", "2024-03-31")))
    agr_apply(agr_a, conn(C1, "2024-01-01"), conn(C2, "2024-01-01"))
    dso_apply(dso1, cp(CP1, "2024-02-01", "2024-12-31", conn(C1, "2024-02-01"), conn(C3, "2024-02-01")))
    agr_apply(agr_a, conn(C1, "2024-01-01", "2024-03-31"))
    agr_apply(agr_b, conn(C1, "2024-04-01"))
    moments = set()
    for model in (CongestionPointVersion, Membership, Representation):
        for recorded, superseded in model.objects.values_list("recorded_at", "superseded_at"):
            moments.update({recorded, superseded} - {None})
    around = {
        moment + delta for moment in moments for delta in (dt.timedelta(0), dt.timedelta(microseconds=-1))
    }
    days = [
        d(day)
        for day in (
            "2023-12-31",
            "2024-01-01",
            "2024-01-31",
            "2024-02-01",
            "2024-03-31",
            "2024-04-01",
            "2024-12-31",
            "2025-01-01",
        )
    ]
    assert len(around) >= 10

    for model in (CongestionPointVersion, Membership, Representation):
        table = model._meta.db_table
        for as_of in [None, *sorted(around)]:
            for day in days:
                known, known_params = known_at_sql("t", as_of)
                active, active_params = active_on_sql("t", day)
                with connection.cursor() as cursor:
                    cursor.execute(
                        f"SELECT t.id FROM {table} t WHERE {known} AND {active}",  # noqa: S608
                        [*known_params, *active_params],
                    )
                    by_sql = {row[0] for row in cursor.fetchall()}
                by_orm = set(
                    model.objects.filter(known_at_q(as_of), active_on_q(day)).values_list("pk", flat=True)
                )
                assert by_sql == by_orm, (table, as_of, day)
