"""AGRPortfolioUpdate: replace this AGR's representation of each listed connection (cro-rules §4).

Concurrency: one Connection row per listed connection is locked (sorted), which serialises every
AGR's changes to that connection; on PostgreSQL the database's overlap check of the current
representations (migration 0012, under the same locks) is the safety net.

An update is read (under the locks), checked, planned, then written; each step is one function.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.utils import timezone

from registry.models import Message, Participant, Representation
from registry.services.market_time import time_stamp_aware
from registry.uftp import messages as uftp
from registry.uftp.vocabulary import AGR_CONFLICT_POLICIES as CONFLICT_POLICIES
from registry.uftp.vocabulary import ENTITY_ADDRESS_RE

from . import _agr_rows, _bulk
from ._atomic import UpdateOutcome, apply_atomically
from ._message import is_storable, source_label, time_stamp_reasons
from .periods import Period, period_changes, period_is_ordered, period_key, period_text, periods_overlap

# (agr id, connection address, start, end) of a representation to insert.
RepresentationRow = tuple[int, str, dt.date, dt.date | None]


def agr_portfolio_update_apply(
    *,
    agr: Participant,
    message: uftp.AGRPortfolioUpdate,
    source_message: Message | None = None,
    conflict_policy: str | None = None,
    dry_run: bool = False,
    source: str | None = None,
) -> UpdateOutcome:
    """Replace this AGR's representation of each listed connection by what it listed.

    conflict_policy (None: settings.CRO_AGR_CONFLICT_POLICY): "reject" refuses a connection that
    another AGR represents for an overlapping period; "supersede" ends the other AGR's
    representation on the day before the new StartPeriod (cro-rules §4).
    """
    if agr.role != Participant.Role.AGR:
        raise ValueError(f"{agr} is not an AGR")
    policy = conflict_policy or settings.CRO_AGR_CONFLICT_POLICY
    if policy not in CONFLICT_POLICIES:
        raise ValueError(f"unknown AGR conflict policy {policy!r}, expected one of {CONFLICT_POLICIES}")
    time_stamp = time_stamp_aware(message.time_stamp)
    static_reasons, listed = _agr_update_static_check(message)
    static_reasons = [*static_reasons, *time_stamp_reasons(time_stamp)]
    return apply_atomically(
        lambda: _agr_update_apply_locked(
            agr=agr,
            listed=listed,
            time_stamp=time_stamp,
            reasons=list(static_reasons),
            policy=policy,
            source_message=source_message,
            source=source_label(source, source_message),
        ),
        dry_run=dry_run,
    )


def _agr_update_static_check(message: uftp.AGRPortfolioUpdate) -> tuple[list[str], dict[str, list[Period]]]:
    """Addresses, Periods (item 8) and overlapping listings of one connection; returns the listing."""
    reasons: list[str] = []
    listed: dict[str, list[Period]] = defaultdict(list)
    duplicated: set[str] = set()
    for connection in message.connections:
        address = connection.entity_address
        period = (connection.start_period, connection.end_period)
        if not ENTITY_ADDRESS_RE.fullmatch(address):
            reasons.append(f"Invalid entity address: connection [{address}]")
        if not period_is_ordered(*period):
            reasons.append(
                f"Period out of bounds: connection [{address}] ends ({connection.end_period}) "
                f"before it starts ({connection.start_period})"
            )
            continue
        if any(periods_overlap(period, other) for other in listed[address]):
            duplicated.add(address)
        listed[address].append(period)
    reasons.extend(
        f"Duplicate connection: [{address}] is listed twice for overlapping periods"
        for address in sorted(duplicated)
    )
    return reasons, {address: periods for address, periods in listed.items() if is_storable(address)}


def _agr_update_apply_locked(
    *,
    agr: Participant,
    listed: dict[str, list[Period]],
    time_stamp: dt.datetime,
    reasons: list[str],
    policy: str,
    source_message: Message | None,
    source: str,
) -> UpdateOutcome:
    """Read (and lock) the listed connections, check the rest of §4, plan, write; run in apply_atomically."""
    current = _agr_current_read(agr=agr, listed=listed, time_stamp=time_stamp)
    reasons = [*reasons, *_agr_rejection_reasons(current=current, policy=policy)]
    if reasons:
        return UpdateOutcome(accepted=False, reasons=tuple(reasons))
    plan = _agr_plan(agr=agr, listed=listed, current=current)
    written = _agr_write(
        agr=agr,
        plan=plan,
        connection_ids=[current.connection_ids[address] for address in sorted(listed)],
        time_stamp=time_stamp,
        source_message=source_message,
        source=source,
    )
    _bulk.statistics_refresh_on_commit(written)
    return UpdateOutcome(accepted=True, changes=tuple(plan.changes))


# ------------------------------------------------------------------------------ read


@dataclass(frozen=True, kw_only=True)
class _AgrCurrent:
    """What the registry holds now about the listed connections, read under their locks."""

    connection_ids: dict[str, int]  # address -> Connection row id
    newer: list[str]  # addresses this AGR updated with a newer TimeStamp (item 9)
    own: dict[str, dict[Period, int]]  # this AGR's current representations: address -> period -> row id
    # Other AGRs' current representations that overlap a listed period.
    others: list[_agr_rows.CurrentRepresentation]


def _agr_current_read(
    *, agr: Participant, listed: dict[str, list[Period]], time_stamp: dt.datetime
) -> _AgrCurrent:
    connection_ids = _agr_rows.connections_lock(addresses=sorted(listed))
    newer, representations = _agr_rows.agr_state_read(
        agr_id=agr.pk, connections=connection_ids, time_stamp=time_stamp
    )
    own: dict[str, dict[Period, int]] = defaultdict(dict)
    others: list[_agr_rows.CurrentRepresentation] = []
    for row in representations:
        if row.agr_id == agr.pk:
            own[row.connection_address][(row.start_period, row.end_period)] = row.pk
        elif any(
            periods_overlap((row.start_period, row.end_period), period)
            for period in listed[row.connection_address]
        ):
            others.append(row)
    return _AgrCurrent(connection_ids=connection_ids, newer=sorted(newer), own=own, others=others)


# ------------------------------------------------------------------------------ check


def _agr_rejection_reasons(*, current: _AgrCurrent, policy: str) -> list[str]:
    """Item 9 (a newer update of this AGR) and, under the reject policy, other AGRs' representations."""
    reasons = [
        f"Subordinate sequence number: connection [{address}] was updated by a newer message"
        for address in sorted(current.newer)
    ]
    if policy == "reject":
        reasons.extend(
            f"Connection conflict: [{address}] represented by another AGR"
            for address in sorted({row.connection_address for row in current.others})
        )
    return reasons


