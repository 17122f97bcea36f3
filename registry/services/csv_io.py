"""CSV import and export of a DSO's congestion points and connections (the admin's bulk path).

An import goes through the very rules and service of the UFTP path: the CSV becomes one
DSOPortfolioUpdate (TimeStamp = now, the market time zone) that
`portfolio.dso_portfolio_update_apply` checks and applies whole or not at all, recorded with
source "csv". First a dry run gives the preview (every change and every rejection); the apply
then runs as a Celery task whose progress the CsvImport row records.

Columns (one row per connection; a CP without connections is one row with the connection
columns empty):
    congestion_point, cp_start, cp_end, mutex_offers_supported, day_ahead_redispatch_by,
    intraday_redispatch_by, connection, connection_start, connection_end
Dates are YYYY-MM-DD (empty end: open-ended), booleans true/false, redispatch AGR/DSO.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from registry import dispatch
from registry.models import CsvImport, Participant
from registry.selectors import dso_portfolio, registry_state
from registry.services import portfolio
from registry.uftp import messages as uftp
from registry.uftp import versions
from registry.uftp.vocabulary import ENTITY_ADDRESS_RE

logger = logging.getLogger(__name__)

CSV_COLUMNS = registry_state.EXPORT_COLUMNS
# An "every DSO" export starts with the owner of each row; an import accepts the column (every
# row must then name the DSO imported for) so that a file can go back in after editing.
DSO_COLUMN = "dso"
OPTIONAL_COLUMNS = (DSO_COLUMN,)
CSV_SOURCE = "csv"
MAX_ROW_ERRORS = 1000
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TRUE = frozenset({"true", "1", "yes", "y"})
_FALSE = frozenset({"false", "0", "no", "n"})
_CP_ATTRIBUTES = (
    "cp_start",
    "cp_end",
    "mutex_offers_supported",
    "day_ahead_redispatch_by",
    "intraday_redispatch_by",
)


@dataclass(frozen=True, kw_only=True)
class RowError:
    line: int  # 1-based line of the file; 0 for the file as a whole
    message: str
    column: str = ""

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "file"
        return f"{where}{f', {self.column}' if self.column else ''}: {self.message}"


class CsvInvalid(Exception):
    """The CSV cannot be read as a portfolio: nothing is previewed or changed."""

    def __init__(self, row_errors: list[RowError]):
        super().__init__("; ".join(str(error) for error in row_errors[:5]))
        self.row_errors = row_errors


@dataclass(kw_only=True)
class _CongestionPointRows:
    first_line: int
    attributes: dict
    connections: list[uftp.ConnectionPeriod] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class ParsedPortfolio:
    congestion_points: tuple[uftp.CongestionPointUpdate, ...]
    row_count: int

    @property
    def connection_count(self) -> int:
        return sum(len(cp.connections) for cp in self.congestion_points)


# ------------------------------------------------------------------------------ parsing


# Control characters other than tab and line ends: no cell of a portfolio holds one, and a NUL
# cannot even be stored in PostgreSQL text. C0, DEL and C1.
_CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def csv_text_decode(*, data: bytes) -> str:
    """The text of an uploaded file: UTF-8, with or without a byte order mark, no control characters."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CsvInvalid(
            [RowError(line=0, message=f"the file is not UTF-8 text ({exc.reason} at byte {exc.start})")]
        ) from exc
    _control_characters_refuse(text)
    return text


def _control_characters_refuse(text: str) -> None:
    row_errors = []
    delimiter = _delimiter(text)
    # split("\n"), not splitlines(): that would take some control characters for line ends.
    lines = text.split("\n")
    header = next((line for line in lines if line.strip()), "")
    columns = [name.strip().lower() for name in _cells(header, delimiter=delimiter)]
    for line_number, line in enumerate(lines, start=1):
        found = _CONTROL_CHARACTER.search(line)
        if found:
            row_errors.append(
                RowError(
                    line=line_number,
                    column=_column_holding(line, columns=columns, delimiter=delimiter),
                    message=f"holds the control character U+{ord(found.group()):04X} "
                    f"at position {found.start() + 1}",
                )
            )
            if len(row_errors) >= MAX_ROW_ERRORS:
                break
    if row_errors:
        raise CsvInvalid(row_errors)


