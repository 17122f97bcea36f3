"""Bulk load of a DSO's portfolio from a CSV file: the rules of one DSOPortfolioUpdate, set-based.

A whole file is one DSOPortfolioUpdate (cro-rules §4, TimeStamp = the load's start), applied all or
nothing in one transaction, as `dso.dso_portfolio_update_apply` would apply it, but without
building a message: for a national first load (a million connections) the per-connection Python
of the message engine costs more than the database does.

1. Stream: every line is read and checked in Python with the CSV import's own readers
   (`csv_format`: addresses, dates, booleans, a CP's attributes equal on all its lines), clipped
   to its CP's EndPeriod, checked against the Period rules (`periods`), and COPYed into a
   temporary staging table with its line number. Nothing of the registry is touched yet.
2. Lock as the message path does: the DSO's sender lock (the drain's, `processing.sender_lock`),
   then the listed CP rows in address order (unknown CPs are created for the DSO first).
3. Check in SQL what needs the registry or the whole file: CPs owned by another DSO
   ("Unauthorized"), a CP updated by a newer TimeStamp, a connection listed twice in a CP or in
   two CPs for overlapping periods ("Duplicate connection"), a connection another CP holds for an
   overlapping period ("Connection conflict").
4. Write with INSERT .. SELECT / UPDATE .. FROM: changed CP versions superseded and inserted, the
   memberships no longer listed superseded, the new ones inserted, all "known from" one `now`.

Any refusal raises LoadRefused with the reasons (the texts of the message engine, prefixed with
the CSV lines they are about) and the transaction is rolled back: nothing changed. PostgreSQL
only (COPY, temporary tables); `dso_portfolio_load_supported()` says whether it can run.

Where the time goes (1,000,000 connections into an empty registry, 2 shared cores, about 52,000
connections/s; 40,000 while a GiST exclusion constraint checked the overlaps): reading and
checking the file is about a seventh of it (2.6 s of 19); the rest is PostgreSQL inserting the
memberships, their indexes and the overlap check of migration 0012 (a registry_connection row
per new connection, then an index probe per row). The message engine, which writes the same
rows, is not much slower (50,000-connection DSO updates: about 37,000 connections/s). The
administrators' web import therefore stays on the message engine: its preview is that engine's
dry run and its apply records every change line.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import logging
import operator
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from typing import IO

from django.db import IntegrityError, OperationalError, transaction
from django.db import connection as database
from django.utils import timezone

from registry.models import CongestionPointVersion, Membership, Participant
from registry.services import csv_format
from registry.services.csv_format import CSV_SOURCE, DSO_COLUMN, CsvInvalid, RowError
from registry.services.csv_review import _lines_text
from registry.services.processing import sender_lock
from registry.uftp.vocabulary import ENTITY_ADDRESS_RE

from . import _bulk
from ._atomic import RACE_ATTEMPTS, _is_lost_race
from .periods import period_is_ordered, period_text, period_within

logger = logging.getLogger(__name__)

# Lines between two progress reports.
PROGRESS_EVERY = 100_000
# Staging lines per COPY write.
_COPY_BLOCK = 10_000
NULL = "\\N"
_CP_COLUMNS = ("congestion_point", *csv_format.CP_ATTRIBUTE_COLUMNS)
# Reasons listed at most (a file of a million bad lines would otherwise make a megabyte message).
MAX_REASONS = 1_000
# The staging tables (temporary: dropped at commit) are portfolio_load_row and portfolio_load_cp;
# the registry tables are named as Django names them (registry_<model>).


class LoadRefused(Exception):
    """The rules refuse the file (as they would refuse the DSOPortfolioUpdate); nothing changed."""

    def __init__(self, reasons: list[str]):
        super().__init__("; ".join(reasons[:5]))
        self.reasons = reasons


@dataclasses.dataclass(frozen=True, kw_only=True)
class LoadProgress:
    phase: str  # "reading", "checking", "writing", "done"
    lines: int  # data lines read so far
    seconds: float  # since the load started
    written: int = 0  # memberships written so far (phase "writing")
    writing_seconds: float = 0.0  # since the writes started

    @property
    def lines_per_second(self) -> float:
        return self.lines / self.seconds if self.seconds else 0.0

    @property
    def written_per_second(self) -> float:
        return self.written / self.writing_seconds if self.writing_seconds else 0.0


@dataclasses.dataclass(frozen=True, kw_only=True)
class LoadResult:
    lines: int
    congestion_points: int
    connections: int  # memberships listed
    memberships_added: int
    memberships_removed: int
    congestion_point_versions_written: int
    seconds: float


def dso_portfolio_load_supported() -> bool:
    return database.vendor == "postgresql"


def dso_portfolio_load(
    *,
    dso: Participant,
    file: IO[bytes],
    source: str = CSV_SOURCE,
    progress: Callable[[LoadProgress], None] | None = None,
) -> LoadResult:
    """Apply the CSV portfolio in `file` (binary, UTF-8) as one DSOPortfolioUpdate, all or nothing.

    Raises CsvInvalid (a line is not readable: line and column) or LoadRefused (the registry rules
    refuse it, every reason with its lines); either way nothing is changed.
    """
    if dso.role != Participant.Role.DSO:
        raise ValueError(f"{dso} is not a DSO")
    if not dso_portfolio_load_supported():
        raise NotImplementedError("the bulk load needs PostgreSQL")
    if dso.is_barred:
        raise LoadRefused([f"Barred Sender: {dso.domain} is barred; reactivate it first"])
    started = time.perf_counter()

    def report(phase: str, lines: int, written: int = 0, writing_started: float | None = None) -> None:
        if progress is not None:
            now = time.perf_counter()
            progress(
                LoadProgress(
                    phase=phase,
                    lines=lines,
                    seconds=now - started,
                    written=written,
                    writing_seconds=now - writing_started if writing_started is not None else 0.0,
                )
            )

    for attempt in range(1, RACE_ATTEMPTS + 1):
        try:
            reader, written = _load_once(dso=dso, file=file, source=source, report=report)
            break
        except (IntegrityError, OperationalError) as exc:
            # A concurrent update wrote a conflicting row after the checks (the overlap check of
            # migration 0012, an exclusion violation, or a deadlock): as the message engine does, look again; the winner's row then gives
            # the proper reason.
            if attempt == RACE_ATTEMPTS or not _is_lost_race(exc) or not file.seekable():
                raise
            logger.info("portfolio load lost a race with a concurrent update (attempt %d); retrying", attempt)
            file.seek(0)
    else:  # pragma: no cover - the loop breaks or raises
        raise AssertionError("unreachable")
    report("done", reader.lines)
    return LoadResult(
        lines=reader.lines,
        congestion_points=len(reader.cps),
        connections=reader.connections,
        memberships_added=written["added"],
        memberships_removed=written["removed"],
        congestion_point_versions_written=written["versions"],
        seconds=time.perf_counter() - started,
    )


def _load_once(
    *, dso: Participant, file: IO[bytes], source: str, report: Callable[..., None]
) -> tuple[_StagingWriter, dict[str, int]]:
    time_stamp = timezone.now()
    with transaction.atomic():
        _staging_create()
        reader = _StagingWriter(dso=dso, report=report)
        reader.read(file)
        report("checking", reader.lines)
        _staging_analyze()
        _sender_lock(dso)
        cp_ids = _congestion_points_lock(dso=dso)
        reasons = reader.reasons + _rules_reasons(dso=dso, time_stamp=time_stamp)
        if reasons:
            raise LoadRefused(_capped(reasons, left_out=reader.reasons_left_out))
        writing_started = time.perf_counter()
        report("writing", reader.lines, 0, writing_started)
        now = timezone.now()  # after the locks, as in the message path
        written = _write(
            cp_ids=cp_ids,
            now=now,
            time_stamp=time_stamp,
            source=source[:32],
            last_line=reader.last_line,
            written=lambda rows: report("writing", reader.lines, rows, writing_started),
        )
        _staging_drop()
        _bulk.statistics_refresh_on_commit(
            Counter(
                {
                    Membership._meta.db_table: written["added"] + written["removed"],
                    CongestionPointVersion._meta.db_table: written["versions"],
                }
            )
        )
    return reader, written


def _capped(reasons: list[str], *, left_out: int) -> list[str]:
    left_out += max(0, len(reasons) - MAX_REASONS)
    return [*reasons[:MAX_REASONS], f"... and {left_out:,} more reasons"] if left_out else reasons


# ------------------------------------------------------------------------------ 1. stream


def _staging_create() -> None:
    with database.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE portfolio_load_row ("
            "line integer NOT NULL, cp varchar NOT NULL, conn varchar NOT NULL, "
            "start_period date NOT NULL, end_period date, ordered boolean NOT NULL"
            ") ON COMMIT DROP"
        )
        cursor.execute(
            "CREATE TEMPORARY TABLE portfolio_load_cp ("
            "address varchar PRIMARY KEY, line integer NOT NULL, start_period date NOT NULL, "
            "end_period date, mutex_offers_supported boolean NOT NULL, "
            "day_ahead_redispatch_by varchar(3) NOT NULL, intraday_redispatch_by varchar(3) NOT NULL, "
            "cp_id bigint"
            ") ON COMMIT DROP"
        )


def _staging_analyze() -> None:
    # Temporary tables are never analyzed by autovacuum: without this the planner takes them for
    # tiny and joins a million rows by nested loops.
    with database.cursor() as cursor:
        cursor.execute("ANALYZE portfolio_load_row")
        cursor.execute("ANALYZE portfolio_load_cp")


def _staging_drop() -> None:
    with database.cursor() as cursor:
        cursor.execute("DROP TABLE portfolio_load_row, portfolio_load_cp, portfolio_load_repeated")


class _StagingWriter:
    """Reads the CSV line by line into the staging tables; collects form errors and Period reasons."""

    def __init__(self, *, dso: Participant, report: Callable[[str, int], None]):
        self.dso = dso
        self.report = report
        self.cps: dict[str, csv_format.CongestionPointRows] = {}
        self.row_errors: list[RowError] = []
        self.reasons: list[str] = []
        self.reasons_left_out = 0
        self.other_dso_lines: dict[str, list[int]] = defaultdict(list)
        self.lines = 0
        self.last_line = 0
        self.connections = 0

    def read(self, file: IO[bytes]) -> None:
        # newline="": lines end at \n, \r\n or \r only, as csv_format reads them.
        text = io.TextIOWrapper(file, encoding="utf-8-sig", newline="")
        try:
            with database.cursor() as cursor, database.wrap_database_errors:
                with cursor.cursor.copy(
                    "COPY portfolio_load_row (line, cp, conn, start_period, end_period, ordered) FROM STDIN"
                ) as copy:
                    self._rows_copy(text, copy)
        except UnicodeDecodeError as exc:
            text.detach()
            line = _undecodable_line(file)
            raise CsvInvalid([RowError(line=line, message=f"is not UTF-8 text ({exc.reason})")]) from exc
        else:
            text.detach()  # the caller's file stays open (a retry reads it again)
        if self.row_errors:
            raise CsvInvalid(self.row_errors)
        if not self.cps:
            raise CsvInvalid([RowError(line=0, message="the file has a header but no rows")])
        self._congestion_points_copy()
        if self.other_dso_lines:
            self.reasons[:0] = [
                f"Other DSO: lines {_lines_text(numbers)} belong to {domain}, not {self.dso.domain}"
                for domain, numbers in sorted(self.other_dso_lines.items())
            ]

    def _rows_copy(self, lines: Iterable[str], copy) -> None:
        """Read every line after the header; the COPY gets the lines that pass, in blocks.

        The usual line (a valid connection of the same CP as the line before) takes the fast path:
        the CP's cells are compared with the previous line's, the address matched with the rules'
        ENTITY_ADDRESS_RE, the dates looked up among the ones already read. Anything else goes
        through csv_format's readers, which say what is wrong with which column.
        """
        lines = iter(lines)
        header, delimiter, first_line = _header(lines)
        reader = csv.reader(lines, delimiter=delimiter)
        width = len(header)
        cp_cells_of = operator.itemgetter(*(header.index(column) for column in _CP_COLUMNS))
        connection_cells_of = operator.itemgetter(
            *(header.index(column) for column in ("connection", "connection_start", "connection_end"))
        )
        dso_index = header.index(DSO_COLUMN) if DSO_COLUMN in header else None
        address_match = ENTITY_ADDRESS_RE.fullmatch
        dates: dict[str, dt.date] = {}  # the date cells read so far, by their text
        row_errors = self.row_errors
        block: list[str] = []
        last_cp_cells: tuple | None = None
        cp: csv_format.CongestionPointRows | None = None
        cp_address = ""
        cp_start: dt.date = dt.date.min
        cp_end: dt.date | None = None
        cp_ordered = True
        count = 0
        try:
            for values in reader:
                if len(values) != width or not values[0] or dso_index is not None:
                    line = reader.line_num + first_line
                    if not any(value.strip() for value in values):
                        continue
                    if len(values) != width:
                        count += 1
                        row_errors.append(
                            RowError(line=line, message=f"has {len(values)} fields, the header has {width}")
                        )
                        if len(row_errors) >= csv_format.MAX_ROW_ERRORS:
                            break
                        continue
                    if dso_index is not None:
                        domain = values[dso_index].strip()
                        if domain and domain != self.dso.domain:
                            self.other_dso_lines[domain].append(line)
                count += 1
                if count % PROGRESS_EVERY == 0:
                    self.lines = count
                    self.report("reading", count)
                cp_cells = cp_cells_of(values)
                if cp_cells != last_cp_cells:
                    # A new CP (or a line of one read before): read and compare its cells once.
                    line = reader.line_num + first_line
                    row = self._row(header, values, line)
                    if row is None:
                        continue
                    errors_before = len(row_errors)
                    cp = csv_format.cp_row_read(row, line=line, cps=self.cps, row_errors=row_errors)
                    last_cp_cells = cp_cells if len(row_errors) == errors_before else None
                    if cp is not None:
                        cp_address = row["congestion_point"]
                        cp_start, cp_end = cp.attributes["cp_start"], cp.attributes["cp_end"]
                        cp_ordered = period_is_ordered(cp_start, cp_end)
                        if cp.first_line == line and not cp_ordered:
                            self._reason(
                                f"line {line}: Period out of bounds: congestion point [{cp_address}] "
                                f"ends ({cp_end}) before it starts ({cp_start})"
                            )
                address, start_text, end_text = connection_cells_of(values)
                start = dates.get(start_text)
                end = dates.get(end_text) if end_text else None
                if start is None or (end_text and end is None) or not address_match(address):
                    # Not the usual line: csv_format's reader says what is wrong (or reads it).
                    line = reader.line_num + first_line
                    row = self._row(header, values, line)
                    if row is None:
                        continue
                    connection = csv_format.row_connection_read(row, line=line, row_errors=row_errors)
                    if len(row_errors) >= csv_format.MAX_ROW_ERRORS:
                        row_errors.append(
                            RowError(line=0, message=f"stopped after {csv_format.MAX_ROW_ERRORS} errors")
                        )
                        break
                    if connection is None:
                        continue
                    address, start, end = (
                        connection.entity_address,
                        connection.start_period,
                        connection.end_period,
                    )
                    dates[row["connection_start"]] = start
                    if end is not None:
                        dates[row["connection_end"]] = end
                if cp is None or row_errors:
                    continue
                # cro-rules §4: a CP's connections expire with it; Periods ordered and inside the CP's.
                if cp_end is not None and cp_ordered and start <= cp_end and (end is None or end > cp_end):
                    end = cp_end
                ordered = end is None or end >= start
                if not ordered or start < cp_start or (cp_end is not None and (end is None or end > cp_end)):
                    ordered = self._connection_check(
                        cp_address,
                        cp_start,
                        cp_end,
                        cp_ordered,
                        address,
                        start,
                        end,
                        reader.line_num + first_line,
                    )
                if "\\" in address or "\\" in cp_address:
                    block.append(
                        f"{reader.line_num + first_line}\t{_copy_text(cp_address)}\t{_copy_text(address)}\t"
                        f"{start}\t{end or NULL}\t{'t' if ordered else 'f'}\n"
                    )
                else:
                    block.append(
                        f"{reader.line_num + first_line}\t{cp_address}\t{address}\t{start}\t"
                        f"{end or NULL}\t{'t' if ordered else 'f'}\n"
                    )
                self.connections += 1
                if len(block) >= _COPY_BLOCK:
                    copy.write("".join(block))
                    block.clear()
        except csv.Error as exc:
            row_errors.append(
                RowError(line=reader.line_num + first_line, message=f"not readable as CSV: {exc}")
            )

        if block and not row_errors:
            copy.write("".join(block))
        self.lines = count
        self.last_line = reader.line_num + first_line

    def _reason(self, reason: str) -> None:
        # A file of a million bad lines must not make a million reasons in memory.
        if len(self.reasons) < MAX_REASONS:
            self.reasons.append(reason)
        else:
            self.reasons_left_out += 1

    def _row(self, header: list[str], values: list[str], line: int) -> dict[str, str] | None:
        """The line's cells by column, stripped; None (and an error) when one holds a control character."""
        row = dict(zip(header, (value.strip() for value in values), strict=True))
        if csv_format._CONTROL_CHARACTER.search("".join(values)):
            self.row_errors.append(_control_character_error(row, line=line))
            return None
        return row

    def _connection_check(
        self,
        cp_address: str,
        cp_start: dt.date,
        cp_end: dt.date | None,
        cp_ordered: bool,
        address: str,
        start: dt.date,
        end: dt.date | None,
        line: int,
    ) -> bool:
        """§4 Period rules of one listed connection (clipped already); whether its Period is ordered."""
        label = (
            f"line {line}: Period out of bounds: connection [{address}] in congestion point [{cp_address}]"
        )
        if not period_is_ordered(start, end):
            self._reason(f"{label} ends ({end}) before it starts ({start})")
            return False
        if cp_ordered and not period_within((start, end), (cp_start, cp_end)):
            self._reason(
                f"{label} {period_text(start, end)} is not inside the congestion point's "
                f"{period_text(cp_start, cp_end)}"
            )
        return True

    def _congestion_points_copy(self) -> None:
        with database.cursor() as cursor, database.wrap_database_errors:
            with cursor.cursor.copy(
                "COPY portfolio_load_cp (address, line, start_period, end_period, mutex_offers_supported, "
                "day_ahead_redispatch_by, intraday_redispatch_by) FROM STDIN"
            ) as copy:
                for address, cp in self.cps.items():
                    a = cp.attributes
                    copy.write_row(
                        (
                            address,
                            cp.first_line,
                            a["cp_start"],
                            a["cp_end"],
                            a["mutex_offers_supported"],
                            str(a["day_ahead_redispatch_by"]),
                            str(a["intraday_redispatch_by"] or ""),
                        )
                    )


