"""Period arithmetic (inclusive calendar-date ranges, None: open-ended) and the texts that name them."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable

Period = tuple[dt.date, dt.date | None]
# (connection address, start, end): one listed or stored period of a connection.
ConnectionPeriod = tuple[str, dt.date, dt.date | None]


def period_is_ordered(start: dt.date, end: dt.date | None) -> bool:
    return end is None or end >= start


def period_within(inner: Period, outer: Period) -> bool:
    """Inclusive: an open-ended inner period is only inside an open-ended outer one."""
    (inner_start, inner_end), (outer_start, outer_end) = inner, outer
    if inner_start < outer_start:
        return False
    if outer_end is None:
        return True
    return inner_end is not None and inner_end <= outer_end


def periods_overlap(a: Period, b: Period) -> bool:
    (a_start, a_end), (b_start, b_end) = a, b
    return (a_end is None or b_start <= a_end) and (b_end is None or a_start <= b_end)


def period_text(start: dt.date, end: dt.date | None) -> str:
    return f"{start.isoformat()}..{end.isoformat() if end else '(open)'}"


def period_key(period: Period) -> tuple:
    """Sort key: by start, then end, open-ended last."""
    return (period[0], period[1] or dt.date.max)


def connection_period_key(row: ConnectionPeriod) -> tuple:
    return (row[0], row[1], row[2] or dt.date.max)


def period_changes(
    *, removed: Iterable[ConnectionPeriod], added: Iterable[ConnectionPeriod], where: str
) -> list[str]:
    """'added' / 'removed' / 'now ... (was ...)' lines per connection."""
    old_by_address: dict[str, list[str]] = defaultdict(list)
    new_by_address: dict[str, list[str]] = defaultdict(list)
    for address, start, end in removed:
        old_by_address[address].append(period_text(start, end))
    for address, start, end in added:
        new_by_address[address].append(period_text(start, end))
    lines = []
    for address in sorted(old_by_address.keys() | new_by_address.keys()):
        old, new = old_by_address.get(address), new_by_address.get(address)
        if old and new:
            lines.append(f"connection [{address}] {where}: now {', '.join(new)} (was {', '.join(old)})")
        elif new:
            lines.append(f"connection [{address}] {where}: added {', '.join(new)}")
        else:
            lines.append(f"connection [{address}] {where}: removed (was {', '.join(old or [])})")
    return lines
