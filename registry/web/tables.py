"""The list pages' tables (django-tables2), NetBox-style: every column sortable by a click on its
header, a page size to choose, columns to show or hide (`?columns=`), the filters of
registry/web/filters.py above them. `table_configure` applies what the request asks."""

from __future__ import annotations

import django_tables2 as tables
from django.core.paginator import EmptyPage, PageNotAnInteger
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import mark_safe

from registry.models import CongestionPoint, CsvImport, Message, Participant
from registry.selectors.imports import csv_import_status_badge

PER_PAGE_CHOICES = (25, 50, 100, 250)
TIME_FORMAT = "Y-m-d H:i:s"


class CroTable(tables.Table):
    """Our tables: the page's own template (our CSS, no inline style), the first column always shown."""

    class Meta:
        template_name = "web/_table.html"
        attrs = {"class": "list-table"}

    def column_choices(self) -> list[tuple[str, str, bool]]:
        """(name, header, shown) of every column but the first, for the "Columns" choice."""
        names = list(self.base_columns)
        return [(name, str(self.columns[name].header), self.columns[name].visible) for name in names[1:]]


def table_configure(request: HttpRequest, table: CroTable, *, per_page: int = 50) -> CroTable:
    """Sorting (`?sort=`), page size (`?per_page=`), page (`?page=`) and columns (`?columns=`)."""
    try:
        asked = int(request.GET.get("per_page", per_page))
    except ValueError:
        asked = per_page
    table.per_page = asked if asked in PER_PAGE_CHOICES else per_page
    chosen = request.GET.getlist("columns")
    if chosen:
        for name in list(table.base_columns)[1:]:
            if name in chosen:
                table.columns.show(name)
            else:
                table.columns.hide(name)
    tables.RequestConfig(request, paginate=False).configure(table)
    try:
        table.paginate(page=request.GET.get("page", 1), per_page=table.per_page)
    except PageNotAnInteger:
        table.paginate(page=1, per_page=table.per_page)
    except EmptyPage:
        table.paginate(page=table.paginator.num_pages, per_page=table.per_page)
    return table


def _badge(css: str, text: str):
    return format_html('<span class="badge {}">{}</span>', css, text)


class ParticipantTable(CroTable):
    domain = tables.Column(linkify=("web:participant-detail", {"pk": tables.A("pk")}))
    role = tables.Column()
    status = tables.Column()
    keys = tables.Column(empty_values=(), verbose_name="Keys", order_by=("public_key_previous",))
    endpoint_url = tables.Column(verbose_name="Endpoint", attrs={"td": {"class": "small break"}})
    source = tables.Column(attrs={"td": {"class": "small"}})
    updated_at = tables.DateTimeColumn(
        format="Y-m-d H:i", verbose_name="Updated", attrs={"td": {"class": "small nowrap"}}
    )

    class Meta(CroTable.Meta):
        model = Participant
        fields = ("domain", "role", "status", "keys", "endpoint_url", "source", "updated_at")
        order_by = ("domain", "role")
        empty_text = "No participants."

    def render_role(self, value, record):
        return _badge(record.role.lower(), value)

    def render_status(self, value, record):
        return _badge(record.status, value)

    def render_keys(self, record):
        if record.public_key_previous:
            return _badge("warn", "2 keys (rotating)")
        return "1 key"


class MessageTable(CroTable):
    created_at = tables.DateTimeColumn(
        format=TIME_FORMAT, verbose_name="Time", attrs={"td": {"class": "nowrap small"}}
    )
    direction = tables.Column(verbose_name="")
    message_type = tables.Column(
        verbose_name="Type", linkify=lambda record: reverse("web:message-detail", kwargs={"pk": record.pk})
    )
    route = tables.Column(
        empty_values=(),
        verbose_name="From → to",
        order_by=("sender_domain", "recipient_domain"),
        attrs={"td": {"class": "small"}},
    )
    status = tables.Column()
    result = tables.Column()
    message_id = tables.Column(verbose_name="MessageID", attrs={"td": {"class": "mono small"}})
    conversation_id = tables.Column(verbose_name="Conversation", attrs={"td": {"class": "mono small"}})

    class Meta(CroTable.Meta):
        model = Message
        fields = (
            "created_at",
            "direction",
            "message_type",
            "route",
            "status",
            "result",
            "message_id",
            "conversation_id",
        )
        sequence = fields
        order_by = ("-created_at",)
        empty_text = "No messages."

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("exclude", ())
        super().__init__(*args, **kwargs)
        # MessageID is there to choose; shown by default are the columns the page always had.
        self.columns.hide("message_id")

    def render_direction(self, value, record):
        return _badge(record.direction, value)

    def render_route(self, record):
        return f"{record.sender_domain} → {record.recipient_domain}"

    def render_status(self, value, record):
        badge = _badge(record.status, value)
        if record.attempts > 1:
            return format_html('{} <span class="small muted">{} attempts</span>', badge, record.attempts)
        return badge

    def render_result(self, value, record):
        return format_html(
            '<span class="badge {}" title="{}">{}</span>', value.lower(), record.rejection_reason, value
        )

    def render_conversation_id(self, value):
        url = reverse("web:conversation", kwargs={"conversation_id": value})
        short = value if len(value) <= 13 else f"{value[:12]}…"
        return format_html('<a href="{}">{}</a>', url, short)


