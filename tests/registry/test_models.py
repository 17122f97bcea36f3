"""Database constraints of the registry: they hold whatever code writes the rows."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import CheckConstraint, UniqueConstraint
from django.utils import timezone

from registry.models import (
    CongestionPoint,
    CongestionPointVersion,
    CsvImport,
    Membership,
    Message,
    Participant,
    Representation,
)
from registry.models.portfolio import RedispatchBy
from registry.uftp import messages as uftp_messages

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


@pytest.mark.postgres
def test_one_statement_cannot_write_two_overlapping_rows_of_a_connection(point, other_point, agr_a, agr_b):
    with pytest.raises(IntegrityError) as raised, transaction.atomic():
        Membership.objects.bulk_create([membership(point, JAN_1, JUN_30), membership(other_point, JUN_30)])
    assert raised.value.__cause__.diag.constraint_name == "membership_connection_periods_do_not_overlap"
    with pytest.raises(IntegrityError) as raised, transaction.atomic():
        Representation.objects.bulk_create(
            [representation(agr_a, JAN_1, JUN_30), representation(agr_b, JUN_30)]
        )
    assert raised.value.__cause__.diag.constraint_name == "representation_connection_periods_do_not_overlap"
    assert not Membership.objects.exists() and not Representation.objects.exists()


@pytest.mark.postgres
def test_an_update_cannot_make_current_rows_overlap(point, other_point):
    """The check runs on UPDATE too: a superseded row made current again, a Period stretched, an
    address changed."""
    kept = membership(point, JAN_1, JUN_30)
    kept.save()
    old = membership(other_point, JAN_1, None, superseded_at=timezone.now())
    old.save()
    later = membership(other_point, JUL_1, None)
    later.save()
    elsewhere = membership(other_point, JAN_1, None, address="ean.100000000002")
    elsewhere.save()

    def update_refused(pk, **values) -> None:
        with pytest.raises(IntegrityError) as raised, transaction.atomic():
            Membership.objects.filter(pk=pk).update(**values)
        assert raised.value.__cause__.diag.constraint_name == "membership_connection_periods_do_not_overlap"

    update_refused(old.pk, superseded_at=None)
    update_refused(later.pk, start_period=JUN_30)
    update_refused(elsewhere.pk, connection_address=kept.connection_address)
    Membership.objects.filter(pk=kept.pk).update(superseded_at=timezone.now())  # superseding is fine
    Membership.objects.filter(pk=later.pk).update(start_period=JAN_1)  # overlaps no current row now
    assert set(Membership.objects.current().values_list("pk", flat=True)) == {later.pk, elsewhere.pk}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_current_rows_are_not_written_under_repeatable_read(point):
    """The overlap check needs a fresh snapshot after waiting for a writer of the connection."""
    from django.db import NotSupportedError

    def repeatable_read_then(write) -> None:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            write()

    with pytest.raises(NotSupportedError):
        repeatable_read_then(lambda: membership(point).save())
    repeatable_read_then(lambda: membership(point, superseded_at=timezone.now()).save())  # history is fine
    assert Membership.objects.current().count() == 0 and Membership.objects.count() == 1


# ------------------------------------------------------------------ enums, constraints, vocabulary
def refused_by_the_database(update, constraint_name: str) -> None:
    """The database refuses the write and names the constraint (PostgreSQL and SQLite alike)."""
    with pytest.raises(IntegrityError) as raised, transaction.atomic():
        update()
    assert constraint_name in str(raised.value)


@pytest.mark.parametrize(
    ("field", "value", "constraint_name"),
    [
        ("role", "CRO", "participant_role_is_dso_or_agr"),
        ("status", "asleep", "participant_status_is_known"),
    ],
)
def test_participant_values_outside_the_enums_are_refused(dso1, field, value, constraint_name):
    refused_by_the_database(
        lambda: Participant.objects.filter(pk=dso1.pk).update(**{field: value}), constraint_name
    )


def test_the_previous_key_differs_from_the_current_one(dso1):
    refused_by_the_database(
        lambda: Participant.objects.filter(pk=dso1.pk).update(public_key_previous=dso1.public_key),
        "participant_second_key_differs_from_first",
    )


def test_message_and_csv_import_statuses_outside_the_enums_are_refused(dso1):
    message = Message.objects.create(
        direction="in", message_type="TestMessage", sender_domain=dso1.domain, sender_role="DSO",
        recipient_domain="cro.example.com", recipient_role="CRO", message_id="m-1",
        signed_xml="<x/>", inner_xml="<x/>", body_digest="0" * 64,
    )  # fmt: skip
    refused_by_the_database(
        lambda: Message.objects.filter(pk=message.pk).update(direction="up"),
        "message_direction_is_in_or_out",
    )
    refused_by_the_database(
        lambda: Message.objects.filter(pk=message.pk).update(status="lost"), "message_status_is_known"
    )
    job = CsvImport.objects.create(dso=dso1, csv_text="x")
    refused_by_the_database(
        lambda: CsvImport.objects.filter(pk=job.pk).update(status="half-done"), "csv_import_status_is_known"
    )


def test_redispatch_values_are_the_codecs(point):
    assert RedispatchBy.values == [value.value for value in uftp_messages.RedispatchBy]
    version(point).save()
    refused_by_the_database(
        lambda: CongestionPointVersion.objects.update(day_ahead_redispatch_by="CRO"),
        "congestion_point_version_day_ahead_redispatch_by_is_known",
    )
    refused_by_the_database(
        lambda: CongestionPointVersion.objects.update(intraday_redispatch_by="CRO"),
        "congestion_point_version_intraday_redispatch_by_is_known",
    )
    CongestionPointVersion.objects.update(intraday_redispatch_by="")  # no intraday trading: allowed


def test_preview_accepted_is_no_preview_reasons(dso1):
    job = CsvImport.objects.create(dso=dso1, csv_text="x")
    assert job.preview_accepted
    job.preview_reasons = ["Connection conflict: [ean.100000000001]"]
    assert not job.preview_accepted