def _header(lines: Iterator[str]) -> tuple[list[str], str, int]:
    """(column names, delimiter, lines read) from the first line that is not blank."""
    read = 0
    for text in lines:
        read += 1
        if not text.strip():
            continue
        delimiter = csv_format._delimiter(text)
        values = next(csv.reader([text], delimiter=delimiter), [])
        return csv_format.csv_header_read(values, line=read), delimiter, read
    raise CsvInvalid(
        [
            RowError(
                line=0, message=f"the file is empty; the header must be: {', '.join(csv_format.CSV_COLUMNS)}"
            )
        ]
    )


def _undecodable_line(file: IO[bytes]) -> int:
    """The first line of `file` that is not UTF-8 (0 when the file cannot be read again)."""
    if not file.seekable():
        return 0
    file.seek(0)
    for number, raw in enumerate(file, start=1):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            return number
    return 0


def _copy_text(value: str) -> str:
    # COPY's text format: a backslash is an escape (entity addresses hold no tab or line end).
    return value.replace("\\", "\\\\")


def _control_character_error(row: dict[str, str], *, line: int) -> RowError:
    control = csv_format._CONTROL_CHARACTER
    for column, value in row.items():
        found = control.search(value)
        if found:
            return RowError(
                line=line,
                column=column,
                message=f"holds the control character U+{ord(found.group()):04X} at position {found.start() + 1}",
            )
    return RowError(line=line, message="holds a control character")


