"""Query parameters of the API lists: plain filters, and the two time axes of the registry.

- `as_of` (ISO date-time): the registry as it was known at that moment (transaction time);
- `active_on` (YYYY-MM-DD): only what is in force on that day (valid time, inclusive Periods);
- `created_after` / `created_before`: the half-open range [after, before) of the creation time
  (`recorded_at` for registry history rows).

Every parameter is validated: a malformed value is a 400 with the parameter's error, never ignored.
"""

from __future__ import annotations

import datetime as dt

import django_filters
from django import forms
from django.db.models import Q, QuerySet
from django_filters.fields import IsoDateTimeField
from drf_spectacular.utils import extend_schema_field

from registry.models import (
    CongestionPoint,
    CongestionPointVersion,
    Membership,
    Message,
    Participant,
    Representation,
)
from registry.selectors import registry_history, registry_state

# Largest value of a signed 64-bit primary key.
MAX_ID = 2**63 - 1
_UTC_MIN = dt.datetime.min.replace(tzinfo=dt.UTC)
_UTC_MAX = dt.datetime.max.replace(tzinfo=dt.UTC)


class TextFilter(django_filters.CharFilter):
    """Text; a NUL character is refused (no database stores one in text; see ApiAutoSchema)."""


class InstantField(IsoDateTimeField):
    """An ISO 8601 date-time, in UTC. A moment whose UTC time falls outside years 1..9999 (e.g.
    0001-01-01T00:00:00+01:00) is clamped to the first or last representable moment."""

    def to_python(self, value):
        try:
            result = super().to_python(value)
        except OverflowError as exc:  # pragma: no cover - parse_datetime raises ValueError first
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from exc
        if result is None:
            return None
        try:
            return result.astimezone(dt.UTC)
        except OverflowError:
            return _UTC_MIN if result.year == dt.MINYEAR else _UTC_MAX


class InstantFilter(django_filters.IsoDateTimeFilter):
    field_class = InstantField


class IdField(forms.IntegerField):
    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)


class IdFilter(django_filters.Filter):
    field_class = IdField

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        schema = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
        if self.extra.get("help_text"):
            schema["description"] = self.extra["help_text"]
        extend_schema_field(schema)(self)


# A boolean that refuses anything but true/false (django-filter's BooleanFilter ignores junk).
BOOLEAN_CHOICES = [("true", "true"), ("false", "false")]


def _as_bool(value: str | None) -> bool | None:
    return None if value in (None, "") else value == "true"


class StrictFilterForm(forms.Form):
    """An empty value is no date, number or choice: refuse it rather than ignore it (an empty
    text parameter stays "no filter", as everywhere in django-filter)."""

    def clean(self):
        cleaned = super().clean()
        for name, field in self.fields.items():
            if not isinstance(field, forms.CharField) and self.data.get(name) == "":
                self.add_error(name, "must not be empty")
        return cleaned


class ApiFilterSet(django_filters.FilterSet):
    def get_form_class(self):
        return type(
            f"{type(self).__name__}Form", (StrictFilterForm,), dict(super().get_form_class().base_fields)
        )


class CreatedRangeFilterSet(ApiFilterSet):
    """created_after / created_before on the field named by `created_field`."""

    created_field = "created_at"

    created_after = InstantFilter(method="filter_created_after", help_text="created at or after this moment")
    created_before = InstantFilter(method="filter_created_before", help_text="created before this moment")

    def filter_created_after(self, queryset: QuerySet, name: str, value: dt.datetime) -> QuerySet:
        return queryset.filter(**{f"{self.created_field}__gte": value})

    def filter_created_before(self, queryset: QuerySet, name: str, value: dt.datetime) -> QuerySet:
        return queryset.filter(**{f"{self.created_field}__lt": value})


def _state_param(queryset: QuerySet, name: str, value) -> QuerySet:
    """as_of / active_on are applied as a whole by the FilterSet (they also shape the prefetches)."""
    return queryset


AS_OF_HELP = "the registry as it was known at this moment (ISO 8601 date-time); default: now"
ACTIVE_ON_HELP = "only what is active on this day (YYYY-MM-DD; Periods are inclusive)"


def _as_of_filter() -> InstantFilter:
    return InstantFilter(method=_state_param, help_text=AS_OF_HELP)


def _active_on_filter() -> django_filters.DateFilter:
    return django_filters.DateFilter(method=_state_param, help_text=ACTIVE_ON_HELP)


class ParticipantFilter(CreatedRangeFilterSet):
    domain = TextFilter(field_name="domain", help_text="exact domain")
    domain_contains = TextFilter(field_name="domain", lookup_expr="icontains")

    class Meta:
        model = Participant
        fields = ["role", "status", "source"]