class CongestionPointTable(CroTable):
    """The registry page: CPs of the selection, with their attributes and (the first few of) their
    connections. Only the CP's address and its DSO sort: both are columns of the CP row, indexed or
    joined to the small participant table, so a click never sorts the millions of memberships (the
    Period and attributes come from the prefetched version, the connections from a count per page)."""

    entity_address = tables.Column(
        verbose_name="Congestion point",
        linkify=("web:congestion-point-detail", {"pk": tables.A("pk")}),
        attrs={"td": {"class": "mono nowrap"}},
    )
    dso = tables.Column(
        verbose_name="DSO",
        accessor="dso__domain",
        order_by=("dso__domain", "entity_address"),
        linkify=("web:participant-detail", {"pk": tables.A("dso_id")}),
        attrs={"td": {"class": "nowrap"}},
    )
    period = tables.Column(empty_values=(), orderable=False, attrs={"td": {"class": "nowrap small"}})
    mutex = tables.Column(empty_values=(), orderable=False, verbose_name="Mutex")
    redispatch = tables.Column(
        empty_values=(), orderable=False, verbose_name="Redispatch by (day-ahead / intraday)"
    )
    connections = tables.Column(
        empty_values=(),
        orderable=False,
        verbose_name="Connections",
        attrs={"th": {"class": "num"}, "td": {"class": "num"}},
    )

    class Meta(CroTable.Meta):
        model = CongestionPoint
        fields = ("entity_address", "dso", "period", "mutex", "redispatch", "connections")
        sequence = fields
        order_by = ("dso",)
        empty_text = "No congestion points."

    @staticmethod
    def _version(record):
        versions = getattr(record, "state_versions", None)
        return versions[0] if versions else None

    def render_period(self, record):
        version = self._version(record)
        if version is None:
            return "—"
        end = version.end_period.isoformat() if version.end_period else "open"
        return f"{version.start_period.isoformat()} – {end}"

    def render_mutex(self, record):
        version = self._version(record)
        return "—" if version is None else ("yes" if version.mutex_offers_supported else "no")

    def render_connections(self, record):
        """The count, opening onto the CP's first connections (with who represents each) and a
        link to the rest. Built here, not in a template per cell: 25 CPs of 10 connections are
        250 items, which Django's template engine renders ten times slower."""
        count = getattr(record, "connection_count", 0)
        if not count:
            return "0"
        history_url = reverse("web:entity-history")
        items = []
        for membership in record.state_memberships:
            agrs = format_html_join(
                "",
                '<span class="badge agr" title="represented {} – {}">{}</span>',
                (
                    (
                        representation.start_period.isoformat(),
                        representation.end_period.isoformat() if representation.end_period else "open",
                        representation.agr.domain,
                    )
                    for representation in getattr(membership, "representation_list", ())
                ),
            )
            items.append(
                format_html(
                    '<li><a class="mono" href="{}?{}">{}</a> <span class="muted">{} – {}</span> {}</li>',
                    history_url,
                    urlencode({"address": membership.connection_address}),
                    membership.connection_address,
                    membership.start_period.isoformat(),
                    membership.end_period.isoformat() if membership.end_period else "open",
                    agrs,
                )
            )
        not_shown = getattr(record, "connections_not_shown", 0)
        if not_shown:
            items.append(
                format_html(
                    '<li class="muted">… and {} more: <a href="{}">see the timeline</a></li>',
                    not_shown,
                    reverse("web:congestion-point-detail", kwargs={"pk": record.pk}),
                )
            )
        return format_html(
            '<details><summary>{}</summary><ul class="connections small text-left">{}</ul></details>',
            count,
            mark_safe("".join(items)),  # noqa: S308 (each item built by format_html above)
        )

    def render_redispatch(self, record):
        version = self._version(record)
        if version is None:
            return "—"
        return f"{version.day_ahead_redispatch_by} / {version.intraday_redispatch_by or '—'}"


class CsvImportTable(CroTable):
    """The CSV imports: newest first. A table of uploads (one row per file), so every column sorts."""

    created_at = tables.DateTimeColumn(
        format=TIME_FORMAT,
        verbose_name="Uploaded",
        linkify=("web:import-detail", {"pk": tables.A("pk")}),
        attrs={"td": {"class": "nowrap small"}},
    )
    dso = tables.Column(verbose_name="DSO", accessor="dso__domain", order_by=("dso__domain", "-created_at"))
    file_name = tables.Column(verbose_name="File", attrs={"td": {"class": "small break"}})
    row_count = tables.Column(verbose_name="Rows", attrs={"th": {"class": "num"}, "td": {"class": "num"}})
    congestion_point_count = tables.Column(
        verbose_name="CPs", attrs={"th": {"class": "num"}, "td": {"class": "num"}}
    )
    connection_count = tables.Column(
        verbose_name="Connections", attrs={"th": {"class": "num"}, "td": {"class": "num"}}
    )
    preview = tables.Column(empty_values=(), orderable=False, verbose_name="Preview")
    status = tables.Column()
    created_by = tables.Column(
        verbose_name="By", accessor="created_by__username", default="—", attrs={"td": {"class": "small"}}
    )

    class Meta(CroTable.Meta):
        model = CsvImport
        fields = (
            "created_at",
            "dso",
            "file_name",
            "row_count",
            "congestion_point_count",
            "connection_count",
            "preview",
            "status",
            "created_by",
        )
        sequence = fields
        order_by = ("-created_at",)
        empty_text = "No imports."

    def render_preview(self, record):
        if record.preview_accepted:
            return _badge("ok", "accepted")
        return _badge("danger", "rejected")

    def render_status(self, record):
        badge = csv_import_status_badge(csv_import=record)
        return _badge(badge.css_class, badge.text)
