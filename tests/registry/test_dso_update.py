"""DSOPortfolioUpdate (cro-rules §3 items 8-10, §4): the congestion point is the unit."""

import datetime as dt

import pytest

from registry.models import CongestionPoint, CongestionPointVersion, Membership
from registry.services.portfolio import dso_portfolio_update_apply
from registry.uftp import messages as uftp
from tests.factories import conn, cp, dso_update

CP1, CP2, CP3 = "ean.000000000001", "ean.000000000002", "ean.000000000003"
C1, C2, C3, C4 = "ean.100000000001", "ean.100000000002", "ean.100000000003", "ean.100000000004"


def apply(dso, *cps, **kwargs):
    time_stamp = kwargs.pop("time_stamp", None)
    return dso_portfolio_update_apply(
        dso=dso, message=dso_update(dso.domain, *cps, time_stamp=time_stamp), **kwargs
    )


def current_memberships(cp_address: str) -> set[tuple]:
    return set(
        Membership.objects.current()
        .filter(congestion_point__entity_address=cp_address)
        .values_list("connection_address", "start_period", "end_period")
    )


def registry_snapshot() -> tuple:
    """Everything the registry holds, to show that a rejected update changed nothing."""
    return (
        list(CongestionPoint.objects.values_list("entity_address", "dso_id", "last_time_stamp")),
        list(CongestionPointVersion.objects.values_list("pk", "superseded_at")),
        list(Membership.objects.values_list("pk", "superseded_at")),
    )


# ------------------------------------------------------------------------------ accepted updates


def test_registers_a_congestion_point_with_its_memberships(dso1, make_message):
    message = dso_update(
        dso1.domain, cp(CP1, "2024-01-01", None, conn(C1, "2024-01-01"), conn(C2, "2024-01-01", "2024-06-30"))
    )
    stored = make_message(message, dso1)

    outcome = dso_portfolio_update_apply(dso=dso1, message=message, source_message=stored)

    assert outcome.accepted and outcome.reasons == () and outcome.rejection_reason is None
    point = CongestionPoint.objects.get(entity_address=CP1)
    assert point.dso == dso1
    assert point.last_time_stamp == message.time_stamp
    assert point.last_message == stored
    version = point.versions.get()
    assert (version.start_period, version.end_period) == (dt.date(2024, 1, 1), None)
    assert (
        version.mutex_offers_supported,
        version.day_ahead_redispatch_by,
        version.intraday_redispatch_by,
    ) == (
        True,
        "DSO",
        "AGR",
    )
    assert version.recorded_by == stored and version.source == "uftp" and version.superseded_at is None
    assert current_memberships(CP1) == {
        (C1, dt.date(2024, 1, 1), None),
        (C2, dt.date(2024, 1, 1), dt.date(2024, 6, 30)),
    }
    assert set(Membership.objects.values_list("recorded_by", flat=True)) == {stored.pk}
    assert len(outcome.changes) == 3


def test_a_listed_cp_is_replaced_whole_and_unchanged_memberships_stay(dso1):
    apply(
        dso1,
        cp(CP1, "2024-01-01", None, conn(C1, "2024-01-01"), conn(C2, "2024-01-01"), conn(C3, "2024-01-01")),
    )
    unchanged = Membership.objects.get(connection_address=C1)

    outcome = apply(
        dso1,
        cp(
            CP1,
            "2024-01-01",
            None,
            conn(C1, "2024-01-01"),
            conn(C2, "2024-01-01", "2024-03-31"),
            conn(C4, "2024-02-01"),
        ),
    )

    assert outcome.accepted
    assert current_memberships(CP1) == {
        (C1, dt.date(2024, 1, 1), None),
        (C2, dt.date(2024, 1, 1), dt.date(2024, 3, 31)),
        (C4, dt.date(2024, 2, 1), None),
    }
    unchanged.refresh_from_db()
    assert unchanged.superseded_at is None, "an unchanged membership keeps its row"
    # C2's old period and C3 (no longer listed: it leaves) are superseded, not deleted.
    assert set(
        Membership.objects.exclude(superseded_at=None).values_list("connection_address", "end_period")
    ) == {
        (C2, None),
        (C3, None),
    }
    assert any(C3 in line and "removed" in line for line in outcome.changes)
    assert any(C4 in line and "added" in line for line in outcome.changes)


