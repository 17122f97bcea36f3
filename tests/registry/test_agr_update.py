"""AGRPortfolioUpdate (cro-rules §3 items 8-10, §4): the connection is the unit."""

import datetime as dt

import pytest

from registry.models import Connection, Representation, RepresentationSequence
from registry.selectors.portfolio_queries import agr_portfolio_query_answer
from registry.services.portfolio import agr_portfolio_update_apply
from tests.factories import agr_update, conn

C1, C2, C3, C4 = "ean.100000000001", "ean.100000000002", "ean.100000000003", "ean.100000000004"
EA1 = "ea1.2024-01.example.com:meter-17"


def apply(agr, *connections, **kwargs):
    time_stamp = kwargs.pop("time_stamp", None)
    return agr_portfolio_update_apply(
        agr=agr, message=agr_update(agr.domain, *connections, time_stamp=time_stamp), **kwargs
    )


def current(agr=None) -> set[tuple]:
    rows = Representation.objects.current()
    if agr is not None:
        rows = rows.filter(agr=agr)
    return set(rows.values_list("agr__domain", "connection_address", "start_period", "end_period"))


def snapshot() -> tuple:
    return (
        list(Representation.objects.values_list("pk", "superseded_at")),
        list(RepresentationSequence.objects.values_list("agr_id", "connection_id", "last_time_stamp")),
        Connection.objects.count(),
    )


# ------------------------------------------------------------------------------ accepted updates


def test_registers_representations_also_of_connections_no_dso_registered(agr_a, make_message):
    message = agr_update(agr_a.domain, conn(C1, "2024-01-01"), conn(EA1, "2024-02-01", "2024-12-31"))
    stored = make_message(message, agr_a)

    outcome = agr_portfolio_update_apply(agr=agr_a, message=message, source_message=stored)

    assert outcome.accepted and outcome.rejection_reason is None
    assert current() == {
        ("agr-a.example.com", C1, dt.date(2024, 1, 1), None),
        ("agr-a.example.com", EA1, dt.date(2024, 2, 1), dt.date(2024, 12, 31)),
    }
    assert set(Representation.objects.values_list("recorded_by", "source")) == {(stored.pk, "uftp")}
    assert set(
        RepresentationSequence.objects.values_list("connection__entity_address", "last_time_stamp")
    ) == {
        (C1, message.time_stamp),
        (EA1, message.time_stamp),
    }


def test_a_listed_connection_is_replaced_and_others_are_untouched(agr_a):
    apply(agr_a, conn(C1, "2024-01-01"), conn(C2, "2024-01-01"), conn(C3, "2024-01-01"))
    unchanged = Representation.objects.get(connection_address=C3)

    outcome = apply(agr_a, conn(C1, "2024-01-01", "2024-06-30"), conn(C3, "2024-01-01"))

    assert outcome.accepted
    assert current() == {
        ("agr-a.example.com", C1, dt.date(2024, 1, 1), dt.date(2024, 6, 30)),
        ("agr-a.example.com", C2, dt.date(2024, 1, 1), None),
        ("agr-a.example.com", C3, dt.date(2024, 1, 1), None),
    }
    unchanged.refresh_from_db()
    assert unchanged.superseded_at is None
    assert list(
        Representation.objects.exclude(superseded_at=None).values_list("connection_address", "end_period")
    ) == [(C1, None)]
    assert outcome.changes == (
        f"connection [{C1}] represented by agr-a.example.com: now 2024-01-01..2024-06-30 (was 2024-01-01..(open))",
    )


def test_a_connection_may_be_listed_twice_for_periods_that_do_not_overlap(agr_a):
    outcome = apply(agr_a, conn(C1, "2024-01-01", "2024-03-31"), conn(C1, "2024-07-01"))

    assert outcome.accepted
    assert current() == {
        ("agr-a.example.com", C1, dt.date(2024, 1, 1), dt.date(2024, 3, 31)),
        ("agr-a.example.com", C1, dt.date(2024, 7, 1), None),
    }


# ------------------------------------------------------------------------------ item 8 and listing errors


def test_period_out_of_bounds_is_rejected(agr_a):
    outcome = apply(agr_a, conn(C1, "2024-01-01"), conn(C2, "2024-03-01", "2024-02-29"))

    assert not outcome.accepted
    assert outcome.reasons == (
        f"Period out of bounds: connection [{C2}] ends (2024-02-29) before it starts (2024-03-01)",
    )
    assert snapshot() == ([], [], 0)


