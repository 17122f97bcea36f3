"""The retry policy for updates that lose a race to a concurrent one (exercised for real in
test_concurrency.py on PostgreSQL; here each kind of failure is produced on purpose)."""

import pytest
from django.db import IntegrityError, OperationalError

from registry.services.portfolio import UpdateOutcome
from registry.services.portfolio._atomic import RACE_ATTEMPTS, apply_atomically


class FakeDatabaseError(Exception):
    def __init__(self, sqlstate: str):
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def operational_error(sqlstate: str) -> OperationalError:
    error = OperationalError(f"error {sqlstate}")
    error.__cause__ = FakeDatabaseError(sqlstate)
    return error


def failing_then(outcome: UpdateOutcome, *errors: Exception):
    calls = []

    def apply() -> UpdateOutcome:
        calls.append(len(calls))
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return outcome

    return apply, calls


@pytest.mark.django_db
@pytest.mark.parametrize(
    "errors",
    [
        pytest.param((IntegrityError("exclusion constraint"),), id="constraint"),
        pytest.param((operational_error("40P01"),), id="deadlock"),
        pytest.param(
            (operational_error("40P01"), IntegrityError("exclusion constraint")),
            id="deadlock-then-constraint",
        ),
        pytest.param((operational_error("40001"),), id="serialization-failure"),
    ],
)
def test_a_lost_race_is_retried(errors):
    rejected = UpdateOutcome(
        accepted=False, reasons=("Connection conflict: [ean.100000000001] at [ean.000000000001]",)
    )
    apply, calls = failing_then(rejected, *errors)

    assert apply_atomically(apply, dry_run=False) == rejected
    assert len(calls) == len(errors) + 1


@pytest.mark.django_db
def test_other_database_errors_are_not_retried():
    apply, calls = failing_then(UpdateOutcome(accepted=True), operational_error("53300"))

    with pytest.raises(OperationalError):
        apply_atomically(apply, dry_run=False)
    assert len(calls) == 1


@pytest.mark.django_db
def test_retries_are_bounded():
    apply, calls = failing_then(UpdateOutcome(accepted=True), *[IntegrityError("again")] * RACE_ATTEMPTS)

    with pytest.raises(IntegrityError):
        apply_atomically(apply, dry_run=False)
    assert len(calls) == RACE_ATTEMPTS
