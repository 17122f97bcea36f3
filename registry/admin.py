from django.contrib import admin, messages
from rest_framework.authtoken.admin import TokenAdmin
from rest_framework.authtoken.models import TokenProxy

from registry.models import (
    ApiToken,
    AuditEntry,
    DeliveryAttempt,
    Heartbeat,
    Message,
    Participant,
    RefusalCount,
)


class RecordAdmin(admin.ModelAdmin):
    """A record: viewable, never added, changed or deleted here."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Participant)
class ParticipantAdmin(RecordAdmin):
    """Read-only: participants are written through registry.services.participants (the web pages,
    the API and the commands), which keep the keys' rules."""

    list_display = ("domain", "role", "status", "endpoint_url", "newest_version", "source", "updated_at")
    list_filter = ("role", "status", "source")
    search_fields = ("domain",)
    fields = (
        "domain",
        "role",
        "status",
        "source",
        "newest_version",
        "endpoint_url",
        "endpoints",
        "endpoints_by_major",
        "public_key",
        "public_key_previous",
        "created_at",
        "updated_at",
    )
    readonly_fields = ("endpoints_by_major",)

    @admin.display(description="endpoint per major version (recorded or derived)")
    def endpoints_by_major(self, participant: Participant) -> str:
        return "; ".join(f"v{major}: {url}" for major, url in participant.endpoints_by_major.items())


@admin.register(AuditEntry)
class AuditEntryAdmin(RecordAdmin):
    """The operations trail: who did what, through which channel."""

    list_display = ("at", "username", "channel", "action", "object_type", "object_repr")
    list_filter = ("channel", "action", "object_type")
    search_fields = ("username", "action", "object_id", "object_repr")


@admin.register(RefusalCount)
class RefusalCountAdmin(RecordAdmin):
    """Refused requests, counted per minute, sender and reason."""

    list_display = (
        "minute",
        "sender_domain",
        "sender_role",
        "client_address",
        "status",
        "reason_kind",
        "count",
    )
    list_filter = ("status", "reason_kind", "sender_role")
    search_fields = ("sender_domain", "client_address", "last_reason")


@admin.register(DeliveryAttempt)
class DeliveryAttemptAdmin(RecordAdmin):
    """Each try to deliver an outbound message."""

    list_display = (
        "started_at",
        "message",
        "number",
        "outcome",
        "http_status",
        "error_class",
        "duration_seconds",
    )
    list_filter = ("outcome",)
    raw_id_fields = ("message",)
    list_select_related = ("message",)


@admin.register(Heartbeat)
class HeartbeatAdmin(RecordAdmin):
    """The last beat of each worker and scheduler process."""

    list_display = ("component", "node", "beat_at")
    list_filter = ("component",)


@admin.register(Message)
class MessageAdmin(RecordAdmin):
    """The message log is evidence of what was exchanged: viewable, never added, changed or deleted."""

    list_display = ("created_at", "direction", "message_type", "sender_domain", "recipient_domain", "status")
    list_filter = ("direction", "status", "message_type")
    search_fields = ("message_id", "conversation_id", "sender_domain", "recipient_domain")
    list_select_related = ("participant",)
    raw_id_fields = ("participant", "request")


# DRF's own token admin lists every key in clear: replaced by one that shows a prefix.
admin.site.unregister(TokenProxy)


@admin.register(ApiToken)
class ApiTokenAdmin(TokenAdmin):
    list_display = ("key_prefix", "user", "created")

    @admin.display(description="key")
    def key_prefix(self, token: ApiToken) -> str:
        return token.key_prefix

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        if not change:
            # The only time the key is shown: whoever creates it hands it to the API client.
            messages.warning(request, f"The new API token of {obj.user} is {obj.key}. It is not shown again.")