# ------------------------------------------------------------------------------ 2. lock


def _sender_lock(dso: Participant) -> None:
    """The lock the drain holds while it processes this DSO's messages: none is applied meanwhile."""
    sender_lock(domain=dso.domain, role=dso.role)


def _congestion_points_lock(*, dso: Participant) -> list[int]:
    """Create the unknown CPs for this DSO, then lock every listed CP row in address order (as dso.py).

    Returns the ids of the listed CPs this DSO owns (the ones the load replaces).
    """
    with database.cursor() as cursor:
        cursor.execute(
            "INSERT INTO registry_congestionpoint (entity_address, dso_id, created_at) "
            "SELECT address, %s, %s FROM portfolio_load_cp ORDER BY address "
            "ON CONFLICT (entity_address) DO NOTHING",
            [dso.pk, timezone.now()],
        )
        cursor.execute(
            "SELECT cp.id FROM registry_congestionpoint cp "
            "JOIN portfolio_load_cp s ON s.address = cp.entity_address "
            "ORDER BY cp.entity_address FOR UPDATE OF cp"
        )
        cursor.execute(
            "UPDATE portfolio_load_cp s SET cp_id = cp.id FROM registry_congestionpoint cp "
            "WHERE cp.entity_address = s.address AND cp.dso_id = %s",
            [dso.pk],
        )
        cursor.execute("SELECT cp_id FROM portfolio_load_cp WHERE cp_id IS NOT NULL ORDER BY cp_id")
        return [cp_id for (cp_id,) in cursor.fetchall()]


