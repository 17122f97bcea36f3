"""Read-only API lists of the operational trail: delivery attempts, refused requests, audit entries."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets

from registry.api.filters import ApiFilterSet, IdFilter, TextFilter
from registry.api.views import ApiMixin
from registry.models import AuditEntry, DeliveryAttempt, RefusalCount


class DeliveryAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeliveryAttempt
        fields = [
            "id",
            "message",
            "number",
            "started_at",
            "duration_seconds",
            "outcome",
            "http_status",
            "error_class",
            "summary",
            "next_attempt_at",
        ]


class RefusalCountSerializer(serializers.ModelSerializer):
    class Meta:
        model = RefusalCount
        fields = [
            "id",
            "minute",
            "sender_domain",
            "sender_role",
            "client_address",
            "status",
            "reason_kind",
            "last_reason",
            "count",
            "first_at",
            "last_at",
        ]


class AuditEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "at",
            "username",
            "channel",
            "action",
            "object_type",
            "object_id",
            "object_repr",
            "reason",
            "changes",
        ]


class DeliveryAttemptFilter(ApiFilterSet):
    message = IdFilter(field_name="message_id", help_text="id of the outbound message")
    outcome = django_filters.ChoiceFilter(choices=DeliveryAttempt.Outcome.choices)

    class Meta:
        model = DeliveryAttempt
        fields: list[str] = []


class RefusalFilter(ApiFilterSet):
    sender_domain = TextFilter(help_text="the SenderDomain the refused request claimed")
    client_address = TextFilter(help_text="the client's IP address")
    status = django_filters.ChoiceFilter(
        choices=[(str(code), str(code)) for code in (400, 401, 411, 413, 419, 429)],
        method="filter_status",
        help_text="the HTTP status of the refusal",
    )

    class Meta:
        model = RefusalCount
        fields: list[str] = []

    def filter_status(self, queryset, name: str, value: str):
        return queryset.filter(status=int(value))


class AuditEntryFilter(ApiFilterSet):
    object_type = TextFilter(help_text="participant, message or csv_import")
    object_id = TextFilter(help_text="the id of the object")
    username = TextFilter(help_text="who did it")
    action = TextFilter(help_text="e.g. participant_bar")

    class Meta:
        model = AuditEntry
        fields: list[str] = []


@extend_schema_view(list=extend_schema(summary="Delivery attempts of outbound messages, newest first"))
class DeliveryAttemptViewSet(ApiMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """One row per POST of an outbound message: when, how long, the answer, the next attempt."""

    serializer_class = DeliveryAttemptSerializer
    filterset_class = DeliveryAttemptFilter
    queryset = DeliveryAttempt.objects.order_by("-started_at", "-id")


@extend_schema_view(list=extend_schema(summary="Refused UFTP requests, counted per minute"))
class RefusalViewSet(ApiMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Requests the UFTP endpoint refused, per minute and (claimed sender, address, status, reason)."""

    serializer_class = RefusalCountSerializer
    filterset_class = RefusalFilter
    queryset = RefusalCount.objects.order_by("-minute", "-last_at", "-id")


@extend_schema_view(list=extend_schema(summary="The audit trail of administrators' writes, newest first"))
class AuditEntryViewSet(ApiMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Who did what and when, with the values before and after."""

    serializer_class = AuditEntrySerializer
    filterset_class = AuditEntryFilter
    queryset = AuditEntry.objects.order_by("-at", "-id")
