"""The list pages' tables (django-tables2), NetBox-style: every column sortable by a click on its
header, a page size to choose, columns to show or hide (`?columns=`), the filters of
registry/web/filters.py above them. `table_configure` applies what the request asks."""

from __future__ import annotations

import django_tables2 as tables
from django.core.paginator import EmptyPage, PageNotAnInteger
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from registry.models import Message, Participant

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