# ------------------------------------------------------------------------------ 3. rules in SQL
# Two inclusive Periods a and b (NULL end: open-ended) overlap, as periods.periods_overlap, when
# (a.end IS NULL OR b.start <= a.end) AND (b.end IS NULL OR a.start <= b.end).


def _rules_reasons(*, dso: Participant, time_stamp: dt.datetime) -> list[str]:
    """§4 rules that need the registry or the whole file, in the message engine's words."""
    reasons: list[str] = []
    with database.cursor() as cursor:
        # Unauthorized / Subordinate sequence number, per listed CP in address order.
        cursor.execute(
            "SELECT s.line, s.address, cp.dso_id <> %s, cp.last_time_stamp "
            "FROM portfolio_load_cp s JOIN registry_congestionpoint cp ON cp.entity_address = s.address "
            "WHERE cp.dso_id <> %s OR cp.last_time_stamp > %s ORDER BY s.address",
            [dso.pk, dso.pk, time_stamp],
        )
        for line, address, other_dso, last_time_stamp in cursor.fetchall():
            if other_dso:
                reasons.append(
                    f"line {line}: Unauthorized: congestion point [{address}] is owned by another DSO"
                )
            else:
                reasons.append(
                    f"line {line}: Subordinate sequence number: congestion point [{address}] was updated "
                    f"by a newer message (TimeStamp {last_time_stamp.isoformat()})"
                )

        # Connections listed on more than one line: usually none, so the checks that compare
        # listings with each other only look at these.
        cursor.execute(
            "CREATE TEMPORARY TABLE portfolio_load_repeated ON COMMIT DROP AS "
            "SELECT conn FROM portfolio_load_row GROUP BY conn HAVING count(*) > 1"
        )
        cursor.execute(
            "SELECT r.cp, r.conn, array_agg(r.line ORDER BY r.line) FROM portfolio_load_row r "
            "JOIN portfolio_load_repeated USING (conn) GROUP BY r.cp, r.conn HAVING count(*) > 1 "
            "ORDER BY min(r.line)"
        )
        for cp, conn, lines in cursor.fetchall():
            reasons.extend(
                f"line {line}: Duplicate connection: connection [{conn}] in congestion point [{cp}] "
                "is listed twice"
                for line in lines[1:]
            )
        # The first listing of a connection in each CP (as dso.py), both with ordered Periods.
        cursor.execute(
            "WITH f AS (SELECT DISTINCT ON (r.cp, r.conn) r.* FROM portfolio_load_row r "
            "  JOIN portfolio_load_repeated USING (conn) ORDER BY r.cp, r.conn, r.line) "
            "SELECT a.conn, array_agg(a.cp) || array_agg(b.cp), array_agg(a.line) || array_agg(b.line) "
            "FROM f a JOIN f b ON a.conn = b.conn AND a.cp < b.cp "
            "  AND (a.end_period IS NULL OR b.start_period <= a.end_period) "
            "  AND (b.end_period IS NULL OR a.start_period <= b.end_period) "
            "WHERE a.ordered AND b.ordered GROUP BY a.conn ORDER BY min(LEAST(a.line, b.line))"
        )
        for conn, cps, lines in cursor.fetchall():
            reasons.append(
                f"line {_lines_text(sorted(set(lines)))}: Duplicate connection: [{conn}] is listed in "
                f"congestion points {', '.join(f'[{cp}]' for cp in sorted(set(cps)))} for overlapping periods"
            )

        # Connection conflict: a CP this load does not replace holds the connection for an
        # overlapping period.
        cursor.execute(
            "SELECT r.conn, array_agg(DISTINCT mcp.entity_address), array_agg(DISTINCT r.line) "
            "FROM portfolio_load_row r "
            "JOIN registry_membership m ON m.connection_address = r.conn AND m.superseded_at IS NULL "
            "JOIN registry_congestionpoint mcp ON mcp.id = m.congestion_point_id "
            "WHERE r.ordered AND mcp.entity_address <> r.cp "
            "  AND (r.end_period IS NULL OR m.start_period <= r.end_period) "
            "  AND (m.end_period IS NULL OR r.start_period <= m.end_period) "
            "  AND NOT EXISTS (SELECT 1 FROM portfolio_load_cp s WHERE s.cp_id = m.congestion_point_id) "
            "GROUP BY r.conn ORDER BY r.conn"
        )
        for conn, cps, lines in cursor.fetchall():
            reasons.append(
                f"line {_lines_text(sorted(lines))}: Connection conflict: [{conn}] at "
                f"{', '.join(f'[{cp}]' for cp in sorted(cps))}"
            )
    return reasons


