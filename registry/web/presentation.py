"""Turning data into what the pages show: pretty XML, the parsed message outline, the chart, pages."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from dataclasses import dataclass
from urllib.parse import urlencode

from django.core.paginator import Page, Paginator
from django.http import HttpRequest
from django.utils import timezone
from lxml import etree

from registry.models import Message
from registry.selectors.dashboard import HourCount
from registry.uftp import codec, errors
from registry.uftp.xmlsafe import parse_xml

BODY_PREVIEW_CHARACTERS = 48


def paginate(request: HttpRequest, items, *, per_page: int = 50, param: str = "page") -> Page:
    """One page of a queryset or list; a wrong page number gives the nearest page.

    The page carries `links` (first/previous/next/last URLs keeping the other query parameters).
    """
    page = Paginator(items, per_page).get_page(request.GET.get(param))

    def link(number: int) -> str:
        query = request.GET.copy()
        query[param] = str(number)
        return f"?{query.urlencode()}"

    page.links = {
        "first": link(1) if page.has_previous() else "",
        "previous": link(page.previous_page_number()) if page.has_previous() else "",
        "next": link(page.next_page_number()) if page.has_next() else "",
        "last": link(page.paginator.num_pages) if page.has_next() else "",
    }
    return page


# ------------------------------------------------------------------------------ XML


@dataclass(frozen=True, kw_only=True)
class PrettyXml:
    text: str
    error: str = ""


def xml_pretty(xml: str) -> PrettyXml:
    """Indented XML, parsed safely (no DTDs, no entities); the raw text when it cannot be parsed."""
    try:
        root = parse_xml(xml.encode("utf-8"))
    except errors.UFTPError as exc:
        return PrettyXml(text=xml, error=str(exc))
    etree.indent(root, space="  ")
    return PrettyXml(text=etree.tostring(root, encoding="unicode"))


def signed_message_pretty(xml: str) -> PrettyXml:
    """The SignedMessage envelope with its long base64 Body shortened for reading."""
    try:
        root = parse_xml(xml.encode("utf-8"))
    except errors.UFTPError as exc:
        return PrettyXml(text=xml[:2000], error=str(exc))
    body = root.get("Body")
    if body and len(body) > BODY_PREVIEW_CHARACTERS:
        root.set("Body", f"{body[:BODY_PREVIEW_CHARACTERS]}… ({len(body)} characters)")
    etree.indent(root, space="  ")
    return PrettyXml(text=etree.tostring(root, encoding="unicode"))


# ------------------------------------------------------------------------------ parsed message


@dataclass(frozen=True, kw_only=True)
class OutlineRow:
    depth: int
    label: str
    value: str = ""


def _scalar(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        # In the display zone, like every time on the pages (the XML above shows it as sent).
        local = timezone.localtime(value)
        return f"{local.isoformat()} ({timezone.get_current_timezone_name()})"
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def _outline(value, *, label: str, depth: int, rows: list[OutlineRow]) -> None:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        title = getattr(value, "entity_address", None) or getattr(value, "dso_domain", None) or ""
        rows.append(OutlineRow(depth=depth, label=label, value=title))
        for item in dataclasses.fields(value):
            child = getattr(value, item.name)
            if item.name in {"entity_address", "dso_domain"} and title:
                continue
            _outline(child, label=item.name, depth=depth + 1, rows=rows)
    elif isinstance(value, tuple | list):
        if not value:
            rows.append(OutlineRow(depth=depth, label=label, value="(none)"))
            return
        rows.append(OutlineRow(depth=depth, label=label, value=f"{len(value)} item(s)"))
        for index, item in enumerate(value, start=1):
            _outline(item, label=f"#{index}", depth=depth + 1, rows=rows)
    else:
        rows.append(OutlineRow(depth=depth, label=label, value=_scalar(value)))


def message_outline(message: Message) -> tuple[list[OutlineRow], str]:
    """The parsed inner message as indented rows (codec.parse_any), or ([], the parse error)."""
    try:
        payload = codec.parse_any(message.inner_xml.encode("utf-8"), path_major=message.path_major or 3)
    except (errors.UFTPError, ValueError) as exc:
        return [], str(exc)
    rows: list[OutlineRow] = []
    for item in dataclasses.fields(payload):
        _outline(getattr(payload, item.name), label=item.name, depth=0, rows=rows)
    return rows, ""


# ------------------------------------------------------------------------------ chart


@dataclass(frozen=True, kw_only=True)
class Bar:
    x: float
    width: float
    y_in: float
    height_in: float
    y_out: float
    height_out: float
    title: str
    # The message list's query string for the messages of this hour.
    query: str = ""


@dataclass(frozen=True, kw_only=True)
class AxisLabel:
    x: float
    text: str


@dataclass(frozen=True, kw_only=True)
class HourlyChart:
    width: int
    height: int
    plot_top: int
    plot_bottom: int
    bars: list[Bar]
    labels: list[AxisLabel]
    gridlines: list[tuple[float, int]]  # (y, value)
    maximum: int
    total_in: int
    total_out: int


# A day label ("Tue 01 Dec") is about 70 px wide at the axis' font size.
AXIS_LABEL_MIN_GAP = 80


def _labels_spaced(labels: list[AxisLabel], *, min_gap: float) -> list[AxisLabel]:
    """Labels at least `min_gap` apart; a midnight's label wins over the first hour's before it."""
    kept: list[AxisLabel] = []
    for label in reversed(labels):
        if not kept or kept[-1].x - label.x >= min_gap:
            kept.append(label)
    return kept[::-1]


def hourly_chart(hours: list[HourCount], *, width: int = 960, height: int = 220) -> HourlyChart:
    """Stacked bars (inbound below, outbound above) of messages per hour, drawn as inline SVG."""
    plot_left, plot_right, plot_top, plot_bottom = 40, width - 8, 10, height - 28
    maximum = max((hour.total for hour in hours), default=0)
    scale_top = _nice_ceiling(maximum)
    slot = (plot_right - plot_left) / max(len(hours), 1)
    bar_width = max(slot * 0.8, 1.0)
    plot_height = plot_bottom - plot_top

    def height_of(value: int) -> float:
        return plot_height * value / scale_top if scale_top else 0.0

    bars, labels = [], []
    for index, hour in enumerate(hours):
        x = plot_left + index * slot + (slot - bar_width) / 2
        height_in, height_out = height_of(hour.inbound), height_of(hour.outbound)
        bars.append(
            Bar(
                x=round(x, 2),
                width=round(bar_width, 2),
                y_in=round(plot_bottom - height_in, 2),
                height_in=round(height_in, 2),
                y_out=round(plot_bottom - height_in - height_out, 2),
                height_out=round(height_out, 2),
                title=f"{hour.hour:%a %d %b %H:00}: {hour.inbound} in, {hour.outbound} out",
                query=urlencode(
                    {
                        "after": hour.hour.astimezone(dt.UTC).isoformat(),
                        "before": (hour.hour + dt.timedelta(hours=1)).astimezone(dt.UTC).isoformat(),
                    }
                ),
            )
        )
        if hour.hour.hour == 0 or index == 0:
            labels.append(AxisLabel(x=round(plot_left + index * slot, 2), text=f"{hour.hour:%a %d %b}"))
    labels = _labels_spaced(labels, min_gap=AXIS_LABEL_MIN_GAP)
    gridlines = (
        [(round(plot_bottom - plot_height * step / 4, 2), scale_top * step // 4) for step in range(1, 5)]
        if scale_top
        else []
    )
    return HourlyChart(
        width=width,
        height=height,
        plot_top=plot_top,
        plot_bottom=plot_bottom,
        bars=bars,
        labels=labels,
        gridlines=gridlines,
        maximum=maximum,
        total_in=sum(hour.inbound for hour in hours),
        total_out=sum(hour.outbound for hour in hours),
    )


def _nice_ceiling(value: int) -> int:
    """The smallest 4 x (1, 2 or 5 x 10^k) that is at least `value`: four whole gridlines."""
    if value <= 0:
        return 0
    magnitude = 1
    while True:
        for multiple in (1, 2, 5):
            if 4 * multiple * magnitude >= value:
                return 4 * multiple * magnitude
        magnitude *= 10


# ------------------------------------------------------------------------------ registry history


def period_text(start: dt.date | None, end: dt.date | None) -> str:
    if start is None:
        return ""
    return f"{start.isoformat()} – {end.isoformat() if end else 'open-ended'}"


@dataclass(frozen=True, kw_only=True)
class ChangeLine:
    sign: str  # "+" recorded, "−" superseded
    kind: str
    text: str


@dataclass(kw_only=True)
class Change:
    """What one message (or one CSV import / admin action) changed about an entity."""

    at: dt.datetime
    message: Message | None
    source: str
    lines: list[ChangeLine]


def _row_text(kind: str, row) -> str:
    period = period_text(row.start_period, row.end_period)
    if kind == "congestion point":
        return (
            f"{period}; MutexOffersSupported={'true' if row.mutex_offers_supported else 'false'}, "
            f"DayAheadRedispatchBy={row.day_ahead_redispatch_by}, "
            f"IntradayRedispatchBy={row.intraday_redispatch_by or '—'}"
        )
    if kind == "membership":
        return f"{row.connection_address} in {row.congestion_point.entity_address}: {period}"
    return f"{row.connection_address} represented by {row.agr.domain}: {period}"


def _line_order(line: ChangeLine) -> tuple:
    entity = "" if line.kind == "congestion point" else line.text.split(":")[0]
    return (line.kind, entity, line.sign != "−", line.text)


def history_events(history) -> list[Change]:
    """An entity's rows (registry.selectors.registry_history.entity_history) as changes, newest first.

    Rows are never edited: a change supersedes old rows and records new ones at one moment, by
    one message, so rows are grouped by (moment, message).
    """
    groups: dict[tuple, Change] = {}

    def add(at, message, source, line):
        key = (at, message.pk if message is not None else None)
        change = groups.get(key)
        if change is None:
            change = groups[key] = Change(at=at, message=message, source=source, lines=[])
        if source and not change.source:
            change.source = source
        change.lines.append(line)

    for kind, rows in (
        ("congestion point", history.versions),
        ("membership", history.memberships),
        ("representation", history.representations),
    ):
        for row in rows:
            text = _row_text(kind, row)
            add(row.recorded_at, row.recorded_by, row.source, ChangeLine(sign="+", kind=kind, text=text))
            if row.superseded_at is not None:
                add(row.superseded_at, row.superseded_by, "", ChangeLine(sign="−", kind=kind, text=text))
    changes = sorted(groups.values(), key=lambda change: change.at, reverse=True)
    for change in changes:
        # Per kind and entity: what was (−) before what is (+).
        change.lines.sort(key=_line_order)
    return changes


# ------------------------------------------------------------------------------ CP timeline


@dataclass(frozen=True, kw_only=True)
class Segment:
    x: float
    width: float
    current: bool
    open_ended: bool
    title: str


@dataclass(frozen=True, kw_only=True)
class TimelineRow:
    label: str
    y: float
    segments: list[Segment]
    title: str = ""  # the connections of a grouped row
    group_size: int = 1


@dataclass(frozen=True, kw_only=True)
class Timeline:
    width: int
    height: int
    label_width: int
    rows: list[TimelineRow]
    ticks: list[AxisLabel]
    today_x: float | None
    axis_bottom: float
    connection_count: int
    rows_not_shown: int  # groups beyond max_rows


# Month steps between axis labels, the smallest that keeps them at least ~70 px apart.
_TICK_MONTH_STEPS = (1, 2, 3, 6, 12, 24, 60, 120)
TIMELINE_MAX_ROWS = 40


def _row_signature(rows) -> tuple:
    return tuple(
        sorted(
            (row.start_period, row.end_period or dt.date.max, row.superseded_at is None, row.superseded_at)
            for row in rows
        )
    )


def membership_timeline(
    memberships, *, versions, today: dt.date, width: int = 960, max_rows: int = TIMELINE_MAX_ROWS
) -> Timeline | None:
    """Valid time of the CP's versions and of its connections' memberships (current solid,
    superseded faded), drawn as inline SVG.

    Connections with the very same rows (periods, and superseded at the same moment) share one
    row ("312 connections"), so a CP of hundreds of identical connections stays a few rows high;
    at most `max_rows` rows are drawn. Axis labels are spaced to stay readable whatever the span.
    """
    by_connection: dict[str, list] = {}
    for membership in memberships:
        by_connection.setdefault(membership.connection_address, []).append(membership)
    groups: dict[tuple, list[str]] = {}
    for address, rows in by_connection.items():
        groups.setdefault(_row_signature(rows), []).append(address)
    labelled: list[tuple[str, str, int, list]] = []  # (label, title, size, rows)
    if versions:
        labelled.append(("congestion point", "", 1, list(versions)))
    for addresses in sorted(groups.values(), key=lambda group: (-len(group), group[0])):
        rows = by_connection[addresses[0]]
        if len(addresses) == 1:
            labelled.append((addresses[0], addresses[0], 1, rows))
        else:
            shown = ", ".join(addresses[:5]) + (
                f" and {len(addresses) - 5} more" if len(addresses) > 5 else ""
            )
            labelled.append((f"{len(addresses)} connections", shown, len(addresses), rows))
    if not labelled:
        return None
    rows_not_shown = max(len(labelled) - max_rows, 0)
    labelled = labelled[:max_rows]
    all_rows = [row for *_, rows in labelled for row in rows]
    first = min(row.start_period for row in all_rows)
    last = max([row.end_period or row.start_period for row in all_rows] + [today])
    last = last + dt.timedelta(days=max((last - first).days // 10, 30))
    label_width, right = 230, width - 10
    span = max((last - first).days, 1)

    def x_of(day: dt.date) -> float:
        return round(label_width + (right - label_width) * (day - first).days / span, 2)

    row_height, top = 22, 24
    timeline_rows = []
    for index, (label, title, size, rows) in enumerate(labelled):
        segments = []
        for row in sorted(rows, key=lambda r: (r.superseded_at is None, r.recorded_at)):
            end = row.end_period or last
            x = x_of(row.start_period)
            segments.append(
                Segment(
                    x=x,
                    width=max(round(x_of(end + dt.timedelta(days=1)) - x, 2), 2.0)
                    if row.end_period
                    else round(right - x, 2),
                    current=row.superseded_at is None,
                    open_ended=row.end_period is None,
                    title=f"{period_text(row.start_period, row.end_period)}"
                    f"{'' if row.superseded_at is None else f' (superseded {row.superseded_at:%Y-%m-%d %H:%M})'}",
                )
            )
        timeline_rows.append(
            TimelineRow(
                label=label, y=top + index * row_height, segments=segments, title=title, group_size=size
            )
        )
    height = top + len(timeline_rows) * row_height + 24
    return Timeline(
        width=width,
        height=height,
        label_width=label_width,
        rows=timeline_rows,
        ticks=timeline_ticks(first=first, last=last, x_of=x_of, plot_width=right - label_width),
        today_x=x_of(today) if first <= today <= last else None,
        axis_bottom=height - 16,
        connection_count=len(by_connection),
        rows_not_shown=rows_not_shown,
    )


def timeline_ticks(*, first: dt.date, last: dt.date, x_of, plot_width: float) -> list[AxisLabel]:
    """Month-start labels every 1, 2, 3, 6, 12... months: as many as fit ~70 px apart, at least two."""
    months = (last.year - first.year) * 12 + last.month - first.month + 1
    step = next(
        (step for step in _TICK_MONTH_STEPS if plot_width * step / max(months, 1) >= 70),
        _TICK_MONTH_STEPS[-1],
    )
    ticks: list[AxisLabel] = []
    # Start at the first month start on or after `first` that is a multiple of the step.
    year, month = first.year, first.month + (first.day > 1)
    if month > 12:
        year, month = year + 1, 1
    while (month - 1) % step and step <= 12:
        month += 1
        if month > 12:
            year, month = year + 1, 1
    while (tick := dt.date(year, month, 1)) <= last:
        text = f"{tick:%b %Y}" if step >= 12 or month == 1 or not ticks else f"{tick:%b}"
        ticks.append(AxisLabel(x=x_of(tick), text=text))
        month += step
        year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    if len(ticks) < 2:
        ticks = [
            AxisLabel(x=x_of(first), text=first.isoformat()),
            AxisLabel(x=x_of(last), text=last.isoformat()),
        ]
    return ticks


# ------------------------------------------------------------------------------ TestMessages

# A peer answers a TestMessage within seconds; after this long the page stops waiting.
TEST_ANSWER_PATIENCE = dt.timedelta(minutes=2)


def test_messages_waiting(test_messages: list[Message], *, now: dt.datetime) -> list[Message]:
    """Each unanswered, undelivered-or-delivered TestMessage gets `waiting` (still expected: the page
    polls) or `no_answer_minutes` (given up on: "no answer after N minutes")."""
    for test in test_messages:
        test.waiting, test.no_answer_minutes = False, None
        if test.answers or test.status == Message.Status.FAILED:
            continue
        waited = now - test.created_at
        if waited < TEST_ANSWER_PATIENCE:
            test.waiting = True
        else:
            test.no_answer_minutes = int(waited.total_seconds() // 60)
    return test_messages
