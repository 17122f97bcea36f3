"""cro-rules §8: the worked example, registered through the services and queried through the selectors."""

import pytest

from registry.selectors.portfolio_queries import agr_portfolio_query_answer, dso_portfolio_query_answer
from registry.services.portfolio import agr_portfolio_update_apply, dso_portfolio_update_apply
from registry.uftp import messages as uftp
from tests.factories import agr_update, conn, cp, d, dso_update

CP1, CP2 = "ean.000000000001", "ean.000000000002"
C1, C2, C3, C4, C9 = (f"ean.10000000000{n}" for n in (1, 2, 3, 4, 9))

CP1_TERMS = {
    "mutex_offers_supported": True,
    "day_ahead_redispatch_by": uftp.RedispatchBy.DSO,
    "intraday_redispatch_by": uftp.RedispatchBy.AGR,
}
CP2_TERMS = {
    "mutex_offers_supported": False,
    "day_ahead_redispatch_by": uftp.RedispatchBy.AGR,
    "intraday_redispatch_by": None,
}


@pytest.fixture
def worked_example(dso1, dso2, agr_a, agr_b):
    outcomes = [
        dso_portfolio_update_apply(
            dso=dso1,
            message=dso_update(
                dso1.domain,
                cp(
                    CP1,
                    "2024-01-01",
                    None,
                    conn(C1, "2024-01-01"),
                    conn(C2, "2024-01-01", "2024-06-30"),
                    conn(C3, "2024-07-01"),
                    mutex=True,
                    day_ahead="DSO",
                    intraday="AGR",
                ),
            ),
        ),
        dso_portfolio_update_apply(
            dso=dso2,
            message=dso_update(
                dso2.domain,
                cp(
                    CP2,
                    "2024-03-01",
                    "2024-12-31",
                    conn(C4, "2024-03-01", "2024-12-31"),
                    mutex=False,
                    day_ahead="AGR",
                    intraday=None,
                ),
            ),
        ),
        agr_portfolio_update_apply(
            agr=agr_a,
            message=agr_update(
                agr_a.domain,
                conn(C1, "2024-01-01"),
                conn(C2, "2024-01-01"),
                conn(C9, "2024-01-01"),
                conn(C4, "2024-05-01"),
            ),
        ),
        agr_portfolio_update_apply(agr=agr_b, message=agr_update(agr_b.domain, conn(C3, "2024-07-01"))),
    ]
    assert [outcome.rejection_reason for outcome in outcomes] == [None] * 4
    assert all(outcome.accepted for outcome in outcomes)
    return {"dso1": dso1, "dso2": dso2, "agr_a": agr_a, "agr_b": agr_b}


def portfolio(dso_domain: str, cp_address: str, terms: dict, *connections: str) -> uftp.AGRQueryDSOPortfolio:
    return uftp.AGRQueryDSOPortfolio(
        dso_domain=dso_domain,
        congestion_points=(
            uftp.AGRQueryCongestionPoint(entity_address=cp_address, connections=connections, **terms),
        ),
    )


@pytest.mark.parametrize(
    ("period", "expected_portfolios", "expected_unallocated"),
    [
        pytest.param(
            "2024-06-15",
            (
                portfolio("dso1.example.com", CP1, CP1_TERMS, C1, C2),
                portfolio("dso2.example.com", CP2, CP2_TERMS, C4),
            ),
            (C9,),
            id="agr-a-2024-06-15",
        ),
        pytest.param(
            "2024-07-15",
            (
                portfolio("dso1.example.com", CP1, CP1_TERMS, C1),
                portfolio("dso2.example.com", CP2, CP2_TERMS, C4),
            ),
            (C2, C9),
            id="agr-a-2024-07-15",
        ),
        pytest.param(
            "2025-01-10",
            (portfolio("dso1.example.com", CP1, CP1_TERMS, C1),),
            (C2, C4, C9),
            id="agr-a-2025-01-10",
        ),
    ],
)
def test_agr_a_portfolio_query(worked_example, period, expected_portfolios, expected_unallocated):
    answer = agr_portfolio_query_answer(agr=worked_example["agr_a"], period=d(period))

    assert answer.accepted
    assert answer.rejection_reason is None
    assert answer.dso_portfolios == expected_portfolios
    assert answer.unallocated_connections == expected_unallocated


def test_agr_b_sees_only_its_own_connection(worked_example):
    answer = agr_portfolio_query_answer(agr=worked_example["agr_b"], period=d("2024-07-15"))

    assert answer.dso_portfolios == (portfolio("dso1.example.com", CP1, CP1_TERMS, C3),)
    assert answer.unallocated_connections == ()


def test_dso1_query_on_cp1_lists_connections_with_their_agr(worked_example):
    answer = dso_portfolio_query_answer(
        dso=worked_example["dso1"], entity_address=CP1, period=d("2024-07-15")
    )

    assert answer.accepted
    assert answer.congestion_point == uftp.DSOQueryCongestionPoint(
        entity_address=CP1,
        connections=(
            uftp.DSOQueryConnection(entity_address=C1, agr_domain="agr-a.example.com"),
            uftp.DSOQueryConnection(entity_address=C3, agr_domain="agr-b.example.com"),
        ),
    )


def test_dso2_query_on_cp1_is_rejected(worked_example):
    answer = dso_portfolio_query_answer(
        dso=worked_example["dso2"], entity_address=CP1, period=d("2024-07-15")
    )

    assert not answer.accepted
    assert answer.result == uftp.Result.REJECTED
    assert answer.rejection_reason == f"Unauthorized: congestion point [{CP1}] is owned by another DSO"
    assert answer.congestion_point is None
