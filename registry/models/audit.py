"""The audit trail: who changed what, when, with the values before and after."""

from django.conf import settings
from django.db import models


class AuditEntry(models.Model):
    """One administrator write. Written by services.audit, never edited afterwards."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Kept apart from the foreign key so that the trail survives a deleted user.
    username = models.CharField(max_length=150, blank=True, default="")
    # Where the action came from: "web", "api" or "command".
    channel = models.CharField(max_length=16)
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64, blank=True, default="")
    object_repr = models.CharField(max_length=300, blank=True, default="")
    reason = models.TextField(blank=True, default="")
    # {"field": [before, after], ...}
    changes = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id", "at"], name="audit_object_idx")]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.username or '-'} {self.action} {self.object_repr}"
