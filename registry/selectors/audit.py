"""Reads of the audit trail (models.AuditEntry)."""

from __future__ import annotations

from django.db import models
from django.db.models import QuerySet

from registry.models import AuditEntry


def audit_entry_list(
    *, object_type: str = "", object_id: str = "", username: str = ""
) -> QuerySet[AuditEntry]:
    entries = AuditEntry.objects.all()
    if object_type:
        entries = entries.filter(object_type=object_type)
    if object_id:
        entries = entries.filter(object_id=object_id)
    if username:
        entries = entries.filter(username=username)
    return entries.order_by("-at", "-id")


def audit_entries_for(*, target: models.Model) -> QuerySet[AuditEntry]:
    """The trail of one object, newest first."""
    return audit_entry_list(object_type=target._meta.model_name or "", object_id=str(target.pk))