def _cells(line: str, *, delimiter: str) -> list[str]:
    try:
        return next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error:
        return []


def _column_holding(line: str, *, columns: list[str], delimiter: str) -> str:
    """The header name of the first cell holding a control character ("" when unknown)."""
    for index, cell in enumerate(_cells(line, delimiter=delimiter)):
        if _CONTROL_CHARACTER.search(cell):
            return columns[index] if index < len(columns) else ""
    return ""


def _delimiter(text: str) -> str:
    # Spreadsheets set to a European locale write semicolons.
    header = text.lstrip().split("\n", 1)[0]
    return ";" if header.count(";") > header.count(",") else ","


def _date(
    value: str, *, line: int, column: str, row_errors: list[RowError], required: bool
) -> dt.date | None:
    if not value:
        if required:
            row_errors.append(RowError(line=line, column=column, message="is required (YYYY-MM-DD)"))
        return None
    try:
        if not _ISO_DATE.fullmatch(value):
            raise ValueError(value)
        return dt.date.fromisoformat(value)
    except ValueError:
        row_errors.append(RowError(line=line, column=column, message=f"{value!r} is not a date (YYYY-MM-DD)"))
        return None


def _address(value: str, *, line: int, column: str, row_errors: list[RowError]) -> str | None:
    if not value:
        row_errors.append(RowError(line=line, column=column, message="is required"))
        return None
    if not ENTITY_ADDRESS_RE.fullmatch(value):
        row_errors.append(
            RowError(
                line=line,
                column=column,
                message=f"{value!r} is not an entity address (ean.<12-34 digits> or ea1.YYYY-MM.<naming>:<id>)",
            )
        )
        return None
    return value


def _row_attributes(row: dict[str, str], *, line: int, row_errors: list[RowError]) -> dict | None:
    errors_before = len(row_errors)
    start = _date(row["cp_start"], line=line, column="cp_start", row_errors=row_errors, required=True)
    end = _date(row["cp_end"], line=line, column="cp_end", row_errors=row_errors, required=False)
    mutex = row["mutex_offers_supported"].lower()
    if mutex not in _TRUE | _FALSE:
        row_errors.append(
            RowError(
                line=line,
                column="mutex_offers_supported",
                message=f"{row['mutex_offers_supported']!r} is not true or false",
            )
        )
    day_ahead = row["day_ahead_redispatch_by"].upper()
    if day_ahead not in uftp.RedispatchBy.__members__:
        row_errors.append(
            RowError(
                line=line,
                column="day_ahead_redispatch_by",
                message=f"{row['day_ahead_redispatch_by']!r} is not AGR or DSO",
            )
        )
    intraday = row["intraday_redispatch_by"].upper()
    if intraday and intraday not in uftp.RedispatchBy.__members__:
        row_errors.append(
            RowError(
                line=line,
                column="intraday_redispatch_by",
                message=f"{row['intraday_redispatch_by']!r} is not AGR, DSO or empty",
            )
        )
    if len(row_errors) > errors_before:
        return None
    return {
        "cp_start": start,
        "cp_end": end,
        "mutex_offers_supported": mutex in _TRUE,
        "day_ahead_redispatch_by": uftp.RedispatchBy(day_ahead),
        "intraday_redispatch_by": uftp.RedispatchBy(intraday) if intraday else None,
    }


def _row_connection(
    row: dict[str, str], *, line: int, row_errors: list[RowError]
) -> uftp.ConnectionPeriod | None:
    if not row["connection"]:
        for column in ("connection_start", "connection_end"):
            if row[column]:
                row_errors.append(
                    RowError(line=line, column=column, message="is given but connection is empty")
                )
        return None
    errors_before = len(row_errors)
    address = _address(row["connection"], line=line, column="connection", row_errors=row_errors)
    start = _date(
        row["connection_start"], line=line, column="connection_start", row_errors=row_errors, required=True
    )
    end = _date(
        row["connection_end"], line=line, column="connection_end", row_errors=row_errors, required=False
    )
    if len(row_errors) > errors_before:
        return None
    return uftp.ConnectionPeriod(entity_address=address, start_period=start, end_period=end)


