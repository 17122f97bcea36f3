"""Database constraints of the registry: they hold whatever code writes the rows."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import CheckConstraint, UniqueConstraint
from django.utils import timezone

from registry.models import CongestionPoint, CongestionPointVersion, Membership, Representation

JAN_1, JUN_30, JUL_1 = dt.date(2024, 1, 1), dt.date(2024, 6, 30), dt.date(2024, 7, 1)


def an_hour_ago() -> dt.datetime:
    return timezone.now() - dt.timedelta(hours=1)


@pytest.fixture
def point(dso1):
    return CongestionPoint.objects.create(entity_address="ean.000000000001", dso=dso1)


@pytest.fixture
def other_point(dso2):
    return CongestionPoint.objects.create(entity_address="ean.000000000002", dso=dso2)


def membership(point, start=JAN_1, end=None, *, address="ean.100000000001", **extra) -> Membership:
    return Membership(
        congestion_point=point,
        connection_address=address,
        start_period=start,
        end_period=end,
        recorded_at=extra.pop("recorded_at", an_hour_ago()),
        **extra,
    )


def version(point, start=JAN_1, end=None, **extra) -> CongestionPointVersion:
    return CongestionPointVersion(
        congestion_point=point,
        start_period=start,
        end_period=end,
        mutex_offers_supported=True,
        day_ahead_redispatch_by=extra.pop("day_ahead_redispatch_by", "DSO"),
        recorded_at=an_hour_ago(),
        **extra,
    )


def representation(agr, start=JAN_1, end=None, *, address="ean.100000000001", **extra) -> Representation:
    return Representation(
        agr=agr,
        connection_address=address,
        start_period=start,
        end_period=end,
        recorded_at=an_hour_ago(),
        **extra,
    )


def refused(row, constraint_name: str) -> None:
    """Saving `row` violates the constraint `constraint_name` (that one, not any other)."""
    with pytest.raises(IntegrityError) as raised, transaction.atomic():
        row.save()
    if connection.vendor == "postgresql":
        assert raised.value.__cause__.diag.constraint_name == constraint_name, str(raised.value)
    else:
        assert str(raised.value) == sqlite_violation_message(row, constraint_name)


def sqlite_violation_message(row, constraint_name: str) -> str:
    """SQLite names a violated CHECK constraint, but only the columns of a UNIQUE one."""
    constraint = next(c for c in row._meta.constraints if c.name == constraint_name)
    if isinstance(constraint, CheckConstraint):
        return f"CHECK constraint failed: {constraint_name}"
    assert isinstance(constraint, UniqueConstraint), constraint
    columns = (row._meta.get_field(name).column for name in constraint.fields)
    return "UNIQUE constraint failed: " + ", ".join(f"{row._meta.db_table}.{column}" for column in columns)


def test_end_period_before_start_period_is_refused(point, agr_a):
    refused(membership(point, JUL_1, JUN_30), "membership_end_period_not_before_start_period")
    refused(version(point, JUL_1, JUN_30), "congestion_point_version_end_period_not_before_start_period")
    refused(representation(agr_a, JUL_1, JUN_30), "representation_end_period_not_before_start_period")


def test_a_one_day_period_is_allowed(point):
    membership(point, JUN_30, JUN_30).save()

    assert Membership.objects.count() == 1


def test_a_cp_has_at_most_one_current_version(point):
    version(point).save()
    version(point, superseded_at=timezone.now()).save()

    refused(version(point), "congestion_point_version_one_current_per_congestion_point")


def test_superseded_before_recorded_is_refused(point):
    now = timezone.now()
    refused(
        membership(point, recorded_at=now, superseded_at=now - dt.timedelta(seconds=1)),
        "membership_superseded_not_before_recorded",
    )


def test_redispatch_by_must_be_agr_or_dso(point):
    refused(
        version(point, day_ahead_redispatch_by="XYZ"),
        "congestion_point_version_day_ahead_redispatch_by_is_known",
    )


def test_entity_addresses_unique(point, dso2):
    refused(
        CongestionPoint(entity_address=point.entity_address, dso=dso2),
        "congestion_point_entity_address_unique",
    )


@pytest.mark.parametrize(
    ("address", "valid"),
    [
        ("ean.871685900012636543", True),
        ("ean.123456789012", True),
        ("ea1.2024-01.example.com:meter-17", True),
        ("ean.12345678901", False),
        ("EAN.123456789012", False),
        ("ean.12345678901234567890123456789012345", False),
        ("ea1.2024-1.example.com:x", False),
        ("connection-1", False),
    ],
)
def test_entity_addresses_follow_the_uftp_pattern(point, address, valid):
    row = membership(point, address=address)
    if valid:
        row.full_clean()
    else:
        with pytest.raises(ValidationError):
            row.full_clean()


# ------------------------------------------------------------------------------ PostgreSQL exclusion


@pytest.mark.postgres
def test_current_memberships_of_one_connection_never_overlap(point, other_point):
    membership(point, JAN_1, JUN_30).save()

    refused(membership(other_point, JUN_30, None), "membership_connection_periods_do_not_overlap")
    refused(
        membership(point, dt.date(2024, 3, 1), dt.date(2024, 3, 1)),
        "membership_connection_periods_do_not_overlap",
    )
    membership(other_point, JUL_1, None).save()  # adjacent is fine
    membership(point, address="ean.100000000002").save()  # another connection is fine
    membership(other_point, JAN_1, None, superseded_at=timezone.now()).save()  # history may overlap
    assert Membership.objects.count() == 4


@pytest.mark.postgres
def test_an_open_end_overlaps_everything_after_its_start(point, other_point):
    membership(point, JUL_1, None).save()

    refused(
        membership(other_point, dt.date(2099, 1, 1), dt.date(2099, 1, 1)),
        "membership_connection_periods_do_not_overlap",
    )
    membership(other_point, JAN_1, JUN_30).save()
    assert Membership.objects.count() == 2


@pytest.mark.postgres
def test_current_representations_of_one_connection_never_overlap(agr_a, agr_b):
    representation(agr_a, JAN_1, JUN_30).save()

    refused(representation(agr_b, dt.date(2024, 6, 1)), "representation_connection_periods_do_not_overlap")
    refused(representation(agr_a, dt.date(2024, 6, 1)), "representation_connection_periods_do_not_overlap")
    representation(agr_b, JUL_1).save()
    assert Representation.objects.count() == 2