def test_changed_attributes_make_a_new_version_and_keep_the_old(dso1):
    apply(dso1, cp(CP1, "2024-01-01", None, conn(C1, "2024-01-01"), mutex=True))

    outcome = apply(dso1, cp(CP1, "2024-01-01", None, conn(C1, "2024-01-01"), mutex=False, intraday=None))

    assert outcome.accepted
    old, new = CongestionPointVersion.objects.order_by("recorded_at", "id")
    assert old.superseded_at is not None and old.mutex_offers_supported is True
    assert (
        new.superseded_at is None and new.mutex_offers_supported is False and new.intraday_redispatch_by == ""
    )
    assert new.recorded_at == old.superseded_at


def test_an_identical_update_changes_no_row(dso1):
    apply(dso1, cp(CP1, "2024-01-01", None, conn(C1, "2024-01-01")))
    before = registry_snapshot()

    outcome = apply(dso1, cp(CP1, "2024-01-01", None, conn(C1, "2024-01-01")))

    assert outcome.accepted and outcome.changes == ()
    assert registry_snapshot()[1:] == before[1:]
    assert CongestionPoint.objects.get().last_time_stamp > before[0][0][2], "the newer TimeStamp is recorded"


def test_cps_not_listed_are_untouched(dso1):
    apply(
        dso1,
        cp(CP1, "2024-01-01", None, conn(C1, "2024-01-01")),
        cp(CP2, "2024-01-01", None, conn(C2, "2024-01-01")),
    )

    apply(dso1, cp(CP2, "2024-01-01", None, conn(C3, "2024-01-01")))

    assert current_memberships(CP1) == {(C1, dt.date(2024, 1, 1), None)}
    assert current_memberships(CP2) == {(C3, dt.date(2024, 1, 1), None)}


def test_a_cp_is_ended_with_an_end_period(dso1):
    apply(dso1, cp(CP1, "2024-01-01", None, conn(C1, "2024-01-01")))

    outcome = apply(dso1, cp(CP1, "2024-01-01", "2024-09-30", conn(C1, "2024-01-01", "2024-09-30")))

    assert outcome.accepted
    assert CongestionPointVersion.objects.current().get().end_period == dt.date(2024, 9, 30)
    assert current_memberships(CP1) == {(C1, dt.date(2024, 1, 1), dt.date(2024, 9, 30))}


def test_a_connection_may_move_to_another_cp_in_one_update(dso1):
    apply(dso1, cp(CP1, "2024-01-01", None, conn(C1, "2024-01-01"), conn(C2, "2024-01-01")))

    outcome = apply(
        dso1,
        cp(CP1, "2024-01-01", None, conn(C1, "2024-01-01"), conn(C2, "2024-01-01", "2024-05-31")),
        cp(CP2, "2024-01-01", None, conn(C2, "2024-06-01")),
    )

    assert outcome.accepted, outcome.rejection_reason
    assert current_memberships(CP2) == {(C2, dt.date(2024, 6, 1), None)}


def test_a_connection_may_be_in_two_cps_for_periods_that_do_not_overlap(dso1, dso2):
    apply(dso1, cp(CP1, "2024-01-01", None, conn(C1, "2024-01-01", "2024-06-30")))

    outcome = apply(dso2, cp(CP2, "2024-01-01", None, conn(C1, "2024-07-01")))

    assert outcome.accepted, outcome.rejection_reason


def test_a_naive_time_stamp_is_read_in_the_market_time_zone(dso1):
    # 12:00 Amsterdam (CEST) is 10:00 UTC.
    apply(
        dso1,
        cp(CP1, "2024-01-01", None, conn(C1, "2024-01-01")),
        time_stamp=dt.datetime(2024, 6, 1, 10, tzinfo=dt.UTC),
    )

    older = apply(
        dso1, cp(CP1, "2024-01-01", None, conn(C2, "2024-01-01")), time_stamp=dt.datetime(2024, 6, 1, 11, 59)
    )
    newer = apply(
        dso1, cp(CP1, "2024-01-01", None, conn(C2, "2024-01-01")), time_stamp=dt.datetime(2024, 6, 1, 12, 1)
    )

    assert not older.accepted and older.rejection_reason.startswith("Subordinate sequence number")
    assert newer.accepted