# ------------------------------------------------------------------------------ plan


@dataclass(kw_only=True)
class _AgrPlan:
    """The rows to supersede and insert, and the change lines for the preview."""

    to_supersede: list[int] = field(default_factory=list)  # Representation row ids
    to_create: list[RepresentationRow] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)

    def then(self, other: _AgrPlan) -> _AgrPlan:
        return _AgrPlan(
            to_supersede=self.to_supersede + other.to_supersede,
            to_create=self.to_create + other.to_create,
            changes=self.changes + other.changes,
        )


def _agr_plan(*, agr: Participant, listed: dict[str, list[Period]], current: _AgrCurrent) -> _AgrPlan:
    """Cut back the other AGRs' overlapping representations, then replace this AGR's own."""
    return _others_cut_back(others=current.others, listed=listed).then(
        _own_replace(agr=agr, listed=listed, own=current.own)
    )


def _others_cut_back(
    *, others: list[_agr_rows.CurrentRepresentation], listed: dict[str, list[Period]]
) -> _AgrPlan:
    """Supersede policy: the newer claim ends the other AGR's representation the day before it starts."""
    plan = _AgrPlan()
    for row in sorted(others, key=lambda r: (r.connection_address, r.start_period)):
        address, start, end = row.connection_address, row.start_period, row.end_period
        claim_start = min(p[0] for p in listed[address] if periods_overlap((start, end), p))
        # A claim from the first representable day leaves nothing before it.
        new_end = claim_start - dt.timedelta(days=1) if claim_start > dt.date.min else None
        if new_end is not None and end is not None and end < new_end:
            new_end = end
        plan.to_supersede.append(row.pk)
        if new_end is not None and new_end >= start:
            plan.to_create.append((row.agr_id, address, start, new_end))
            plan.changes.append(
                f"connection [{address}]: representation by {row.agr_domain} ends on {new_end} "
                f"(was {period_text(start, end)})"
            )
        else:
            plan.changes.append(
                f"connection [{address}]: representation by {row.agr_domain} withdrawn "
                f"(was {period_text(start, end)})"
            )
    return plan


def _own_replace(
    *, agr: Participant, listed: dict[str, list[Period]], own: dict[str, dict[Period, int]]
) -> _AgrPlan:
    """Supersede this AGR's periods no longer listed and add the new ones; unchanged rows stay."""
    plan = _AgrPlan()
    for address in sorted(listed):
        old = own.get(address, {})
        new = set(listed[address])
        removed = sorted(set(old) - new, key=period_key)
        added = sorted(new - set(old), key=period_key)
        plan.to_supersede.extend(old[period] for period in removed)
        plan.to_create.extend((agr.pk, address, start, end) for start, end in added)
        plan.changes.extend(
            period_changes(
                removed=[(address, *p) for p in removed],
                added=[(address, *p) for p in added],
                where=f"represented by {agr.domain}",
            )
        )
    return plan


# ------------------------------------------------------------------------------ write


def _agr_write(
    *,
    agr: Participant,
    plan: _AgrPlan,
    connection_ids: list[int],
    time_stamp: dt.datetime,
    source_message: Message | None,
    source: str,
) -> _bulk.RowsWritten:
    """Write the plan and record `time_stamp` as this AGR's newest update of each connection (item 9).

    Returns the rows written.
    """
    now = timezone.now()  # after the locks: transaction time follows the order of application
    source_message_id = source_message.pk if source_message is not None else None
    written = _bulk.rows_supersede(
        Representation, ids=plan.to_supersede, now=now, source_message=source_message
    )
    written.update(
        _agr_rows.agr_update_write(
            representations=plan.to_create,
            agr_id=agr.pk,
            connection_ids=connection_ids,
            time_stamp=time_stamp,
            now=now,
            source_message_id=source_message_id,
            source=source,
        )
    )
    return written


__all__ = ["CONFLICT_POLICIES", "agr_portfolio_update_apply"]
