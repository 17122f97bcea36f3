"""DSOPortfolioUpdate: replace each listed congestion point (attributes and memberships) (cro-rules §4).

Concurrency: the congestion point rows are locked (sorted by address, so two updates never
deadlock); updates of one CP are therefore serialised and the TimeStamp check (item 9) cannot be
raced. Two DSOs putting one connection into two CPs at once lock different CP rows: on PostgreSQL
the insert of the memberships waits for the connection's row lock (migration 0012), then finds the
winner's membership and fails with the exclusion violation `membership_connection_periods_do_not_overlap`
(or PostgreSQL picks it as a deadlock victim), and the apply is retried so that it is rejected with
the proper "Connection conflict" reason.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict

from django.utils import timezone

from registry.models import CongestionPointVersion, Membership, Message, Participant
from registry.services.market_time import time_stamp_aware
from registry.uftp import messages as uftp
from registry.uftp.vocabulary import ENTITY_ADDRESS_RE

from . import _bulk, _dso_rows
from ._atomic import UpdateOutcome, apply_atomically
from ._message import is_storable, source_label, time_stamp_reasons
from .periods import (
    ConnectionPeriod,
    Period,
    connection_period_key,
    period_changes,
    period_is_ordered,
    period_text,
    period_within,
    periods_overlap,
)


def dso_portfolio_update_apply(
    *,
    dso: Participant,
    message: uftp.DSOPortfolioUpdate,
    source_message: Message | None = None,
    dry_run: bool = False,
    source: str | None = None,
) -> UpdateOutcome:
    """Replace each listed congestion point (attributes and memberships) by what the DSO listed."""
    if dso.role != Participant.Role.DSO:
        raise ValueError(f"{dso} is not a DSO")
    time_stamp = time_stamp_aware(message.time_stamp)
    message = _connections_clipped_to_their_cp(message)
    static_reasons = _dso_update_static_reasons(message)
    static_reasons = [*static_reasons, *time_stamp_reasons(time_stamp)]
    return apply_atomically(
        lambda: _dso_update_apply_locked(
            dso=dso,
            message=message,
            time_stamp=time_stamp,
            reasons=list(static_reasons),
            source_message=source_message,
            source=source_label(source, source_message),
        ),
        dry_run=dry_run,
    )


def _connections_clipped_to_their_cp(message: uftp.DSOPortfolioUpdate) -> uftp.DSOPortfolioUpdate:
    """A CP's connections expire with it (cro-rules §4): a connection listed open-ended or ending
    after its CP's EndPeriod ends on that EndPeriod instead of being rejected.

    A connection starting after the CP ends is left as listed (rejected as out of bounds).
    """
    clipped_cps = []
    for cp in message.congestion_points:
        cp_end = cp.end_period
        if cp_end is None or not period_is_ordered(cp.start_period, cp_end):
            clipped_cps.append(cp)
            continue
        connections = tuple(
            dataclasses.replace(connection, end_period=cp_end)
            if connection.start_period <= cp_end
            and (connection.end_period is None or connection.end_period > cp_end)
            else connection
            for connection in cp.connections
        )
        clipped_cps.append(dataclasses.replace(cp, connections=connections))
    return dataclasses.replace(message, congestion_points=tuple(clipped_cps))


def _dso_update_static_reasons(message: uftp.DSOPortfolioUpdate) -> list[str]:
    """§4 checks that need no database: addresses, Periods (item 8) and duplicate listings."""
    reasons: list[str] = []
    seen_cps: set[str] = set()
    # connection -> [(cp address, period)] over the whole message, for cross-CP duplicates.
    listings: dict[str, list[tuple[str, Period]]] = defaultdict(list)
    for cp in message.congestion_points:
        cp_label = f"congestion point [{cp.entity_address}]"
        if not ENTITY_ADDRESS_RE.fullmatch(cp.entity_address):
            reasons.append(f"Invalid entity address: {cp_label}")
        if cp.entity_address in seen_cps:
            reasons.append(f"Duplicate congestion point: [{cp.entity_address}] is listed twice")
        seen_cps.add(cp.entity_address)
        cp_period_valid = period_is_ordered(cp.start_period, cp.end_period)
        if not cp_period_valid:
            reasons.append(
                f"Period out of bounds: {cp_label} ends ({cp.end_period}) before it starts ({cp.start_period})"
            )
        in_this_cp: set[str] = set()
        for connection in cp.connections:
            label = f"connection [{connection.entity_address}] in {cp_label}"
            if not ENTITY_ADDRESS_RE.fullmatch(connection.entity_address):
                reasons.append(f"Invalid entity address: {label}")
            if connection.entity_address in in_this_cp:
                reasons.append(f"Duplicate connection: {label} is listed twice")
                continue
            in_this_cp.add(connection.entity_address)
            if not period_is_ordered(connection.start_period, connection.end_period):
                reasons.append(
                    f"Period out of bounds: {label} ends ({connection.end_period}) "
                    f"before it starts ({connection.start_period})"
                )
                continue
            if cp_period_valid and not period_within(
                (connection.start_period, connection.end_period), (cp.start_period, cp.end_period)
            ):
                reasons.append(
                    f"Period out of bounds: {label} {period_text(connection.start_period, connection.end_period)} "
                    f"is not inside the congestion point's {period_text(cp.start_period, cp.end_period)}"
                )
            listings[connection.entity_address].append(
                (cp.entity_address, (connection.start_period, connection.end_period))
            )
    for address, cp_periods in listings.items():
        clashing: set[str] = set()
        for i, (cp_a, period_a) in enumerate(cp_periods):
            for cp_b, period_b in cp_periods[i + 1 :]:
                if cp_a != cp_b and periods_overlap(period_a, period_b):
                    clashing.update((cp_a, cp_b))
        if clashing:
            reasons.append(
                f"Duplicate connection: [{address}] is listed in congestion points "
                f"{', '.join(f'[{cp}]' for cp in sorted(clashing))} for overlapping periods"
            )
    return reasons


def _dso_update_apply_locked(
    *,
    dso: Participant,
    message: uftp.DSOPortfolioUpdate,
    time_stamp: dt.datetime,
    reasons: list[str],
    source_message: Message | None,
    source: str,
) -> UpdateOutcome:
    """Read (and lock) the listed CPs, check the rest of §4, then write; run in apply_atomically."""
    listed = {cp.entity_address: cp for cp in message.congestion_points if is_storable(cp.entity_address)}
    cps = _dso_rows.congestion_points_lock(dso_id=dso.pk, addresses=sorted(listed), now=timezone.now())

    owned: dict[str, _dso_rows.LockedCongestionPoint] = {}
    for address in sorted(listed):
        cp = cps[address]
        if cp.dso_id != dso.pk:
            reasons.append(f"Unauthorized: congestion point [{address}] is owned by another DSO")
        elif cp.last_time_stamp is not None and time_stamp < cp.last_time_stamp:
            reasons.append(
                f"Subordinate sequence number: congestion point [{address}] was updated by a newer "
                f"message (TimeStamp {cp.last_time_stamp.isoformat()})"
            )
            owned[address] = cp
        else:
            owned[address] = cp

    # A CP this update created has no memberships yet: only the others' are read.
    replaced_ids = sorted(cp.pk for cp in owned.values() if not cp.created)
    listed_periods = _listed_periods(listed)
    memberships = _dso_rows.memberships_current(
        connection_addresses=sorted(listed_periods), congestion_point_ids=replaced_ids
    )
    reasons.extend(
        _dso_connection_conflicts(
            listed_periods=listed_periods,
            replaced_cp_ids={cp.pk for cp in owned.values()},
            memberships=memberships,
        )
    )
    if reasons:
        return UpdateOutcome(accepted=False, reasons=tuple(reasons))

    now = timezone.now()  # after the locks: transaction time follows the order of application
    source_message_id = source_message.pk if source_message is not None else None
    changes: dict[str, list[str]] = defaultdict(list)  # per CP, listed in CP order
    versions, superseded_versions = _congestion_point_versions_planned(
        listed=listed,
        cps=owned,
        current=_dso_rows.versions_current(congestion_point_ids=replaced_ids),
        changes=changes,
    )
    new_memberships, superseded_memberships = _memberships_planned(
        listed=listed, cps=owned, memberships=memberships, changes=changes
    )
    written = _bulk.rows_supersede(
        CongestionPointVersion, ids=superseded_versions, now=now, source_message=source_message
    )
    written.update(
        _bulk.rows_supersede(Membership, ids=superseded_memberships, now=now, source_message=source_message)
    )
    written.update(
        _dso_rows.dso_update_write(
            versions=versions,
            memberships=new_memberships,
            stamped_ids=[cp.pk for cp in owned.values()],
            time_stamp=time_stamp,
            now=now,
            source_message_id=source_message_id,
            source=source,
        )
    )
    _bulk.statistics_refresh_on_commit(written)
    return UpdateOutcome(
        accepted=True, changes=tuple(line for address in sorted(owned) for line in changes[address])
    )


def _listed_periods(listed: dict[str, uftp.CongestionPointUpdate]) -> dict[str, list[tuple[str, Period]]]:
    """connection -> [(listing CP, period)], for the periods that are ordered."""
    listed_periods: dict[str, list[tuple[str, Period]]] = defaultdict(list)
    for cp_address, cp_update in listed.items():
        for connection in cp_update.connections:
            if period_is_ordered(connection.start_period, connection.end_period):
                listed_periods[connection.entity_address].append(
                    (cp_address, (connection.start_period, connection.end_period))
                )
    return listed_periods


def _dso_connection_conflicts(
    *,
    listed_periods: dict[str, list[tuple[str, Period]]],
    replaced_cp_ids: set[int],
    memberships: list[_dso_rows.CurrentMembership],
) -> list[str]:
    """One reason per listed connection that another CP holds for an overlapping period.

    The memberships of the CPs this update replaces (`replaced_cp_ids`) cannot conflict.
    """
    conflicting: dict[str, set[str]] = defaultdict(set)
    for row in memberships:
        if row.congestion_point_id in replaced_cp_ids:
            continue
        if any(
            listing_cp != row.congestion_point_address
            and periods_overlap((row.start_period, row.end_period), period)
            for listing_cp, period in listed_periods.get(row.connection_address, ())
        ):
            conflicting[row.connection_address].add(row.congestion_point_address)
    return [
        f"Connection conflict: [{address}] at {', '.join(f'[{cp}]' for cp in sorted(conflicting[address]))}"
        for address in sorted(conflicting)
    ]


def _congestion_point_versions_planned(
    *,
    listed: dict[str, uftp.CongestionPointUpdate],
    cps: dict[str, _dso_rows.LockedCongestionPoint],
    current: dict[int, _dso_rows.CurrentVersion],
    changes: dict[str, list[str]],
) -> tuple[list[tuple], list[int]]:
    """The new version of each CP whose attributes changed (rows for `_dso_rows.dso_update_write`)
    and the ids of the versions they supersede."""
    to_supersede: list[int] = []
    to_create: list[tuple] = []
    for address in sorted(cps):
        cp, update = cps[address], listed[address]
        attributes = {
            "start_period": update.start_period,
            "end_period": update.end_period,
            "mutex_offers_supported": update.mutex_offers_supported,
            "day_ahead_redispatch_by": str(update.day_ahead_redispatch_by),
            "intraday_redispatch_by": str(update.intraday_redispatch_by or ""),
        }
        old = current.get(cp.pk)
        if old is not None and old.attributes == attributes:
            continue
        if old is None:
            changes[address].append(
                f"congestion point [{address}]: registered {_attributes_text(attributes)}"
            )
        else:
            to_supersede.append(old.pk)
            changes[address].append(
                f"congestion point [{address}]: {_attributes_text(attributes)} (was {_attributes_text(old.attributes)})"
            )
        to_create.append((cp.pk, *(attributes[name] for name in _dso_rows.VERSION_ATTRIBUTES)))
    return to_create, to_supersede


def _memberships_planned(
    *,
    listed: dict[str, uftp.CongestionPointUpdate],
    cps: dict[str, _dso_rows.LockedCongestionPoint],
    memberships: list[_dso_rows.CurrentMembership],
    changes: dict[str, list[str]],
) -> tuple[list[tuple], list[int]]:
    """The memberships to insert (rows for `_dso_rows.dso_update_write`) and the ids of those no
    longer listed; unchanged rows stay."""
    current: dict[int, dict[ConnectionPeriod, int]] = defaultdict(dict)
    for row in memberships:
        current[row.congestion_point_id][(row.connection_address, row.start_period, row.end_period)] = row.pk

    to_supersede: list[int] = []
    to_create: list[tuple] = []
    for cp_address in sorted(cps):
        cp = cps[cp_address]
        old = current.get(cp.pk, {})
        new = {(c.entity_address, c.start_period, c.end_period) for c in listed[cp_address].connections}
        removed = sorted(set(old) - new, key=connection_period_key)
        added = sorted(new - set(old), key=connection_period_key)
        to_supersede.extend(old[row] for row in removed)
        to_create.extend((cp.pk, address, start, end) for address, start, end in added)
        changes[cp_address].extend(
            period_changes(removed=removed, added=added, where=f"in congestion point [{cp_address}]")
        )
    return to_create, to_supersede


def _attributes_text(attributes: dict) -> str:
    return (
        f"{period_text(attributes['start_period'], attributes['end_period'])}, "
        f"MutexOffersSupported={str(attributes['mutex_offers_supported']).lower()}, "
        f"DayAheadRedispatchBy={attributes['day_ahead_redispatch_by']}, "
        f"IntradayRedispatchBy={attributes['intraday_redispatch_by'] or '-'}"
    )


__all__ = ["dso_portfolio_update_apply"]