def test_a_connection_listed_twice_for_overlapping_periods_is_rejected(agr_a):
    outcome = apply(agr_a, conn(C1, "2024-01-01", "2024-03-31"), conn(C1, "2024-03-31"))

    assert outcome.reasons == (f"Duplicate connection: [{C1}] is listed twice for overlapping periods",)
    assert current() == set()


def test_an_invalid_entity_address_is_rejected(agr_a):
    outcome = apply(agr_a, conn("EAN.1", "2024-01-01"))

    assert outcome.reasons == ("Invalid entity address: connection [EAN.1]",)


# ------------------------------------------------------------------------------ item 9


def test_an_older_update_of_a_connection_is_subordinate(agr_a):
    newer = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
    apply(agr_a, conn(C1, "2024-01-01"), time_stamp=newer)
    before = snapshot()

    outcome = apply(
        agr_a, conn(C1, "2024-02-01"), conn(C2, "2024-01-01"), time_stamp=newer - dt.timedelta(seconds=1)
    )

    assert not outcome.accepted
    assert outcome.reasons == (
        f"Subordinate sequence number: connection [{C1}] was updated by a newer message",
    )
    assert snapshot() == before


def test_subordinate_is_per_connection_and_per_agr(agr_a, agr_b):
    apply(agr_a, conn(C1, "2024-01-01", "2024-01-31"), time_stamp=dt.datetime(2024, 5, 2, tzinfo=dt.UTC))

    other_connection = apply(agr_a, conn(C2, "2024-01-01"), time_stamp=dt.datetime(2024, 5, 1, tzinfo=dt.UTC))
    other_agr = apply(agr_b, conn(C1, "2024-02-01"), time_stamp=dt.datetime(2024, 5, 1, tzinfo=dt.UTC))

    assert other_connection.accepted
    assert other_agr.accepted, other_agr.rejection_reason


# ------------------------------------------------------------------------------ item 10: conflicts


def test_reject_policy_refuses_a_connection_another_agr_represents(agr_a, agr_b):
    apply(
        agr_a,
        conn(C1, "2024-01-01"),
        conn(C2, "2024-01-01", "2024-06-30"),
        conn(C3, "2024-01-01", "2024-06-30"),
    )
    before = snapshot()

    outcome = apply(
        agr_b,
        conn(C1, "2024-09-01"),
        conn(C2, "2024-06-30"),
        conn(C3, "2024-07-01"),
        conflict_policy="reject",
    )

    assert not outcome.accepted
    assert outcome.reasons == (
        f"Connection conflict: [{C1}] represented by another AGR",
        f"Connection conflict: [{C2}] represented by another AGR",
    )
    assert "agr-a" not in outcome.rejection_reason, "another AGR is never named"
    assert snapshot() == before


def test_reject_is_the_default_policy(agr_a, agr_b, settings):
    settings.CRO_AGR_CONFLICT_POLICY = "reject"
    apply(agr_a, conn(C1, "2024-01-01"))

    outcome = apply(agr_b, conn(C1, "2024-01-01"))

    assert outcome.reasons == (f"Connection conflict: [{C1}] represented by another AGR",)


def test_supersede_policy_ends_the_older_representation_the_day_before(agr_a, agr_b, make_message):
    apply(agr_a, conn(C1, "2024-01-01"), conn(C2, "2024-01-01", "2024-12-31"))
    older_row = Representation.objects.get(connection_address=C1)
    message = agr_update(agr_b.domain, conn(C1, "2024-07-01"), conn(C2, "2024-03-01", "2024-04-30"))
    stored = make_message(message, agr_b)

    outcome = agr_portfolio_update_apply(
        agr=agr_b, message=message, source_message=stored, conflict_policy="supersede"
    )

    assert outcome.accepted, outcome.rejection_reason
    assert current() == {
        ("agr-a.example.com", C1, dt.date(2024, 1, 1), dt.date(2024, 6, 30)),
        ("agr-a.example.com", C2, dt.date(2024, 1, 1), dt.date(2024, 2, 29)),
        ("agr-b.example.com", C1, dt.date(2024, 7, 1), None),
        ("agr-b.example.com", C2, dt.date(2024, 3, 1), dt.date(2024, 4, 30)),
    }
    # The change is recorded: the older row is superseded by this message, the shortened one recorded by it.
    older_row.refresh_from_db()
    assert older_row.superseded_by == stored
    shortened = Representation.objects.current().get(agr=agr_a, connection_address=C1)
    assert shortened.recorded_by == stored
    assert (
        f"connection [{C1}]: representation by agr-a.example.com ends on 2024-06-30 (was 2024-01-01..(open))"
        in outcome.changes
    )
    # agr-a's own sequence is not touched by agr-b's update.
    assert not RepresentationSequence.objects.filter(agr=agr_a, last_message=stored).exists()
    assert (
        agr_portfolio_query_answer(agr=agr_a, period=dt.date(2024, 7, 1)).rejection_reason
        == "No connections available"
    )