# ------------------------------------------------------------------------------ item 8: Period out of bounds


@pytest.mark.parametrize(
    ("update", "entity"),
    [
        pytest.param(
            cp(CP1, "2024-02-01", "2024-01-31", conn(C1, "2024-02-01", "2024-01-31")),
            f"congestion point [{CP1}]",
            id="cp-ends-before-it-starts",
        ),
        pytest.param(
            cp(CP1, "2024-01-01", None, conn(C1, "2024-03-01", "2024-02-28")),
            f"connection [{C1}]",
            id="connection-ends-before-it-starts",
        ),
        pytest.param(
            cp(CP1, "2024-02-01", None, conn(C1, "2024-01-31")),
            f"connection [{C1}]",
            id="connection-starts-before-cp",
        ),
        # A connection open-ended or ending after its CP is clipped, not rejected (see below).
        pytest.param(
            cp(CP1, "2024-01-01", "2024-06-30", conn(C1, "2024-07-01", "2024-07-31")),
            f"connection [{C1}]",
            id="connection-after-cp",
        ),
    ],
)
def test_period_out_of_bounds_is_rejected(dso1, update, entity):
    outcome = apply(dso1, update)

    assert not outcome.accepted
    assert outcome.rejection_reason.startswith("Period out of bounds")
    assert entity in outcome.rejection_reason
    assert not CongestionPoint.objects.exists()


def test_a_connection_period_on_the_cp_bounds_is_inside(dso1):
    outcome = apply(
        dso1,
        cp(
            CP1,
            "2024-01-01",
            "2024-06-30",
            conn(C1, "2024-01-01", "2024-06-30"),
            conn(C2, "2024-06-30", "2024-06-30"),
        ),
    )

    assert outcome.accepted, outcome.rejection_reason


# ------------------------------------------------------------------------------ item 9: Subordinate sequence number


def test_an_older_update_of_a_cp_is_subordinate(dso1):
    newer = dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC)
    apply(dso1, cp(CP1, "2024-01-01", None, conn(C1, "2024-01-01")), time_stamp=newer)
    before = registry_snapshot()

    outcome = apply(
        dso1,
        cp(CP1, "2024-01-01", None, conn(C2, "2024-01-01")),
        time_stamp=newer - dt.timedelta(microseconds=1),
    )

    assert not outcome.accepted
    assert outcome.rejection_reason.startswith("Subordinate sequence number")
    assert f"[{CP1}]" in outcome.rejection_reason
    assert registry_snapshot() == before
    assert current_memberships(CP1) == {(C1, dt.date(2024, 1, 1), None)}


def test_an_update_with_the_same_time_stamp_is_not_subordinate(dso1):
    same = dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC)
    apply(dso1, cp(CP1, "2024-01-01", None, conn(C1, "2024-01-01")), time_stamp=same)

    outcome = apply(dso1, cp(CP1, "2024-01-01", None, conn(C2, "2024-01-01")), time_stamp=same)

    assert outcome.accepted


def test_subordinate_is_per_congestion_point(dso1):
    apply(
        dso1,
        cp(CP1, "2024-01-01", None, conn(C1, "2024-01-01")),
        time_stamp=dt.datetime(2024, 5, 2, tzinfo=dt.UTC),
    )

    outcome = apply(
        dso1,
        cp(CP2, "2024-01-01", None, conn(C2, "2024-01-01")),
        time_stamp=dt.datetime(2024, 5, 1, tzinfo=dt.UTC),
    )

    assert outcome.accepted


# ------------------------------------------------------------------------------ item 10: §4 rules


def test_a_cp_owned_by_another_dso_is_unauthorized(dso1, dso2):
    apply(dso1, cp(CP1, "2024-01-01", None, conn(C1, "2024-01-01")))
    before = registry_snapshot()

    outcome = apply(dso2, cp(CP1, "2024-01-01", None, conn(C2, "2024-01-01")))

    assert not outcome.accepted
    assert outcome.rejection_reason == f"Unauthorized: congestion point [{CP1}] is owned by another DSO"
    assert registry_snapshot() == before