def csv_portfolio_parse(*, text: str) -> ParsedPortfolio:
    """Read the CSV into congestion point updates; CsvInvalid with every row error (up to MAX_ROW_ERRORS).

    Only the form of the file is checked here; what the registry rules say about the content
    (Periods, duplicates, conflicts, ownership) is the service's job, as for a UFTP message.
    """
    _control_characters_refuse(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    row_errors: list[RowError] = []
    header: list[str] | None = None
    cps: dict[str, _CongestionPointRows] = {}
    row_count = 0
    try:
        for values in reader:
            line = reader.line_num
            if not any(value.strip() for value in values):
                continue
            if header is None:
                header = [value.strip().lower() for value in values]
                missing = [column for column in CSV_COLUMNS if column not in header]
                unknown = [
                    column
                    for column in header
                    if column not in CSV_COLUMNS and column not in OPTIONAL_COLUMNS
                ]
                duplicated = sorted({column for column in header if header.count(column) > 1})
                if missing or unknown or duplicated:
                    problems = []
                    if missing:
                        problems.append(f"missing column(s): {', '.join(missing)}")
                    if unknown:
                        problems.append(f"unknown column(s): {', '.join(unknown)}")
                    if duplicated:
                        problems.append(f"column(s) given twice: {', '.join(duplicated)}")
                    raise CsvInvalid(
                        [
                            RowError(
                                line=line,
                                message=f"{'; '.join(problems)} (expected: {', '.join(CSV_COLUMNS)})",
                            )
                        ]
                    )
                continue
            row_count += 1
            if len(values) != len(header):
                row_errors.append(
                    RowError(line=line, message=f"has {len(values)} fields, the header has {len(header)}")
                )
            else:
                _row_read(dict(zip(header, (v.strip() for v in values), strict=True)), line, cps, row_errors)
            if len(row_errors) >= MAX_ROW_ERRORS:
                row_errors.append(RowError(line=0, message=f"stopped after {MAX_ROW_ERRORS} errors"))
                break
    except csv.Error as exc:
        row_errors.append(RowError(line=reader.line_num, message=f"not readable as CSV: {exc}"))
    if header is None:
        raise CsvInvalid(
            [RowError(line=0, message=f"the file is empty; the header must be: {', '.join(CSV_COLUMNS)}")]
        )
    if row_count == 0 and not row_errors:
        row_errors.append(RowError(line=0, message="the file has a header but no rows"))
    if row_errors:
        raise CsvInvalid(row_errors)
    return ParsedPortfolio(
        congestion_points=tuple(
            uftp.CongestionPointUpdate(
                entity_address=address,
                start_period=rows.attributes["cp_start"],
                end_period=rows.attributes["cp_end"],
                mutex_offers_supported=rows.attributes["mutex_offers_supported"],
                day_ahead_redispatch_by=rows.attributes["day_ahead_redispatch_by"],
                intraday_redispatch_by=rows.attributes["intraday_redispatch_by"],
                connections=tuple(rows.connections),
            )
            for address, rows in cps.items()
        ),
        row_count=row_count,
    )


def _row_read(
    row: dict[str, str], line: int, cps: dict[str, _CongestionPointRows], row_errors: list[RowError]
) -> None:
    address = _address(row["congestion_point"], line=line, column="congestion_point", row_errors=row_errors)
    attributes = _row_attributes(row, line=line, row_errors=row_errors)
    connection = _row_connection(row, line=line, row_errors=row_errors)
    if address is None or attributes is None:
        return
    rows = cps.get(address)
    if rows is None:
        rows = cps[address] = _CongestionPointRows(first_line=line, attributes=attributes)
    else:
        for column in _CP_ATTRIBUTES:
            if rows.attributes[column] != attributes[column]:
                row_errors.append(
                    RowError(
                        line=line,
                        column=column,
                        message=f"differs from line {rows.first_line} for congestion point {address} "
                        f"({row[column] or 'empty'} here, {_text(rows.attributes[column]) or 'empty'} there)",
                    )
                )
    if connection is not None:
        rows.connections.append(connection)


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def csv_portfolio_update_build(
    *, dso: Participant, parsed: ParsedPortfolio, time_stamp: dt.datetime | None = None
) -> uftp.DSOPortfolioUpdate:
    """The DSOPortfolioUpdate the DSO would have sent: same rules, same service."""
    return uftp.DSOPortfolioUpdate(
        version=versions.profile_for_major(max(versions.SCHEMA_SETS)).version,
        sender_domain=dso.domain,
        recipient_domain=settings.CRO_DOMAIN,
        time_stamp=time_stamp or timezone.now(),
        message_id=str(uuid.uuid4()),
        conversation_id=str(uuid.uuid4()),
        time_zone=settings.CRO_TIME_ZONE,
        congestion_points=parsed.congestion_points,
    )


def _barred_reasons(dso: Participant) -> list[str]:
    # cro-rules §3 item 3 holds for the CSV path too: a barred DSO's portfolio is not changed.
    return [f"Barred Sender: {dso.domain} is barred; reactivate it first"] if dso.is_barred else []


def _other_dso_reasons(*, dso: Participant, lines: CsvLines) -> list[str]:
    # A file exported for every DSO may still hold other DSOs' rows: they are not this DSO's to import.
    return [
        f"Other DSO: lines {_lines_text(numbers)} belong to {domain}, not {dso.domain}"
        for domain, numbers in sorted(lines.dso_lines.items())
        if domain and domain != dso.domain
    ]


# ------------------------------------------------------------------------------ import


def csv_import_preview(*, dso: Participant, data: bytes, file_name: str = "", user=None) -> CsvImport:
    """Read the CSV and dry-run it: a CsvImport holding what would change and every rejection.

    Raises CsvInvalid (nothing stored) when the file is not a readable portfolio, and
    ValidationError when `dso` is not a DSO.
    """
    if dso.role != Participant.Role.DSO:
        raise ValidationError({"dso": f"{dso} is not a DSO"})
    text = csv_text_decode(data=data)
    parsed = csv_portfolio_parse(text=text)
    update = csv_portfolio_update_build(dso=dso, parsed=parsed)
    outcome = portfolio.dso_portfolio_update_apply(dso=dso, message=update, dry_run=True, source=CSV_SOURCE)
    reasons = (
        _barred_reasons(dso)
        + _other_dso_reasons(dso=dso, lines=csv_lines_index(text=text))
        + list(outcome.reasons)
    )
    return CsvImport.objects.create(
        dso=dso,
        created_by=user if user is not None and user.is_authenticated else None,
        file_name=file_name[:255],
        csv_text=text,
        row_count=parsed.row_count,
        congestion_point_count=len(parsed.congestion_points),
        connection_count=parsed.connection_count,
        status=CsvImport.Status.PREVIEWED,
        preview_reasons=reasons,
        preview_changes=list(outcome.changes),
        phase="previewed: waiting for the administrator to apply",
    )


def csv_import_queue(*, csv_import: CsvImport) -> CsvImport:
    """The administrator applies a previewed import: it is queued for a worker (once)."""
    if not csv_import.preview_accepted:
        raise ValidationError("this import was rejected in the preview; fix the CSV and upload it again")
    with transaction.atomic():
        queued = CsvImport.objects.filter(pk=csv_import.pk, status=CsvImport.Status.PREVIEWED).update(
            status=CsvImport.Status.QUEUED,
            progress=5,
            phase="queued: waiting for a worker",
            updated_at=timezone.now(),
        )
        if not queued:
            raise ValidationError("this import was applied already")
        transaction.on_commit(lambda: csv_import_dispatch(csv_import_pk=csv_import.pk))
    csv_import.refresh_from_db()
    return csv_import


def csv_import_dispatch(*, csv_import_pk: int) -> bool:
    """Hand the apply to a worker; run it here when configured so or when the broker is unreachable."""
    if settings.CRO_CSV_IMPORT_INLINE:
        csv_import_apply(csv_import_pk=csv_import_pk)
        return True
    if dispatch.csv_import_enqueue(csv_import_pk=csv_import_pk):
        return True
    # No sweep picks imports up: the administrator's request applies it instead.
    logger.warning("CSV import %s applied in the web process", csv_import_pk)
    csv_import_apply(csv_import_pk=csv_import_pk)
    return False


def _progress(csv_import_pk: int, *, progress: int, phase: str, **extra) -> None:
    CsvImport.objects.filter(pk=csv_import_pk).update(
        progress=progress, phase=phase, updated_at=timezone.now(), **extra
    )


def csv_import_apply(*, csv_import_pk: int) -> CsvImport | None:
    """Apply a queued import: parse again, build the update with TimeStamp now, apply it whole.

    Idempotent: only a queued import is claimed, so a redelivered task does nothing. The
    registry may have changed since the preview; then the import is rejected with the reasons.
    """
    claimed = CsvImport.objects.filter(pk=csv_import_pk, status=CsvImport.Status.QUEUED).update(
        status=CsvImport.Status.APPLYING, progress=10, phase="reading the CSV", updated_at=timezone.now()
    )
    if not claimed:
        return None
    csv_import = CsvImport.objects.select_related("dso").get(pk=csv_import_pk)
    try:
        parsed = csv_portfolio_parse(text=csv_import.csv_text)
        update = csv_portfolio_update_build(dso=csv_import.dso, parsed=parsed)
        _progress(
            csv_import_pk,
            progress=30,
            phase=f"applying {len(parsed.congestion_points)} congestion points with "
            f"{parsed.connection_count} connections in one transaction",
        )
        reasons = _barred_reasons(csv_import.dso)
        outcome = None
        if not reasons:
            outcome = portfolio.dso_portfolio_update_apply(
                dso=csv_import.dso, message=update, dry_run=False, source=CSV_SOURCE
            )
            reasons = list(outcome.reasons)
    except Exception as exc:  # recorded for the administrator; the registry is unchanged
        logger.exception("CSV import %s failed", csv_import_pk)
        _progress(
            csv_import_pk,
            progress=100,
            phase="failed",
            status=CsvImport.Status.FAILED,
            error=f"{exc.__class__.__name__}: {exc}",
            finished_at=timezone.now(),
        )
    else:
        accepted = outcome is not None and outcome.accepted
        _progress(
            csv_import_pk,
            progress=100,
            phase="applied" if accepted else "rejected: the registry changed since the preview",
            status=CsvImport.Status.APPLIED if accepted else CsvImport.Status.REJECTED,
            result_reasons=reasons,
            result_changes=list(outcome.changes) if accepted else [],
            finished_at=timezone.now(),
        )
    csv_import.refresh_from_db()
    return csv_import


# ------------------------------------------------------------------------------ preview review
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


# ------------------------------------------------------------------------------ export


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(rows: Iterable[Iterable[str]], *, columns: Iterable[str] = CSV_COLUMNS) -> Iterator[str]:
    """CSV text, one line at a time (for a streaming response), header first."""
    writer = csv.writer(_Echo(), lineterminator="\r\n")
    yield writer.writerow(columns)
    for row in rows:
        yield writer.writerow(row)


def registry_csv_export(*, selection: registry_state.RegistryFilter) -> Iterator[str]:
    """The registry selection as CSV lines, in the import's columns (3 queries; 4 for every DSO).

    Without a DSO in the selection the rows of several DSOs are mixed: a first column names the
    owner of each row.
    """
    rows = registry_state.registry_export_rows(selection=selection)
    if selection.dso is not None:
        return csv_lines(rows)
    return csv_lines(_with_dso_column(rows), columns=(DSO_COLUMN, *CSV_COLUMNS))


def _with_dso_column(rows: Iterable[tuple[str, ...]]) -> Iterator[tuple[str, ...]]:
    owners: dict[str, str] | None = None
    for row in rows:
        if owners is None:  # read once the export has its first row, in the same snapshot
            owners = dso_portfolio.congestion_point_owner_domains()
        yield (owners.get(row[0], ""), *row)
