from django.contrib import admin, messages
from rest_framework.authtoken.admin import TokenAdmin
from rest_framework.authtoken.models import TokenProxy

from registry.models import ApiToken, Message, Participant


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
    """The message log is evidence of what was exchanged: viewable, never added, changed or deleted."""

    list_display = ("created_at", "direction", "message_type", "sender_domain", "recipient_domain", "status")
    list_filter = ("direction", "status", "message_type")
    search_fields = ("message_id", "conversation_id", "sender_domain", "recipient_domain")
    list_select_related = ("participant",)
    raw_id_fields = ("participant", "request")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


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
