"""The preview of a CSV import: new/changed/removed counts and a diff table with CSV line numbers,
worked out from what the import stores (its change texts, reasons and CSV)."""

from __future__ import annotations

import csv
import io
import logging
import re
from dataclasses import dataclass

from registry.services.csv_format import DSO_COLUMN, _delimiter, csv_lines

logger = logging.getLogger(__name__)

# What the preview page shows: the changes as a diff table (new / changed / removed, like
# django-import-export's) with counts, and every rejection with the CSV lines it is about. Both
# are read from the stored import (the texts of the changes, the reasons and the CSV itself), so
# imports recorded before this existed are shown the same way.

_CP_CHANGE_RE = re.compile(
    r"congestion point \[(?P<cp>[^\]]+)\]: (?:registered (?P<new>.*)|(?P<now>.*) \(was (?P<was>.*)\))"
)
_CONNECTION_CHANGE_RE = re.compile(
    r"connection \[(?P<connection>[^\]]+)\] in congestion point \[(?P<cp>[^\]]+)\]: "
    r"(?:added (?P<new>.*)|removed \(was (?P<removed>.*)\)|now (?P<now>.*) \(was (?P<was>.*)\))"
)
_BRACKETED_RE = re.compile(r"\[([^\]]+)\]")
MAX_LINES_SHOWN = 8


@dataclass(frozen=True, kw_only=True)
class CsvLines:
    """Where each entity appears in a CSV: 1-based line numbers, as the parser counts them."""

    congestion_points: dict[str, list[int]]
    connections: dict[str, list[int]]
    memberships: dict[tuple[str, str], list[int]]  # (congestion point, connection)
    dso_lines: dict[str, list[int]]  # the optional dso column's values


def csv_lines_index(*, text: str) -> CsvLines:
    """The line numbers of every CP, connection and (CP, connection) in a CSV that parses."""
    cps: dict[str, list[int]] = {}
    connections: dict[str, list[int]] = {}
    memberships: dict[tuple[str, str], list[int]] = {}
    dsos: dict[str, list[int]] = {}
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    header: list[str] | None = None
    try:
        for values in reader:
            if not any(value.strip() for value in values):
                continue
            if header is None:
                header = [value.strip().lower() for value in values]
                continue
            row = dict(zip(header, (value.strip() for value in values), strict=False))
            line = reader.line_num
            cp, connection = row.get("congestion_point", ""), row.get("connection", "")
            if cp:
                cps.setdefault(cp, []).append(line)
            if connection:
                connections.setdefault(connection, []).append(line)
                memberships.setdefault((cp, connection), []).append(line)
            if DSO_COLUMN in row:
                dsos.setdefault(row[DSO_COLUMN], []).append(line)
    except csv.Error:
        pass  # lines up to the unreadable one are indexed; the parser reports the rest
    return CsvLines(congestion_points=cps, connections=connections, memberships=memberships, dso_lines=dsos)


def _lines_text(lines: list[int]) -> str:
    shown = ", ".join(str(line) for line in lines[:MAX_LINES_SHOWN])
    return shown + (f" and {len(lines) - MAX_LINES_SHOWN} more" if len(lines) > MAX_LINES_SHOWN else "")


def reason_lines(*, reason: str, lines: CsvLines) -> list[int]:
    """The CSV lines a rejection is about, found from the addresses it names in brackets.

    "connection [A] in congestion point [X]" -> the rows of A in X; another reason naming a
    connection of the file first -> every row of it; a congestion point -> its rows.
    """
    named = _BRACKETED_RE.findall(reason)
    if not named:
        return []
    first = named[0]
    if first in lines.connections:
        for cp in named[1:]:
            if (cp, first) in lines.memberships:
                return lines.memberships[(cp, first)]
        return lines.connections[first]
    return lines.congestion_points.get(first, [])


@dataclass(frozen=True, kw_only=True)
class DiffRow:
    kind: str  # "new", "changed", "removed" or "other" (a text this reader does not know)
    entity: str  # "congestion point" or "connection"
    address: str
    congestion_point: str
    now: str
    was: str
    lines: list[int]
    text: str


@dataclass(frozen=True, kw_only=True)
class Rejection:
    lines: list[int]
    reason: str


@dataclass(frozen=True, kw_only=True)
class DiffCounts:
    new: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0


@dataclass(frozen=True, kw_only=True)
class ImportReview:
    """The preview (or the outcome) of an import as the page shows it."""

    rows: list[DiffRow]
    rejections: list[Rejection]
    congestion_points: DiffCounts
    connections: DiffCounts


def diff_row_from_change(*, change: str, lines: CsvLines) -> DiffRow:
    """One change text of the portfolio service as a row of the diff table."""
    match = _CONNECTION_CHANGE_RE.fullmatch(change)
    if match:
        connection, cp = match["connection"], match["cp"]
        if match["new"] is not None:
            kind, now, was = "new", match["new"], ""
        elif match["removed"] is not None:
            kind, now, was = "removed", "", match["removed"]
        else:
            kind, now, was = "changed", match["now"], match["was"]
        return DiffRow(
            kind=kind,
            entity="connection",
            address=connection,
            congestion_point=cp,
            now=now,
            was=was,
            lines=lines.memberships.get((cp, connection), []),
            text=change,
        )
    match = _CP_CHANGE_RE.fullmatch(change)
    if match:
        cp = match["cp"]
        new = match["new"] is not None
        return DiffRow(
            kind="new" if new else "changed",
            entity="congestion point",
            address=cp,
            congestion_point=cp,
            now=match["new"] if new else match["now"],
            was="" if new else match["was"],
            lines=lines.congestion_points.get(cp, [])[:1],
            text=change,
        )
    return DiffRow(
        kind="other", entity="", address="", congestion_point="", now=change, was="", lines=[], text=change
    )


def csv_import_review(*, csv_text: str, changes: list[str], reasons: list[str]) -> ImportReview:
    """The diff table, its counts and the rejections with their lines, from a stored import."""
    lines = csv_lines_index(text=csv_text)
    rows = [diff_row_from_change(change=change, lines=lines) for change in changes]

    def count(entity: str, kind: str) -> int:
        return sum(1 for row in rows if row.entity == entity and row.kind == kind)

    def counts(entity: str, listed: int) -> DiffCounts:
        new, changed = count(entity, "new"), count(entity, "changed")
        return DiffCounts(
            new=new,
            changed=changed,
            removed=count(entity, "removed"),
            unchanged=max(listed - new - changed, 0),
        )

    return ImportReview(
        rows=rows,
        rejections=[
            Rejection(lines=reason_lines(reason=reason, lines=lines), reason=reason) for reason in reasons
        ],
        congestion_points=counts("congestion point", len(lines.congestion_points)),
        connections=counts("connection", len(lines.memberships)),
    )


CSV_SAMPLE_ROWS = (
    (
        "ean.871685900000000011",
        "2025-01-01",
        "",
        "true",
        "DSO",
        "AGR",
        "ean.871685900000000101",
        "2025-01-01",
        "",
    ),
    (
        "ean.871685900000000011",
        "2025-01-01",
        "",
        "true",
        "DSO",
        "AGR",
        "ean.871685900000000102",
        "2025-03-01",
        "2025-12-31",
    ),
    ("ea1.2025-01.example.com:cp-north", "2025-01-01", "2026-12-31", "false", "AGR", "", "", "", ""),
)


def csv_sample() -> str:
    """A small file in the import's format: two connections in one CP, and a CP without any."""
    return "".join(csv_lines(CSV_SAMPLE_ROWS))
