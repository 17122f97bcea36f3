"""Reading the administrators' CSV portfolio format (columns in registry.services.csv_io):
line-and-column errors, and the congestion points it describes."""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from registry.selectors import registry_state
from registry.uftp import messages as uftp
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
# A congestion point's attribute columns (after its address), equal on all its lines.
CP_ATTRIBUTE_COLUMNS = (
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
class CongestionPointRows:
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


def row_connection_read(
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
    if len(row_errors) > errors_before or address is None or start is None:
        return None
    return uftp.ConnectionPeriod(entity_address=address, start_period=start, end_period=end)


def csv_header_read(values: list[str], *, line: int) -> list[str]:
    """The column names of a header line; CsvInvalid when columns are missing, unknown or doubled."""
    header = [value.strip().lower() for value in values]
    missing = [column for column in CSV_COLUMNS if column not in header]
    unknown = [column for column in header if column not in CSV_COLUMNS and column not in OPTIONAL_COLUMNS]
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
            [RowError(line=line, message=f"{'; '.join(problems)} (expected: {', '.join(CSV_COLUMNS)})")]
        )
    return header


def csv_portfolio_parse(*, text: str) -> ParsedPortfolio:
    """Read the CSV into congestion point updates; CsvInvalid with every row error (up to MAX_ROW_ERRORS).

    Only the form of the file is checked here; what the registry rules say about the content
    (Periods, duplicates, conflicts, ownership) is the service's job, as for a UFTP message.
    """
    _control_characters_refuse(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    row_errors: list[RowError] = []
    header: list[str] | None = None
    cps: dict[str, CongestionPointRows] = {}
    row_count = 0
    try:
        for values in reader:
            line = reader.line_num
            if not any(value.strip() for value in values):
                continue
            if header is None:
                header = csv_header_read(values, line=line)
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
    row: dict[str, str], line: int, cps: dict[str, CongestionPointRows], row_errors: list[RowError]
) -> None:
    rows = cp_row_read(row, line=line, cps=cps, row_errors=row_errors)
    connection = row_connection_read(row, line=line, row_errors=row_errors)
    if rows is not None and connection is not None:
        rows.connections.append(connection)


def cp_row_read(
    row: dict[str, str], *, line: int, cps: dict[str, CongestionPointRows], row_errors: list[RowError]
) -> CongestionPointRows | None:
    """The congestion point a row names (recorded in `cps` at its first line); None when invalid.

    A row whose attributes differ from the CP's first line is an error (the CP stays as first read).
    """
    errors_before = len(row_errors)
    address = _address(row["congestion_point"], line=line, column="congestion_point", row_errors=row_errors)
    attributes = _row_attributes(row, line=line, row_errors=row_errors)
    if address is None or attributes is None:
        return None
    rows = cps.get(address)
    if rows is None:
        rows = cps[address] = CongestionPointRows(first_line=line, attributes=attributes)
    else:
        for column in CP_ATTRIBUTE_COLUMNS:
            if rows.attributes[column] != attributes[column]:
                row_errors.append(
                    RowError(
                        line=line,
                        column=column,
                        message=f"differs from line {rows.first_line} for congestion point {address} "
                        f"({row[column] or 'empty'} here, {_text(rows.attributes[column]) or 'empty'} there)",
                    )
                )
    return rows if len(row_errors) == errors_before else None


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(rows: Iterable[Iterable[str]], *, columns: Iterable[str] = CSV_COLUMNS) -> Iterator[str]:
    """CSV text, one line at a time (for a streaming response), header first."""
    writer = csv.writer(_Echo(), lineterminator="\r\n")
    yield writer.writerow(columns)
    for row in rows:
        yield writer.writerow(row)
