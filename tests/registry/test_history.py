"""Nothing is forgotten: every earlier state stays retrievable, with when and by which message."""

import datetime as dt

from django.utils import timezone

from registry.models import CongestionPoint, Membership, Representation
from registry.selectors.portfolio_queries import agr_portfolio_on_day, dso_portfolio_query_answer
from registry.selectors.registry_history import (
    congestion_point_memberships,
    congestion_point_versions,
    entity_history,
)
from registry.selectors.registry_state import RegistryFilter, congestion_point_state_list
from registry.services.portfolio import agr_portfolio_update_apply, dso_portfolio_update_apply
from tests.factories import agr_update, conn, cp, d, dso_update

CP1, CP2 = "ean.000000000001", "ean.000000000002"
C1, C2, C3 = "ean.100000000001", "ean.100000000002", "ean.100000000003"


def dso_apply(dso, *cps, make_message=None):
    message = dso_update(dso.domain, *cps)
    stored = make_message(message, dso) if make_message else None
    outcome = dso_portfolio_update_apply(dso=dso, message=message, source_message=stored)
    assert outcome.accepted, outcome.rejection_reason
    return stored


def agr_apply(agr, *connections, make_message=None, **kwargs):
    message = agr_update(agr.domain, *connections)
    stored = make_message(message, agr) if make_message else None
    outcome = agr_portfolio_update_apply(agr=agr, message=message, source_message=stored, **kwargs)
    assert outcome.accepted, outcome.rejection_reason
    return stored


def test_every_state_of_a_cp_is_answered_as_known_at_its_time(dso1):
    """Five successive statements about one CP: each is still the answer as known right after it."""
    statements = [
        (conn(C1, "2024-01-01"),),
        (conn(C1, "2024-01-01"), conn(C2, "2024-01-01")),
        (conn(C2, "2024-01-01"),),
        (conn(C2, "2024-01-01"), conn(C3, "2024-02-01")),
        (conn(C1, "2024-01-01"), conn(C3, "2024-01-01")),
    ]
    known_at = []
    for connections in statements:
        dso_apply(dso1, cp(CP1, "2024-01-01", None, *connections))
        known_at.append(timezone.now())

    for moment, connections in zip(known_at, statements, strict=True):
        answer = dso_portfolio_query_answer(
            dso=dso1, entity_address=CP1, period=d("2024-03-01"), as_of=moment
        )
        assert [c.entity_address for c in answer.congestion_point.connections] == sorted(
            c.entity_address for c in connections
        )
    # Rows are only ever added: 1 + 1 + 0 + 1 + 2 memberships recorded in all.
    assert Membership.objects.count() == 5
    assert Membership.objects.current().count() == 2


def test_cp_timeline_shows_superseded_rows_with_their_messages(dso1, make_message):
    first = dso_apply(
        dso1,
        cp(CP1, "2024-01-01", None, conn(C1, "2024-01-01"), conn(C2, "2024-01-01")),
        make_message=make_message,
    )
    second = dso_apply(
        dso1,
        cp(CP1, "2024-01-01", "2024-12-31", conn(C1, "2024-01-01", "2024-12-31")),
        make_message=make_message,
    )

    point = CongestionPoint.objects.get(entity_address=CP1)

    assert point.dso == dso1
    assert [
        (v.end_period, v.recorded_by, v.superseded_by)
        for v in congestion_point_versions(congestion_point=point)
    ] == [
        (None, first, second),
        (dt.date(2024, 12, 31), second, None),
    ]
    assert [
        (m.connection_address, m.end_period, m.recorded_by, m.superseded_by)
        for m in congestion_point_memberships(congestion_point=point)
    ] == [
        (C1, None, first, second),
        (C1, dt.date(2024, 12, 31), second, None),
        (C2, None, first, second),
    ]
    assert entity_history(entity_address=CP2).congestion_point is None


def test_entity_history_of_a_connection_spans_cps_and_agrs(dso1, dso2, agr_a, agr_b, make_message):
    moved_out = dso_apply(
        dso1, cp(CP1, "2024-01-01", None, conn(C1, "2024-01-01")), make_message=make_message
    )
    dso_apply(dso1, cp(CP1, "2024-01-01", None, conn(C2, "2024-01-01")))
    moved_in = dso_apply(dso2, cp(CP2, "2024-01-01", None, conn(C1, "2024-06-01")), make_message=make_message)
    claimed = agr_apply(agr_a, conn(C1, "2024-01-01"), make_message=make_message)
    taken = agr_apply(agr_b, conn(C1, "2024-03-01"), make_message=make_message, conflict_policy="supersede")

    history = entity_history(entity_address=C1)

    assert history.congestion_point is None
    assert [
        (m.congestion_point.entity_address, m.recorded_by, m.is_current) for m in history.memberships
    ] == [
        (CP1, moved_out, False),
        (CP2, moved_in, True),
    ]
    assert [
        (r.agr.domain, r.end_period, r.recorded_by, r.superseded_by) for r in history.representations
    ] == [
        ("agr-a.example.com", None, claimed, taken),
        ("agr-a.example.com", dt.date(2024, 2, 29), taken, None),
        ("agr-b.example.com", None, taken, None),
    ]