def test_a_connection_in_another_dsos_cp_is_a_conflict_one_reason_per_connection(dso1, dso2):
    apply(
        dso1,
        cp(
            CP1,
            "2024-01-01",
            None,
            conn(C1, "2024-01-01"),
            conn(C2, "2024-01-01", "2024-03-31"),
            conn(C3, "2024-01-01"),
        ),
    )

    outcome = apply(
        dso2,
        cp(CP2, "2024-01-01", None, conn(C1, "2024-06-01"), conn(C2, "2024-03-31"), conn(C4, "2024-01-01")),
    )

    assert not outcome.accepted
    assert outcome.reasons == (
        f"Connection conflict: [{C1}] at [{CP1}]",
        f"Connection conflict: [{C2}] at [{CP1}]",
    )
    assert outcome.rejection_reason == "; ".join(outcome.reasons)
    assert not CongestionPoint.objects.filter(entity_address=CP2).exists(), "the new CP is rolled back too"


def test_a_connection_in_another_cp_of_the_same_dso_is_a_conflict(dso1):
    apply(dso1, cp(CP1, "2024-01-01", None, conn(C1, "2024-01-01")))

    outcome = apply(dso1, cp(CP2, "2024-01-01", None, conn(C1, "2024-01-01")))

    assert outcome.reasons == (f"Connection conflict: [{C1}] at [{CP1}]",)


def test_a_connection_listed_twice_in_one_cp_is_rejected(dso1):
    outcome = apply(
        dso1, cp(CP1, "2024-01-01", None, conn(C1, "2024-01-01", "2024-01-31"), conn(C1, "2024-03-01"))
    )

    assert not outcome.accepted
    assert outcome.reasons == (
        f"Duplicate connection: connection [{C1}] in congestion point [{CP1}] is listed twice",
    )


def test_a_connection_listed_in_two_cps_for_overlapping_periods_is_rejected(dso1):
    outcome = apply(
        dso1,
        cp(CP1, "2024-01-01", None, conn(C1, "2024-01-01", "2024-06-30")),
        cp(CP2, "2024-01-01", None, conn(C1, "2024-06-30")),
    )

    assert not outcome.accepted
    assert outcome.reasons == (
        f"Duplicate connection: [{C1}] is listed in congestion points [{CP1}], [{CP2}] for overlapping periods",
    )


def test_a_cp_listed_twice_is_rejected(dso1):
    outcome = apply(
        dso1,
        cp(CP1, "2024-01-01", None, conn(C1, "2024-01-01")),
        cp(CP1, "2024-01-01", None, conn(C2, "2024-01-01")),
    )

    assert outcome.reasons == (f"Duplicate congestion point: [{CP1}] is listed twice",)


def test_an_invalid_entity_address_is_rejected(dso1):
    outcome = apply(dso1, cp("cp-1", "2024-01-01", None, conn("ean.12", "2024-01-01")))

    assert outcome.reasons == (
        "Invalid entity address: congestion point [cp-1]",
        "Invalid entity address: connection [ean.12] in congestion point [cp-1]",
    )
    assert not CongestionPoint.objects.exists()


def test_every_reason_is_collected_and_nothing_is_applied(dso1, dso2):
    apply(dso1, cp(CP1, "2024-01-01", None, conn(C1, "2024-01-01")))
    apply(dso2, cp(CP3, "2024-01-01", None, conn(C3, "2024-01-01")))
    before = registry_snapshot()

    outcome = apply(
        dso2,
        cp(CP1, "2024-01-01", None, conn(C4, "2024-01-01")),
        cp(CP2, "2024-01-01", "2024-06-30", conn(C1, "2024-01-01", "2024-06-30"), conn(C2, "2024-07-01")),
        cp(CP3, "2024-01-01", None, conn(C3, "2024-01-01"), conn(C4, "2024-02-01")),
    )

    assert not outcome.accepted
    assert outcome.reasons == (
        f"Period out of bounds: connection [{C2}] in congestion point [{CP2}] 2024-07-01..(open) "
        "is not inside the congestion point's 2024-01-01..2024-06-30",
        f"Duplicate connection: [{C4}] is listed in congestion points [{CP1}], [{CP3}] for overlapping periods",
        f"Unauthorized: congestion point [{CP1}] is owned by another DSO",
        f"Connection conflict: [{C1}] at [{CP1}]",
    )
    assert registry_snapshot() == before
    # CP3's memberships stay as they were: the accepted part of a rejected update is not applied.
    assert current_memberships(CP3) == {(C3, dt.date(2024, 1, 1), None)}