def test_supersede_policy_withdraws_a_representation_that_starts_later(agr_a, agr_b):
    apply(agr_a, conn(C1, "2024-03-01", "2024-12-31"))

    outcome = apply(agr_b, conn(C1, "2024-01-01", "2024-06-30"), conflict_policy="supersede")

    assert outcome.accepted
    assert current() == {("agr-b.example.com", C1, dt.date(2024, 1, 1), dt.date(2024, 6, 30))}
    assert (
        f"connection [{C1}]: representation by agr-a.example.com withdrawn (was 2024-03-01..2024-12-31)"
        in outcome.changes
    )


def test_supersede_policy_from_the_first_representable_day_withdraws_the_older(agr_a, agr_b):
    apply(agr_a, conn(C1, "0001-01-01"))

    outcome = apply(agr_b, conn(C1, "0001-01-01"), conflict_policy="supersede")

    assert outcome.accepted
    assert current() == {("agr-b.example.com", C1, dt.date(1, 1, 1), None)}


def test_supersede_policy_from_the_setting(agr_a, agr_b, settings):
    settings.CRO_AGR_CONFLICT_POLICY = "supersede"
    apply(agr_a, conn(C1, "2024-01-01"))

    outcome = apply(agr_b, conn(C1, "2024-05-01"))

    assert outcome.accepted
    assert current(agr_a) == {("agr-a.example.com", C1, dt.date(2024, 1, 1), dt.date(2024, 4, 30))}


def test_representations_that_do_not_overlap_are_no_conflict(agr_a, agr_b):
    apply(agr_a, conn(C1, "2024-01-01", "2024-06-30"))

    outcome = apply(agr_b, conn(C1, "2024-07-01"), conflict_policy="reject")

    assert outcome.accepted


def test_an_unknown_conflict_policy_is_a_programming_error(agr_a):
    with pytest.raises(ValueError, match="conflict policy"):
        apply(agr_a, conn(C1, "2024-01-01"), conflict_policy="first-come")


def test_only_an_agr_may_apply_an_agr_update(dso1):
    with pytest.raises(ValueError, match="not an AGR"):
        apply(dso1, conn(C1, "2024-01-01"))


def test_every_reason_is_collected(agr_a, agr_b):
    apply(agr_a, conn(C1, "2024-01-01"))
    apply(agr_b, conn(C2, "2024-01-01"), time_stamp=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))

    outcome = apply(
        agr_b,
        conn(C1, "2024-01-01"),
        conn(C2, "2024-01-01"),
        conn(C3, "2024-02-01", "2024-01-01"),
        time_stamp=dt.datetime(2019, 1, 1, tzinfo=dt.UTC),
    )

    assert outcome.reasons == (
        f"Period out of bounds: connection [{C3}] ends (2024-01-01) before it starts (2024-02-01)",
        f"Subordinate sequence number: connection [{C2}] was updated by a newer message",
        f"Connection conflict: [{C1}] represented by another AGR",
    )


def test_dry_run_reports_the_changes_and_stores_nothing(agr_a, agr_b):
    apply(agr_a, conn(C1, "2024-01-01"))
    before = snapshot()

    outcome = apply(
        agr_b, conn(C1, "2024-03-01"), conn(C4, "2024-01-01"), conflict_policy="supersede", dry_run=True
    )

    assert outcome.accepted and outcome.dry_run
    assert outcome.changes == (
        f"connection [{C1}]: representation by agr-a.example.com ends on 2024-02-29 (was 2024-01-01..(open))",
        f"connection [{C1}] represented by agr-b.example.com: added 2024-03-01..(open)",
        f"connection [{C4}] represented by agr-b.example.com: added 2024-01-01..(open)",
    )
    assert snapshot() == before
