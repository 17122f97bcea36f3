"""The set-based bulk load (portfolio.load): one rule set, two engines that must agree.

Each bad file is fed to the message engine (the CSV parsed into a DSOPortfolioUpdate, applied by
dso_portfolio_update_apply) and to the bulk load; both must refuse it with the same reasons (the
load prefixes each with its CSV lines) and change nothing. Good files must give the same registry.
"""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from django.utils import timezone

from registry.models import CongestionPoint, CongestionPointVersion, Membership
from registry.selectors.registry_state import EXPORT_COLUMNS
from registry.services import csv_io
from registry.services.csv_format import CsvInvalid
from registry.services.portfolio import dso_portfolio_update_apply, load
from registry.services.portfolio.load import LoadRefused, dso_portfolio_load

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

HEADER = ",".join(EXPORT_COLUMNS)
CP_A, CP_B, CP_OTHER = "ean.900000000001", "ean.900000000002", "ean.900000000009"
C1, C2, C3 = "ean.100000000001", "ean.100000000002", "ean.100000000003"


def csv_text(*rows: str) -> str:
    return "\n".join([HEADER, *rows]) + "\n"


def row(cp: str, connection: str = "", start: str = "2024-01-01", end: str = "", *, cp_end: str = "") -> str:
    connection_start = start if connection else ""
    return f"{cp},2024-01-01,{cp_end},true,DSO,AGR,{connection},{connection_start},{end}"


def message_engine(dso, text: str, *, dry_run: bool = False):
    parsed = csv_io.csv_portfolio_parse(text=text)
    update = csv_io.csv_portfolio_update_build(dso=dso, parsed=parsed)
    return dso_portfolio_update_apply(dso=dso, message=update, dry_run=dry_run, source=csv_io.CSV_SOURCE)


def bulk_load(dso, text: str):
    return dso_portfolio_load(dso=dso, file=io.BytesIO(text.encode()))


def without_lines(reasons) -> set[str]:
    return {re.sub(r"^line [0-9, ]+(and [0-9]+ more)?: ", "", reason) for reason in reasons}


def registry_rows() -> list[tuple]:
    return sorted(
        Membership.objects.values_list(
            "congestion_point__entity_address",
            "connection_address",
            "start_period",
            "end_period",
            "superseded_at",
        ),
        key=str,
    )


@pytest.fixture
def other_dsos_cp(dso2):
    """dso2 holds CP_OTHER with C3 from 2024-01-01, open-ended."""
    outcome = message_engine(dso2, csv_text(row(CP_OTHER, C3)))
    assert outcome.accepted