class CongestionPointFilter(CreatedRangeFilterSet):
    dso = TextFilter(field_name="dso__domain", help_text="domain of the owning DSO")
    entity_address = TextFilter(
        field_name="entity_address", help_text="entity address of the congestion point"
    )
    connection = TextFilter(
        method=_state_param, help_text="only congestion points holding this connection (entity address)"
    )
    agr = TextFilter(
        method=_state_param,
        help_text="domain of an AGR: only congestion points holding a connection it represents, "
        "listing only its connections",
    )
    as_of = _as_of_filter()
    active_on = _active_on_filter()

    class Meta:
        model = CongestionPoint
        fields: list[str] = []

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        data = self.form.cleaned_data
        queryset = super().filter_queryset(queryset)
        selection = registry_state.RegistryFilter(
            as_of=data.get("as_of"),
            day=data.get("active_on"),
            agr=data.get("agr") or None,
            connection=data.get("connection") or "",
        )
        return registry_state.congestion_point_state_list(selection=selection, queryset=queryset)


class AgrPortfolioFilter(CreatedRangeFilterSet):
    agr = TextFilter(field_name="domain", help_text="domain of the AGR")
    status = django_filters.ChoiceFilter(choices=Participant.Status.choices, help_text="status of the AGR")
    entity_address = TextFilter(
        method=_state_param, help_text="only AGRs representing this connection (entity address)"
    )
    as_of = _as_of_filter()
    active_on = _active_on_filter()

    class Meta:
        model = Participant
        fields: list[str] = []

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        data = self.form.cleaned_data
        queryset = super().filter_queryset(queryset)
        return registry_state.agr_portfolio_state_list(
            queryset=queryset,
            as_of=data.get("as_of"),
            day=data.get("active_on"),
            connection=data.get("entity_address") or "",
        )


class HistoryFilterSet(CreatedRangeFilterSet):
    """Rows of a bitemporal table: all of them, unless narrowed."""

    created_field = "recorded_at"

    as_of = _as_of_filter()
    active_on = _active_on_filter()
    current = django_filters.ChoiceFilter(
        choices=BOOLEAN_CHOICES,
        method=_state_param,
        help_text="true: only current rows; false: only superseded rows",
    )

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        data = self.form.cleaned_data
        queryset = super().filter_queryset(queryset)
        return registry_history.recorded_row_list(
            queryset=queryset,
            as_of=data.get("as_of"),
            day=data.get("active_on"),
            current=_as_bool(data.get("current")),
        )


class CongestionPointVersionFilter(HistoryFilterSet):
    dso = TextFilter(field_name="congestion_point__dso__domain", help_text="domain of the DSO")
    entity_address = TextFilter(
        field_name="congestion_point__entity_address", help_text="entity address of the congestion point"
    )

    class Meta:
        model = CongestionPointVersion
        fields: list[str] = []


class MembershipFilter(HistoryFilterSet):
    dso = TextFilter(field_name="congestion_point__dso__domain", help_text="domain of the DSO")
    congestion_point = TextFilter(
        field_name="congestion_point__entity_address", help_text="entity address of the congestion point"
    )
    entity_address = TextFilter(field_name="connection_address", help_text="entity address of the connection")

    class Meta:
        model = Membership
        fields: list[str] = []


class RepresentationFilter(HistoryFilterSet):
    agr = TextFilter(field_name="agr__domain", help_text="domain of the AGR")
    entity_address = TextFilter(field_name="connection_address", help_text="entity address of the connection")

    class Meta:
        model = Representation
        fields: list[str] = []


class MessageFilter(CreatedRangeFilterSet):
    direction = django_filters.ChoiceFilter(choices=Message.Direction.choices)
    status = django_filters.ChoiceFilter(choices=Message.Status.choices)
    message_type = TextFilter(help_text="e.g. DSOPortfolioUpdate")
    result = TextFilter(help_text="Accepted or Rejected (responses)")
    message_id = TextFilter(help_text="UFTP MessageID")
    conversation_id = TextFilter(help_text="UFTP ConversationID")
    participant = IdFilter(field_name="participant_id", help_text="id of the DSO or AGR on the other side")
    domain = TextFilter(method="filter_domain", help_text="sender or recipient domain")
    dso = TextFilter(method="filter_dso", help_text="domain of the DSO on the other side")
    agr = TextFilter(method="filter_agr", help_text="domain of the AGR on the other side")
    include = django_filters.ChoiceFilter(
        choices=[("xml", "xml")],
        method=_state_param,
        help_text="xml: add the raw signed_xml and inner_xml of each message",
    )

    class Meta:
        model = Message
        fields: list[str] = []

    def filter_domain(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(Q(sender_domain=value) | Q(recipient_domain=value))

    def filter_dso(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(participant__domain=value, participant__role=Participant.Role.DSO)

    def filter_agr(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(participant__domain=value, participant__role=Participant.Role.AGR)


class QueryAnswerForm(StrictFilterForm):
    """Parameters of an AGR's AGRPortfolioQuery answer."""

    period = forms.DateField(help_text="the Period (day) the AGR asks about, YYYY-MM-DD")
    as_of = InstantField(required=False, help_text=AS_OF_HELP)
