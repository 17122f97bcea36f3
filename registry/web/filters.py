"""The list pages' filters (django-filter), NetBox-style: a free-text search `q` beside field
filters. Each FilterSet narrows the queryset its selector gives; dates are market days."""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import Q, QuerySet

from registry.models import CongestionPoint, CsvImport, Message, Participant
from registry.selectors.market_days import market_day_bounds
from registry.selectors.messages import message_types
from registry.selectors.participants import participants_of_role
from registry.selectors.registry_state import RegistryFilter, congestion_point_state_list
from registry.web.forms import RegistryFilterForm

DATE_WIDGET = forms.DateInput(attrs={"type": "date"})


def _search(queryset: QuerySet, fields: tuple[str, ...], value: str) -> QuerySet:
    value = value.strip()
    if not value:
        return queryset
    condition = Q()
    for field in fields:
        condition |= Q(**{f"{field}__icontains": value})
    return queryset.filter(condition)


class ParticipantFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(
        label="Search",
        method="search",
        widget=forms.TextInput(attrs={"placeholder": "domain or URL", "type": "search"}),
    )
    role = django_filters.ChoiceFilter(choices=Participant.Role.choices, empty_label="any role")
    status = django_filters.ChoiceFilter(choices=Participant.Status.choices, empty_label="any status")

    class Meta:
        model = Participant
        fields = ["q", "role", "status"]

    def search(self, queryset, name, value):
        return _search(queryset, ("domain", "endpoint_url"), value)


class MessageFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(
        label="Search",
        method="search",
        widget=forms.TextInput(
            attrs={"placeholder": "MessageID, ConversationID, domain, type", "type": "search"}
        ),
    )
    direction = django_filters.ChoiceFilter(choices=Message.Direction.choices, empty_label="in and out")
    message_type = django_filters.ChoiceFilter(label="Type", empty_label="any type")
    participant = django_filters.ModelChoiceFilter(
        queryset=Participant.objects.none(), empty_label="any participant"
    )
    status = django_filters.ChoiceFilter(choices=Message.Status.choices, empty_label="any status")
    result = django_filters.ChoiceFilter(
        choices=[("Accepted", "Accepted"), ("Rejected", "Rejected")], empty_label="any result"
    )
    date_from = django_filters.DateFilter(label="From (day)", method="from_day", widget=DATE_WIDGET)
    date_to = django_filters.DateFilter(label="To (day)", method="to_day", widget=DATE_WIDGET)
    # The dashboard chart's bars link to one hour: [after, before), as aware ISO datetimes.
    after = django_filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", widget=forms.HiddenInput
    )
    before = django_filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="lt", widget=forms.HiddenInput
    )

    class Meta:
        model = Message
        fields = [
            "q",
            "direction",
            "message_type",
            "participant",
            "status",
            "result",
            "date_from",
            "date_to",
            "after",
            "before",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.filters["message_type"].extra["choices"] = [(name, name) for name in message_types()]
        self.filters["participant"].queryset = Participant.objects.order_by("domain", "role")

    def search(self, queryset, name, value):
        fields = ("message_id", "conversation_id", "sender_domain", "recipient_domain", "message_type")
        return _search(queryset, fields, value)

    def from_day(self, queryset, name, value):
        """From the start of that market day (inclusive)."""
        return queryset.filter(created_at__gte=market_day_bounds(value)[0])

    def to_day(self, queryset, name, value):
        """To the end of that market day (inclusive)."""
        return queryset.filter(created_at__lt=market_day_bounds(value)[1])


class RegistryFilterSet(django_filters.FilterSet):
    """The registry page's selection as a filter set: the fields are RegistryFilterForm's (DSO, AGR,
    active on a day, as known at a moment, address), shared with the CSV export of that selection.

    The selection is bitemporal, so it is not a set of field lookups: `qs` hands it whole to the
    selector (registry_state.congestion_point_state_list), which narrows the CPs and prefetches
    their version and first connections. Always applied, also with no parameter (the current state).
    """

    class Meta:
        model = CongestionPoint
        fields: list[str] = []
        form = RegistryFilterForm

    def __init__(self, *args, connections_per_cp: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.connections_per_cp = connections_per_cp

    def selection(self) -> RegistryFilter:
        return self.form.selection()

    @property
    def qs(self):
        if not hasattr(self, "_qs"):
            self._qs = congestion_point_state_list(
                selection=self.selection(),
                queryset=self.queryset.all(),
                connections_per_cp=self.connections_per_cp,
            )
        return self._qs


class CsvImportFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(
        label="Search",
        method="search",
        widget=forms.TextInput(attrs={"placeholder": "file name, DSO or user", "type": "search"}),
    )
    # Its own id: the upload form on the same page has a "dso" field too.
    dso = django_filters.ModelChoiceFilter(
        label="DSO",
        queryset=Participant.objects.none(),
        empty_label="any DSO",
        widget=forms.Select(attrs={"id": "id_filter_dso"}),
    )
    status = django_filters.ChoiceFilter(choices=CsvImport.Status.choices, empty_label="any status")

    class Meta:
        model = CsvImport
        fields = ["q", "dso", "status"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.filters["dso"].queryset = participants_of_role(role=Participant.Role.DSO)

    def search(self, queryset, name, value):
        return _search(queryset, ("file_name", "dso__domain", "created_by__username"), value)