# ------------------------------------------------------------------------------ 4. write


def _write(
    *,
    cp_ids: list[int],
    now: dt.datetime,
    time_stamp: dt.datetime,
    source: str,
    last_line: int,
    written: Callable[[int], None],
) -> dict[str, int]:
    """Replace the listed CPs' versions and memberships by the file's; returns the rows written.

    The memberships are inserted PROGRESS_EVERY lines of the file at a time (one transaction
    still), so that `written` can report the progress of the longest step.
    """
    with database.cursor() as cursor:
        # CP versions: the current one stays when every attribute is the same.
        cursor.execute(
            "UPDATE registry_congestionpointversion v SET superseded_at = %s, superseded_by_id = NULL "
            "FROM portfolio_load_cp s WHERE v.congestion_point_id = s.cp_id AND v.superseded_at IS NULL "
            "AND (v.start_period, v.end_period, v.mutex_offers_supported, v.day_ahead_redispatch_by, "
            "  v.intraday_redispatch_by) IS DISTINCT FROM (s.start_period, s.end_period, "
            "  s.mutex_offers_supported, s.day_ahead_redispatch_by, s.intraday_redispatch_by)",
            [now],
        )
        versions = cursor.rowcount
        cursor.execute(
            "INSERT INTO registry_congestionpointversion (congestion_point_id, start_period, end_period, "
            "  mutex_offers_supported, day_ahead_redispatch_by, intraday_redispatch_by, recorded_at, "
            "  recorded_by_id, superseded_at, superseded_by_id, source) "
            "SELECT s.cp_id, s.start_period, s.end_period, s.mutex_offers_supported, "
            "  s.day_ahead_redispatch_by, s.intraday_redispatch_by, %s, NULL, NULL, NULL, %s "
            "FROM portfolio_load_cp s WHERE s.cp_id IS NOT NULL AND NOT EXISTS ("
            "  SELECT 1 FROM registry_congestionpointversion v "
            "  WHERE v.congestion_point_id = s.cp_id AND v.superseded_at IS NULL) "
            "ORDER BY s.cp_id",
            [now, source],
        )
        versions += cursor.rowcount

        # Memberships: a listed CP's current rows not listed any more are superseded, the listed
        # rows it does not hold yet inserted; unchanged rows stay as they are. A first load (no
        # listed CP holds any) skips both comparisons.
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM registry_membership WHERE superseded_at IS NULL "
            "AND congestion_point_id = ANY(%s))",
            [cp_ids],
        )
        (held,) = cursor.fetchone()
        removed = 0
        if held:
            cursor.execute(
                "UPDATE registry_membership m SET superseded_at = %s, superseded_by_id = NULL "
                "FROM portfolio_load_cp s WHERE m.congestion_point_id = s.cp_id AND m.superseded_at IS NULL "
                "AND NOT EXISTS (SELECT 1 FROM portfolio_load_row r WHERE r.cp = s.address "
                "  AND r.conn = m.connection_address AND r.start_period = m.start_period "
                "  AND r.end_period IS NOT DISTINCT FROM m.end_period)",
                [now],
            )
            removed = cursor.rowcount
        new_rows_unless_held = (
            "WHERE NOT EXISTS (SELECT 1 FROM registry_membership m WHERE m.superseded_at IS NULL "
            "  AND m.congestion_point_id = s.cp_id AND m.connection_address = r.conn "
            "  AND m.start_period = r.start_period AND m.end_period IS NOT DISTINCT FROM r.end_period) AND "
            if held
            else "WHERE "
        )
        added = 0
        for first in range(0, last_line + 1, PROGRESS_EVERY):
            cursor.execute(
                "INSERT INTO registry_membership (congestion_point_id, connection_address, start_period, "
                "  end_period, recorded_at, recorded_by_id, superseded_at, superseded_by_id, source) "
                "SELECT s.cp_id, r.conn, r.start_period, r.end_period, %s, NULL, NULL, NULL, %s "
                "FROM portfolio_load_row r JOIN portfolio_load_cp s ON s.address = r.cp "
                + new_rows_unless_held
                + "r.line >= %s AND r.line < %s",
                [now, source, first, first + PROGRESS_EVERY],
            )
            added += cursor.rowcount
            written(added)
        cursor.execute(
            "UPDATE registry_congestionpoint SET last_time_stamp = %s, last_message_id = NULL "
            "WHERE id = ANY(%s)",
            [time_stamp, cp_ids],
        )
    return {"versions": versions, "added": added, "removed": removed}
