"""SQLite limits bound variables, so the services read in chunks there: the result must not depend on
where the chunks split (CHUNK_SIZE is shrunk to 2 so that a handful of connections spans chunks)."""

import datetime as dt

import pytest

from registry.models import Membership, Representation
from registry.services import portfolio as portfolio_services
from registry.services.portfolio import agr_portfolio_update_apply, dso_portfolio_update_apply
from tests.factories import agr_update, conn, cp, dso_update

ADDRESSES = [f"ean.{100000000000 + n}" for n in range(7)]


@pytest.fixture(autouse=True)
def tiny_chunks(monkeypatch):
    monkeypatch.setattr(portfolio_services, "CHUNK_SIZE", 2)


def test_dso_updates_across_chunks(dso1, dso2):
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


def test_agr_updates_across_chunks(agr_a, agr_b):
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