def test_entity_history_of_a_cp(dso1):
    dso_apply(dso1, cp(CP1, "2024-01-01", None, conn(C1, "2024-01-01")))
    dso_apply(dso1, cp(CP1, "2024-01-01", None, conn(C2, "2024-01-01"), mutex=False))

    history = entity_history(entity_address=CP1)

    assert history.congestion_point.entity_address == CP1
    assert [v.mutex_offers_supported for v in history.versions] == [True, False]
    assert sorted((m.connection_address, m.is_current) for m in history.memberships) == [
        (C1, False),
        (C2, True),
    ]
    assert list(history.representations) == []


def test_congestion_point_state_list_on_day_as_known_at(dso1, dso2):
    dso_apply(dso1, cp(CP1, "2024-01-01", None, conn(C1, "2024-01-01"), conn(C2, "2024-05-01")))
    dso_apply(dso2, cp(CP2, "2024-04-01", "2024-04-30", conn(C3, "2024-04-01", "2024-04-30")))
    known = timezone.now()
    dso_apply(dso1, cp(CP1, "2024-01-01", None, conn(C1, "2024-01-01")))

    def listing(**kwargs):
        return [
            (point.entity_address, point.dso.domain, [m.connection_address for m in point.state_memberships])
            for point in congestion_point_state_list(selection=RegistryFilter(**kwargs))
        ]

    assert listing(day=d("2024-04-15")) == [(CP1, "dso1.example.com", [C1]), (CP2, "dso2.example.com", [C3])]
    assert listing(day=d("2024-05-15"), as_of=known) == [(CP1, "dso1.example.com", [C1, C2])]
    assert listing(day=d("2024-05-15")) == [(CP1, "dso1.example.com", [C1])]
    assert listing(day=d("2024-04-15"), dso=dso2) == [(CP2, "dso2.example.com", [C3])]
    (point,) = congestion_point_state_list(selection=RegistryFilter(day=d("2024-04-15"), dso=dso2))
    assert [v.end_period for v in point.state_versions] == [dt.date(2024, 4, 30)]


def test_agr_portfolio_on_day(dso1, agr_a):
    dso_apply(dso1, cp(CP1, "2024-01-01", None, conn(C1, "2024-01-01")))
    agr_apply(agr_a, conn(C2, "2024-01-01", "2024-12-31"), conn(C1, "2024-02-01"))

    rows = agr_portfolio_on_day(agr=agr_a, day=d("2024-03-01"))

    assert [(r.entity_address, r.end_period, r.congestion_point, r.dso_domain) for r in rows] == [
        (C1, None, CP1, "dso1.example.com"),
        (C2, dt.date(2024, 12, 31), None, None),
    ]
    assert (
        rows[0].mutex_offers_supported,
        rows[0].day_ahead_redispatch_by,
        rows[0].intraday_redispatch_by,
    ) == (
        True,
        "DSO",
        "AGR",
    )
    assert rows[1].mutex_offers_supported is None
    assert agr_portfolio_on_day(agr=agr_a, day=d("2023-12-31")) == []


def test_a_superseded_row_is_never_deleted(agr_a, agr_b):
    agr_apply(agr_a, conn(C1, "2024-01-01"))
    agr_apply(agr_a, conn(C1, "2024-02-01"))
    agr_apply(agr_b, conn(C1, "2024-06-01"), conflict_policy="supersede")

    rows = list(
        Representation.objects.order_by("recorded_at", "id").values_list(
            "agr__domain", "start_period", "end_period"
        )
    )

    assert rows == [
        ("agr-a.example.com", dt.date(2024, 1, 1), None),
        ("agr-a.example.com", dt.date(2024, 2, 1), None),
        ("agr-a.example.com", dt.date(2024, 2, 1), dt.date(2024, 5, 31)),
        ("agr-b.example.com", dt.date(2024, 6, 1), None),
    ]
