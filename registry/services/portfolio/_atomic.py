"""An update is applied whole or not at all, and retried when it lost a race to a concurrent one."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

from django.db import IntegrityError, OperationalError, transaction

from registry.uftp import messages as uftp

logger = logging.getLogger(__name__)

# Attempts of one update when it loses a race to a concurrent one (see apply_atomically).
RACE_ATTEMPTS = 3


@dataclass(frozen=True, kw_only=True)
class UpdateOutcome:
    """What applying an update did (or, when rejected or a dry run, would have done)."""

    accepted: bool
    reasons: tuple[str, ...] = ()
    # Short human-readable lines, e.g. for the admin's CSV preview.
    changes: tuple[str, ...] = ()
    dry_run: bool = False

    @property
    def rejection_reason(self) -> str | None:
        return "; ".join(self.reasons) if self.reasons else None

    @property
    def result(self) -> uftp.Result:
        return uftp.Result.ACCEPTED if self.accepted else uftp.Result.REJECTED


class _RollBack(Exception):
    """Leaves the atomic block without committing: the update was rejected or is a dry run."""

    def __init__(self, outcome: UpdateOutcome):
        super().__init__(outcome.rejection_reason)
        self.outcome = outcome


def apply_atomically(apply: Callable[[], UpdateOutcome], *, dry_run: bool) -> UpdateOutcome:
    """Run `apply` in one transaction; roll back when rejected or dry; retry when a race was lost.

    A constraint violation or deadlock here means a concurrent transaction wrote a conflicting row
    after our checks read the database (on PostgreSQL the overlap check of migration 0012 raises an
    exclusion violation; two writers of one connection can also deadlock on each other). The retry reads the winner's row and turns it into
    the proper rejection reason. Each lost race means another transaction made progress, so a
    small bound suffices: after a deadlock the first retry may still beat the winner's commit.

    What `apply` registers with `transaction.on_commit` runs only when the update is committed.
    """
    for attempt in range(1, RACE_ATTEMPTS + 1):
        try:
            with transaction.atomic():
                outcome = apply()
                if dry_run or not outcome.accepted:
                    raise _RollBack(outcome)
                return outcome
        except _RollBack as rollback:
            return replace(rollback.outcome, dry_run=True) if dry_run else rollback.outcome
        except (IntegrityError, OperationalError) as exc:
            if attempt == RACE_ATTEMPTS or not _is_lost_race(exc):
                raise
            logger.info(
                "portfolio update lost a race with a concurrent update (attempt %d); retrying", attempt
            )
    raise AssertionError("unreachable")


def _is_lost_race(exc: Exception) -> bool:
    if isinstance(exc, IntegrityError):
        return True
    # PostgreSQL deadlock_detected / serialization_failure; anything else is a real error.
    return getattr(exc.__cause__, "sqlstate", None) in {"40P01", "40001"}
