"""Two workers applying conflicting updates at the same moment (PostgreSQL: real row locks).

Each thread has its own database connection; `transaction=True` lets them see each other's commits.
"""

import datetime as dt
import threading
import time
from functools import partial

import pytest
from django.db import IntegrityError, connection, connections, transaction
from django.utils import timezone

from registry.models import CongestionPoint, CongestionPointVersion, Connection, Membership, Representation
from registry.services.portfolio import agr as portfolio_agr
from registry.services.portfolio import agr_portfolio_update_apply, dso_portfolio_update_apply
from registry.services.portfolio import dso as portfolio_dso
from tests.factories import agr_update, conn, cp, dso_update

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

CP1, CP2 = "ean.000000000001", "ean.000000000002"
C1, C2 = "ean.100000000001", "ean.100000000002"
TIMEOUT = 20


def run_together(*calls):
    """Start every call at the same moment in its own thread; return their results in order."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait(TIMEOUT)
            results[index] = call()
        except BaseException as exc:  # reported to the test below
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT * 2)
    assert not any(thread.is_alive() for thread in threads), "a worker hung (deadlock?)"
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


def run_in_named_threads(**runs) -> dict:
    """Run each call in a thread of its name, once its event (if not None) is set; return the
    results by name. The name is what a patched step looks at to tell the threads apart."""
    results: dict = {}

    def run(name, call, wait_for):
        try:
            if wait_for is not None:
                assert wait_for.wait(TIMEOUT)
            results[name] = call()
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=run, name=name, args=(name, call, wait_for))
        for name, (call, wait_for) in runs.items()
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "a worker hung (deadlock?)"
    return results


def test_two_agrs_claiming_one_connection_at_once_exactly_one_wins(agr_a, agr_b, monkeypatch):
    # Both connections are known already (so their lock rows exist and inserting them serialises nothing).
    agr_portfolio_update_apply(
        agr=agr_a,
        message=agr_update(
            agr_a.domain, conn(C1, "2023-01-01", "2023-12-31"), conn(C2, "2023-01-01", "2023-12-31")
        ),
    )
    attempts = []
    real_apply = portfolio_agr._agr_update_apply_locked

    def counted(**kwargs):
        attempts.append(kwargs["agr"].domain)
        return real_apply(**kwargs)

    monkeypatch.setattr(portfolio_agr, "_agr_update_apply_locked", counted)

    outcomes = run_together(
        lambda: agr_portfolio_update_apply(
            agr=agr_a,
            message=agr_update(agr_a.domain, conn(C1, "2024-01-01"), conn(C2, "2024-01-01")),
            conflict_policy="reject",
        ),
        lambda: agr_portfolio_update_apply(
            agr=agr_b,
            message=agr_update(agr_b.domain, conn(C2, "2024-03-01"), conn(C1, "2024-03-01")),
            conflict_policy="reject",
        ),
    )

    assert sorted(outcome.accepted for outcome in outcomes) == [False, True]
    (loser,) = [outcome for outcome in outcomes if not outcome.accepted]
    assert loser.reasons == (
        f"Connection conflict: [{C1}] represented by another AGR",
        f"Connection conflict: [{C2}] represented by another AGR",
    )
    assert len(attempts) == 2, "the connection locks serialised the two: no retry was needed"
    winner = agr_a if outcomes[0].accepted else agr_b
    assert set(
        Representation.objects.current()
        .filter(start_period__year=2024)
        .values_list("agr", "connection_address")
    ) == {
        (winner.pk, C1),
        (winner.pk, C2),
    }


def test_two_dsos_registering_one_connection_at_once_exactly_one_wins(dso1, dso2, monkeypatch):
    """Both pass the conflict check before either writes: the database's overlap check (migration
    0012) stops the second insert and the retry turns it into the proper rejection reason."""
    both_checked = threading.Barrier(2)
    checks = []
    real_check = portfolio_dso._dso_connection_conflicts

    def check_then_wait_for_the_other(**kwargs):
        reasons = real_check(**kwargs)
        checks.append(reasons)
        if len(checks) <= 2:  # the first check of each worker; the retry does not wait
            both_checked.wait(TIMEOUT)
        return reasons

    monkeypatch.setattr(portfolio_dso, "_dso_connection_conflicts", check_then_wait_for_the_other)

    outcomes = run_together(
        lambda: dso_portfolio_update_apply(
            dso=dso1, message=dso_update(dso1.domain, cp(CP1, "2024-01-01", None, conn(C1, "2024-01-01")))
        ),
        lambda: dso_portfolio_update_apply(
            dso=dso2, message=dso_update(dso2.domain, cp(CP2, "2024-01-01", None, conn(C1, "2024-06-01")))
        ),
    )

    assert checks[:2] == [[], []], "both workers saw no conflict before writing"
    # The loser is retried; after a deadlock its first retry may still run before the winner commits.
    assert len(checks) in (3, 4), checks
    assert checks[-1] != [], "the last attempt saw the winner's membership"
    assert sorted(outcome.accepted for outcome in outcomes) == [False, True]
    winner_cp, loser_index = (CP1, 1) if outcomes[0].accepted else (CP2, 0)
    assert outcomes[loser_index].reasons == (f"Connection conflict: [{C1}] at [{winner_cp}]",)
    assert list(Membership.objects.values_list("congestion_point__entity_address", "connection_address")) == [
        (winner_cp, C1)
    ]
    assert list(CongestionPoint.objects.values_list("entity_address", flat=True)) == [winner_cp]


def test_racing_updates_of_one_cp_never_let_the_older_overwrite_the_newer(dso1, monkeypatch):
    """The newer update holds the CP lock while the older one arrives: the older must wait, then be
    refused as subordinate (without the lock it would read the stale TimeStamp and overwrite)."""
    newer_holds_lock = threading.Event()
    real_check = portfolio_dso._dso_connection_conflicts

    checks_by_thread = []

    def hold_the_lock_a_while(**kwargs):
        reasons = real_check(**kwargs)
        checks_by_thread.append(threading.current_thread().name)
        if threading.current_thread().name == "newer":
            newer_holds_lock.set()
            time.sleep(0.5)
        return reasons

    # The CP exists already (so its row is there to lock and inserting it serialises nothing).
    dso_portfolio_update_apply(
        dso=dso1,
        message=dso_update(
            dso1.domain,
            cp(CP1, "2024-01-01", None, conn(C1, "2024-01-01")),
            time_stamp=dt.datetime(2024, 4, 1, tzinfo=dt.UTC),
        ),
    )
    monkeypatch.setattr(portfolio_dso, "_dso_connection_conflicts", hold_the_lock_a_while)
    newer_stamp = dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC)
    newer = dso_update(
        dso1.domain, cp(CP1, "2024-01-01", None, conn(C2, "2024-01-01"), mutex=False), time_stamp=newer_stamp
    )
    older = dso_update(
        dso1.domain,
        cp(CP1, "2024-01-01", None, conn(C1, "2024-01-01")),
        time_stamp=newer_stamp - dt.timedelta(seconds=1),
    )
    results = run_in_named_threads(
        newer=(partial(dso_portfolio_update_apply, dso=dso1, message=newer), None),
        older=(partial(dso_portfolio_update_apply, dso=dso1, message=older), newer_holds_lock),
    )

    assert results["newer"].accepted
    assert checks_by_thread == ["newer", "older"], "the older update waited for the CP lock: no retry needed"
    assert not results["older"].accepted
    assert results["older"].rejection_reason.startswith("Subordinate sequence number")
    assert CongestionPoint.objects.get().last_time_stamp == newer_stamp
    assert list(Membership.objects.current().values_list("connection_address", flat=True)) == [C2]
    assert CongestionPointVersion.objects.current().get().mutex_offers_supported is False


@pytest.mark.parametrize("round_", range(5))
def test_same_cp_updates_racing_with_different_time_stamps_end_with_the_newer(dso1, round_):
    """Whichever worker gets there first, the registry ends with the newer statement."""
    dso_portfolio_update_apply(
        dso=dso1,
        message=dso_update(
            dso1.domain,
            cp(CP1, "2024-01-01", None, conn(C1, "2024-01-01")),
            time_stamp=dt.datetime(2024, 5, 1, tzinfo=dt.UTC),
        ),
    )
    newer_stamp = dt.datetime(2024, 5, 3, tzinfo=dt.UTC)
    newer = dso_update(
        dso1.domain, cp(CP1, "2024-01-01", None, conn(C2, "2024-01-01")), time_stamp=newer_stamp
    )
    older = dso_update(
        dso1.domain,
        cp(CP1, "2024-01-01", None, conn(C1, "2024-02-01")),
        time_stamp=dt.datetime(2024, 5, 2, tzinfo=dt.UTC),
    )

    newer_outcome, older_outcome = run_together(
        lambda: dso_portfolio_update_apply(dso=dso1, message=newer),
        lambda: dso_portfolio_update_apply(dso=dso1, message=older),
    )

    assert newer_outcome.accepted
    if not older_outcome.accepted:
        assert older_outcome.rejection_reason.startswith("Subordinate sequence number")
    assert CongestionPoint.objects.get().last_time_stamp == newer_stamp
    assert list(Membership.objects.current().values_list("connection_address", "start_period")) == [
        (C2, dt.date(2024, 1, 1))
    ]
    assert CongestionPointVersion.objects.current().count() == 1
    # History is consistent: every superseded row was superseded no earlier than it was recorded.
    for row in Membership.objects.exclude(superseded_at=None):
        assert row.superseded_at >= row.recorded_at


@pytest.mark.parametrize("connection_known", [False, True], ids=["new connection", "known connection"])
@pytest.mark.parametrize("table", ["membership", "representation"])
def test_two_transactions_cannot_both_write_overlapping_rows_of_one_connection(
    dso1, dso2, agr_a, agr_b, table, connection_known
):
    """The database's own guarantee, whatever code writes the rows (here: plain ORM inserts, no
    service checks). The second writer of the connection waits for the first one's lock (migration
    0012: its Connection row, created by the first writer or there already) until the first commits;
    then it sees the first one's row and is refused. Without the wait both would commit."""
    if table == "membership":
        first_cp = CongestionPoint.objects.create(entity_address=CP1, dso=dso1)
        second_cp = CongestionPoint.objects.create(entity_address=CP2, dso=dso2)

        def row(number, start):
            return Membership(
                congestion_point=(first_cp, second_cp)[number], connection_address=C1,
                start_period=start, recorded_at=timezone.now(),
            )  # fmt: skip

        model, constraint = Membership, "membership_connection_periods_do_not_overlap"
    else:

        def row(number, start):
            return Representation(
                agr=(agr_a, agr_b)[number],
                connection_address=C1,
                start_period=start,
                recorded_at=timezone.now(),
            )

        model, constraint = Representation, "representation_connection_periods_do_not_overlap"
    if connection_known:
        Connection.objects.create(entity_address=C1)
    first_wrote, first_may_commit = threading.Event(), threading.Event()
    second_pid: list[int] = []
    errors: dict[str, BaseException] = {}

    def first():
        try:
            with transaction.atomic():
                row(0, dt.date(2024, 1, 1)).save()
                first_wrote.set()
                assert first_may_commit.wait(TIMEOUT)
        except BaseException as exc:  # reported below
            errors["first"] = exc
        finally:
            first_wrote.set()
            connections.close_all()

    def second():
        try:
            connection.ensure_connection()
            second_pid.append(connection.connection.info.backend_pid)
            with transaction.atomic():
                row(1, dt.date(2024, 6, 1)).save()
        except BaseException as exc:  # reported below
            errors["second"] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    assert first_wrote.wait(TIMEOUT)
    threads[1].start()
    # Let the first commit once the second waits for a lock, or has finished (it must not finish).
    deadline = time.monotonic() + TIMEOUT
    while threads[1].is_alive() and time.monotonic() < deadline:
        if second_pid:
            with connection.cursor() as cursor:
                cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [second_pid[0]])
                waiting = cursor.fetchone()
            if waiting is not None and waiting[0] == "Lock":
                break
        time.sleep(0.01)
    first_may_commit.set()
    for thread in threads:
        thread.join(TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "a writer hung"

    assert "first" not in errors, errors
    assert isinstance(errors.get("second"), IntegrityError), errors
    assert errors["second"].__cause__.diag.constraint_name == constraint
    assert list(model.objects.current().values_list("connection_address", "start_period")) == [
        (C1, dt.date(2024, 1, 1))
    ]
    assert Connection.objects.filter(entity_address=C1).count() == 1


def test_an_update_that_waited_for_the_cp_lock_reads_the_version_written_meanwhile(dso1, monkeypatch):
    """The second update waits for the CP lock while the first changes the CP's attributes. It
    must compare its attributes with the version the first wrote, not with the one before the
    wait: its MutexOffersSupported equals the old version's, so a stale read would write nothing
    and leave the first update's value in place although the second is newer."""
    dso_portfolio_update_apply(
        dso=dso1,
        message=dso_update(
            dso1.domain,
            cp(CP1, "2024-01-01", None, conn(C1, "2024-01-01"), mutex=False),
            time_stamp=dt.datetime(2024, 4, 1, tzinfo=dt.UTC),
        ),
    )
    first_holds_lock = threading.Event()
    real_check = portfolio_dso._dso_connection_conflicts

    def hold_the_lock_a_while(**kwargs):
        reasons = real_check(**kwargs)
        if threading.current_thread().name == "first" and not first_holds_lock.is_set():
            first_holds_lock.set()
            time.sleep(0.5)
        return reasons

    monkeypatch.setattr(portfolio_dso, "_dso_connection_conflicts", hold_the_lock_a_while)
    first = dso_update(
        dso1.domain,
        cp(CP1, "2024-01-01", None, conn(C1, "2024-01-01"), mutex=True),
        time_stamp=dt.datetime(2024, 5, 1, tzinfo=dt.UTC),
    )
    second = dso_update(
        dso1.domain,
        cp(CP1, "2024-01-01", None, conn(C1, "2024-01-01"), mutex=False),
        time_stamp=dt.datetime(2024, 5, 2, tzinfo=dt.UTC),
    )
    results = run_in_named_threads(
        first=(partial(dso_portfolio_update_apply, dso=dso1, message=first), None),
        second=(partial(dso_portfolio_update_apply, dso=dso1, message=second), first_holds_lock),
    )

    assert results["first"].accepted and results["second"].accepted
    assert any("(was " in line and "MutexOffersSupported=true" in line for line in results["second"].changes)
    assert CongestionPointVersion.objects.current().get().mutex_offers_supported is False
    assert CongestionPointVersion.objects.count() == 3
    assert CongestionPoint.objects.get().last_time_stamp == dt.datetime(2024, 5, 2, tzinfo=dt.UTC)


def test_racing_agr_updates_of_one_connection_never_let_the_older_overwrite_the_newer(agr_a, monkeypatch):
    """The newer AGRPortfolioUpdate holds the connection's lock while the older one arrives: the
    older waits, then must see the TimeStamp the newer recorded (item 9) and be refused, not read
    the state from before its wait and overwrite the newer."""
    agr_portfolio_update_apply(
        agr=agr_a,
        message=agr_update(
            agr_a.domain, conn(C1, "2024-01-01"), time_stamp=dt.datetime(2024, 4, 1, tzinfo=dt.UTC)
        ),
    )
    newer_holds_lock = threading.Event()
    real_reasons = portfolio_agr._agr_rejection_reasons

    def hold_the_lock_a_while(**kwargs):
        reasons = real_reasons(**kwargs)
        if threading.current_thread().name == "newer" and not newer_holds_lock.is_set():
            newer_holds_lock.set()
            time.sleep(0.5)
        return reasons

    monkeypatch.setattr(portfolio_agr, "_agr_rejection_reasons", hold_the_lock_a_while)
    newer_stamp = dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC)
    newer = agr_update(agr_a.domain, conn(C1, "2024-03-01"), time_stamp=newer_stamp)
    older = agr_update(agr_a.domain, conn(C1, "2024-02-01"), time_stamp=newer_stamp - dt.timedelta(seconds=1))
    results = run_in_named_threads(
        newer=(partial(agr_portfolio_update_apply, agr=agr_a, message=newer), None),
        older=(partial(agr_portfolio_update_apply, agr=agr_a, message=older), newer_holds_lock),
    )

    assert results["newer"].accepted
    assert not results["older"].accepted, results["older"].changes
    assert results["older"].rejection_reason.startswith("Subordinate sequence number")
    assert list(Representation.objects.current().values_list("start_period", flat=True)) == [
        dt.date(2024, 3, 1)
    ]