BAD_FILES = {
    "connection ends before it starts": [row(CP_A, C1, "2024-03-01", "2024-02-01")],
    "connection starts before its CP": [row(CP_A, C1, "2023-12-01")],
    "connection starts after its CP ends": [row(CP_A, C1, "2024-08-01", cp_end="2024-06-30")],
    "CP ends before it starts": [row(CP_A, C1, cp_end="2023-06-30")],
    "CP owned by another DSO": [row(CP_A, C1), row(CP_OTHER, C2)],
    "connection held by another CP": [row(CP_A, C1), row(CP_A, C3, "2024-05-01")],
    "connection twice in one CP": [row(CP_A, C1), row(CP_A, C2), row(CP_A, C1, "2025-01-01")],
    "connection in two CPs, overlapping": [row(CP_A, C1), row(CP_B, C1, "2024-06-01")],
    "several rules at once": [
        row(CP_A, C1, "2024-03-01", "2024-02-01"),
        row(CP_A, C3),
        row(CP_B, C2),
        row(CP_B, C2),
        row(CP_OTHER, C1),
    ],
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_both_engines_refuse_a_bad_file_for_the_same_reasons(name, dso1, other_dsos_cp):
    text = csv_text(*BAD_FILES[name])
    before = registry_rows()

    by_message = message_engine(dso1, text)
    with pytest.raises(LoadRefused) as refused:
        bulk_load(dso1, text)

    assert not by_message.accepted
    assert without_lines(refused.value.reasons) == set(by_message.reasons)
    assert all(reason.startswith("line ") for reason in refused.value.reasons)
    assert registry_rows() == before
    assert not CongestionPoint.objects.filter(dso=dso1).exists()


def test_a_newer_time_stamp_on_a_cp_refuses_the_load_as_it_refuses_a_message(dso1):
    assert bulk_load(dso1, csv_text(row(CP_A, C1))).connections == 1
    ahead = timezone.now() + dt.timedelta(minutes=5)
    CongestionPoint.objects.filter(entity_address=CP_A).update(last_time_stamp=ahead)
    text = csv_text(row(CP_A, C2))

    by_message = message_engine(dso1, text)
    with pytest.raises(LoadRefused) as refused:
        bulk_load(dso1, text)

    assert not by_message.accepted
    assert without_lines(refused.value.reasons) == set(by_message.reasons)
    assert "Subordinate sequence number" in refused.value.reasons[0]


GOOD_FILES = {
    "new CPs": [row(CP_A, C1), row(CP_A, C2, "2024-02-01", "2024-12-31"), row(CP_B, C3)],
    "connections clipped to their CP's end": [
        row(CP_A, C1, cp_end="2024-06-30"),
        row(CP_A, C2, cp_end="2024-06-30"),
    ],
    "a CP without connections": [row(CP_A)],
    "one connection in two CPs, one after the other": [
        row(CP_A, C1, "2024-01-01", "2024-03-31"),
        row(CP_B, C1, "2024-04-01"),
    ],
    "a CP's lines apart": [row(CP_A, C1), row(CP_B, C2), row(CP_A, C3)],
}


@pytest.mark.parametrize("name", sorted(GOOD_FILES))
def test_both_engines_store_a_good_file_the_same_way(name, dso1):
    text = csv_text(*GOOD_FILES[name])
    assert message_engine(dso1, text).accepted
    by_message = _current_state()
    Membership.objects.all().delete()
    CongestionPointVersion.objects.all().delete()
    CongestionPoint.objects.all().delete()

    bulk_load(dso1, text)

    assert _current_state() == by_message
    assert set(Membership.objects.values_list("source", flat=True)) <= {"csv"}


def _current_state():
    return (
        sorted(
            Membership.objects.current().values_list(
                "congestion_point__entity_address", "connection_address", "start_period", "end_period"
            ),
            key=str,
        ),
        sorted(
            CongestionPointVersion.objects.current().values_list(
                "congestion_point__entity_address",
                "start_period",
                "end_period",
                "mutex_offers_supported",
                "day_ahead_redispatch_by",
                "intraday_redispatch_by",
            ),
            key=str,
        ),
        sorted(CongestionPoint.objects.values_list("entity_address", "dso__domain")),
    )


def test_a_second_load_replaces_the_listed_cps_and_keeps_the_history(dso1):
    first = bulk_load(dso1, csv_text(row(CP_A, C1), row(CP_A, C2), row(CP_B, C3)))
    loaded_at = Membership.objects.get(connection_address=C1).recorded_at

    # C1 stays, C2 leaves CP_A, C3 moves from CP_B (listed, now empty) to CP_A; CP_A gets an end.
    second = bulk_load(dso1, csv_text(row(CP_A, C1), row(CP_A, C3), row(CP_B)))

    assert (first.memberships_added, second.memberships_added, second.memberships_removed) == (3, 1, 2)
    assert sorted(
        Membership.objects.current().values_list("congestion_point__entity_address", "connection_address")
    ) == [
        (CP_A, C1),
        (CP_A, C3),
    ]
    unchanged = Membership.objects.get(connection_address=C1)
    assert unchanged.recorded_at == loaded_at  # an unchanged row is not rewritten
    left = Membership.objects.get(connection_address=C2)
    assert left.superseded_at is not None and left.superseded_at > loaded_at
    # As known at the first load, the registry said what the first file said.
    assert Membership.objects.known_at(loaded_at).count() == 3


def test_a_cp_whose_attributes_change_gets_a_new_version(dso1):
    bulk_load(dso1, csv_text(row(CP_A, C1)))
    result = bulk_load(dso1, csv_text(row(CP_A, C1, cp_end="2030-12-31")))

    assert result.congestion_point_versions_written == 2  # the old superseded, the new inserted
    versions = CongestionPointVersion.objects.order_by("recorded_at")
    assert [v.end_period for v in versions] == [None, dt.date(2030, 12, 31)]
    assert versions[0].superseded_at == versions[1].recorded_at


def test_a_line_that_is_not_readable_is_named_and_nothing_changes(dso1):
    rows = [row(CP_A, f"ean.1000000{n:05d}") for n in range(50)]
    rows[40] = row(CP_A, "not-an-address")

    with pytest.raises(CsvInvalid) as invalid:
        bulk_load(dso1, csv_text(*rows))

    assert [(error.line, error.column) for error in invalid.value.row_errors] == [(42, "connection")]
    assert not Membership.objects.exists() and not CongestionPoint.objects.exists()


def test_a_refusal_at_the_end_of_a_file_leaves_its_beginning_unwritten(dso1, dso2):
    bulk_load(dso2, csv_text(row(CP_OTHER, C3)))
    rows = [row(CP_A, f"ean.1000000{n:05d}") for n in range(500)] + [row(CP_OTHER, C1)]

    with pytest.raises(LoadRefused, match=r"line 502: Unauthorized: congestion point \[ean.900000000009\]"):
        bulk_load(dso1, csv_text(*rows))

    assert not CongestionPoint.objects.filter(dso=dso1).exists()
    assert Membership.objects.count() == 1


def test_a_failure_halfway_through_the_writes_changes_nothing(dso1, monkeypatch):
    bulk_load(dso1, csv_text(row(CP_A, C1)))
    before = registry_rows()
    write = load._write

    def write_then_fail(**kwargs):
        write(**kwargs)
        assert Membership.objects.current().count() == 3  # the new rows are in, uncommitted
        raise RuntimeError("the database went away")

    monkeypatch.setattr(load, "_write", write_then_fail)
    with pytest.raises(RuntimeError):
        bulk_load(dso1, csv_text(row(CP_A, C1), row(CP_B, C2), row(CP_B, C3)))

    assert registry_rows() == before
    assert list(CongestionPoint.objects.values_list("entity_address", flat=True)) == [CP_A]


def test_a_row_of_another_dso_is_refused_with_its_line(dso1):
    text = "\n".join(["dso," + HEADER, f"{dso1.domain},{row(CP_A, C1)}", f"dso9.example.com,{row(CP_A, C2)}"])

    with pytest.raises(LoadRefused, match="Other DSO: lines 3 belong to dso9.example.com"):
        bulk_load(dso1, text)
    assert not Membership.objects.exists()


def test_a_line_that_is_not_utf8_is_named(dso1):
    data = csv_text(row(CP_A, C1), row(CP_A, C2)).encode() + b"ean.900000000001,2024-01-01,,tru\xe9\n"

    with pytest.raises(CsvInvalid) as invalid:
        dso_portfolio_load(dso=dso1, file=io.BytesIO(data))

    assert [error.line for error in invalid.value.row_errors] == [4], invalid.value.row_errors
    assert "not UTF-8" in str(invalid.value)
    assert not Membership.objects.exists()


def test_a_control_character_is_named_with_its_column(dso1):
    text = csv_text(row(CP_A, C1), row(CP_A, C2 + "\x07"))

    with pytest.raises(CsvInvalid) as invalid:
        bulk_load(dso1, text)

    assert [(error.line, error.column) for error in invalid.value.row_errors] == [(3, "connection")]
    assert "U+0007" in str(invalid.value)


def test_the_reasons_of_a_file_of_bad_lines_are_capped(dso1, monkeypatch):
    monkeypatch.setattr(load, "MAX_REASONS", 3)
    rows = [row(CP_A, f"ean.1000000{n:05d}", "2024-03-01", "2024-02-01") for n in range(10)]

    with pytest.raises(LoadRefused) as refused:
        bulk_load(dso1, csv_text(*rows))

    assert len(refused.value.reasons) == 4 and refused.value.reasons[-1] == "... and 7 more reasons"


def test_a_load_that_loses_a_race_is_run_again_and_then_refused_properly(dso1, dso2, monkeypatch):
    """Another DSO registers the connection between the load's checks and its writes."""
    from django.db import IntegrityError

    write, calls = load._write, []

    def concurrent_write(**kwargs):
        calls.append(1)
        if len(calls) == 1:
            # As if another DSO's update had committed after the checks: the exclusion constraint
            # (PostgreSQL) refuses the insert.
            raise IntegrityError("conflicting key value violates exclusion constraint")
        return write(**kwargs)

    monkeypatch.setattr(load, "_write", concurrent_write)
    original_lock = load._congestion_points_lock

    def lock_then_other_dso_wins(*, dso):
        if len(calls) == 1:
            message_engine(dso2, csv_text(row(CP_OTHER, C1)))
        return original_lock(dso=dso)

    monkeypatch.setattr(load, "_congestion_points_lock", lock_then_other_dso_wins)

    with pytest.raises(
        LoadRefused, match=r"Connection conflict: \[ean.100000000001\] at \[ean.900000000009\]"
    ):
        bulk_load(dso1, csv_text(row(CP_A, C1)))
    assert len(calls) == 1


def test_the_load_holds_the_dsos_sender_lock_as_the_drain_does(dso1, monkeypatch):
    """While a load runs, no drain takes the DSO's messages (it tries the same advisory lock)."""
    import psycopg
    from django.db import connection

    from registry.services import processing

    held_elsewhere = []

    def sender_lock_then_try_from_a_drain(*, domain, role):
        processing.sender_lock(domain=domain, role=role)
        with psycopg.connect(**connection.get_connection_params()) as drain:
            key = processing._sender_lock_key(domain=domain, role=role)
            held_elsewhere.append(
                not drain.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", key).fetchone()[0]
            )

    monkeypatch.setattr(load, "sender_lock", sender_lock_then_try_from_a_drain)
    bulk_load(dso1, csv_text(row(CP_A, C1)))

    assert held_elsewhere == [True]
