from django.contrib import admin

from registry.models import Message, Participant


@admin.register(Participant)
class ParticipantAdmin(admin.ModelAdmin):
    """Read-only: participants are written through registry.services.participants (the web pages,
    the API and the commands), which keep the keys' rules."""

    list_display = ("domain", "role", "status", "endpoint_url", "source", "updated_at")
    list_filter = ("role", "status", "source")
    search_fields = ("domain",)
    fields = ("domain", "role", "status", "source", "endpoint_url", "public_key", "public_key_previous")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("created_at", "direction", "message_type", "sender_domain", "recipient_domain", "status")
    list_filter = ("direction", "status", "message_type")
    search_fields = ("message_id", "conversation_id", "sender_domain", "recipient_domain")
    list_select_related = ("participant",)
    raw_id_fields = ("participant", "request")