def test_dry_run_reports_the_changes_and_stores_nothing(dso1):
    apply(dso1, cp(CP1, "2024-01-01", None, conn(C1, "2024-01-01")))
    before = registry_snapshot()

    outcome = apply(
        dso1,
        cp(CP1, "2024-01-01", None, conn(C2, "2024-01-01")),
        cp(CP2, "2024-01-01", None, conn(C3, "2024-01-01")),
        dry_run=True,
    )

    assert outcome.accepted and outcome.dry_run
    assert outcome.changes == (
        f"connection [{C1}] in congestion point [{CP1}]: removed (was 2024-01-01..(open))",
        f"connection [{C2}] in congestion point [{CP1}]: added 2024-01-01..(open)",
        f"congestion point [{CP2}]: registered 2024-01-01..(open), MutexOffersSupported=true, "
        "DayAheadRedispatchBy=DSO, IntradayRedispatchBy=AGR",
        f"connection [{C3}] in congestion point [{CP2}]: added 2024-01-01..(open)",
    )
    assert registry_snapshot() == before


def test_dry_run_reports_the_rejection(dso1, dso2):
    apply(dso1, cp(CP1, "2024-01-01", None, conn(C1, "2024-01-01")))

    outcome = apply(dso2, cp(CP1, "2024-01-01", None, conn(C1, "2024-01-01")), dry_run=True)

    assert not outcome.accepted and outcome.dry_run
    assert outcome.reasons == (f"Unauthorized: congestion point [{CP1}] is owned by another DSO",)


def test_only_a_dso_may_apply_a_dso_update(agr_a):
    with pytest.raises(ValueError, match="not a DSO"):
        apply(agr_a, cp(CP1, "2024-01-01", None, conn(C1, "2024-01-01")))


def test_the_source_label_is_stored(dso1):
    apply(dso1, cp(CP1, "2024-01-01", None, conn(C1, "2024-01-01")), source="csv")

    assert set(Membership.objects.values_list("source", flat=True)) == {"csv"}
    assert CongestionPointVersion.objects.get().source == "csv"


def test_redispatch_attributes_reach_the_version(dso1):
    apply(
        dso1,
        cp(CP1, "2024-01-01", None, conn(C1, "2024-01-01"), mutex=False, day_ahead="AGR", intraday="DSO"),
    )

    version = CongestionPointVersion.objects.get()
    assert (
        version.mutex_offers_supported,
        version.day_ahead_redispatch_by,
        version.intraday_redispatch_by,
    ) == (
        False,
        uftp.RedispatchBy.AGR,
        uftp.RedispatchBy.DSO,
    )


def test_ending_a_cp_clips_its_open_ended_and_later_ending_connections(dso1):
    apply(dso1, cp(CP1, "2024-01-01", None, conn(C1, "2024-01-01"), conn(C2, "2024-01-01", "2025-12-31")))

    # The CP ends; its connections are listed as before: they expire with it (cro-rules §4).
    outcome = apply(
        dso1,
        cp(
            CP1,
            "2024-01-01",
            "2024-06-30",
            conn(C1, "2024-01-01"),
            conn(C2, "2024-01-01", "2025-12-31"),
            conn(C3, "2024-02-01", "2024-03-31"),
        ),
    )

    assert outcome.accepted, outcome.reasons
    end = dt.date(2024, 6, 30)
    assert current_memberships(CP1) == {
        (C1, dt.date(2024, 1, 1), end),
        (C2, dt.date(2024, 1, 1), end),
        (C3, dt.date(2024, 2, 1), dt.date(2024, 3, 31)),  # ends before the CP: as listed
    }


def test_a_connection_starting_after_its_cp_ended_is_still_out_of_bounds(dso1):
    outcome = apply(dso1, cp(CP1, "2024-01-01", "2024-06-30", conn(C1, "2024-07-01")))
    assert not outcome.accepted
    assert outcome.reasons[0].startswith(f"Period out of bounds: connection [{C1}]")
    assert not CongestionPoint.objects.exists()
