"""The audit trail of administrators' writes: who, what, when, the values before and after.

Called by the web views and the API around each service call:

    with audited(request=request, action="participant_bar", target=participant, reason=reason):
        participants.participant_bar(participant=participant)

The target is snapshotted before and after; the entry is written in the same transaction as
the change, and only when the change succeeded (an exception rolls both back).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.db import models, transaction

from registry.models import AuditEntry

# Columns never worth recording: bulky (XML, CSV text, previews) or changing on every write.
_SKIPPED = {
    "signed_xml",
    "inner_xml",
    "csv_text",
    "preview_changes",
    "preview_reasons",
    "result_changes",
    "result_reasons",
    "created_at",
    "updated_at",
}


@dataclass
class AuditContext:
    target: models.Model | None
    before: dict = field(default_factory=dict)
    # The block may complete the reason with what it found (e.g. the value it replaced).
    reason: str = ""


def audit_snapshot(obj: models.Model | None) -> dict:
    """The recordable columns of `obj`, JSON-ready."""
    if obj is None:
        return {}
    values = {}
    for column in obj._meta.concrete_fields:
        if column.name in _SKIPPED:
            continue
        value = getattr(obj, column.attname)
        if isinstance(value, dt.datetime | dt.date):
            value = value.isoformat()
        values[column.attname] = value
    return values


def audit_changes(*, before: dict, after: dict) -> dict:
    """{column: [before, after]} for every column that differs."""
    return {
        key: [before.get(key), after.get(key)]
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    }


def _channel(request) -> str:
    return "api" if request.path.startswith("/api/") else "web"


def audit_record(
    *,
    user,
    channel: str,
    action: str,
    target: models.Model | None,
    reason: str = "",
    before: dict | None = None,
    after: dict | None = None,
) -> AuditEntry:
    authenticated = user is not None and user.is_authenticated
    return AuditEntry.objects.create(
        user=user if authenticated else None,
        username=user.get_username() if authenticated else "",
        channel=channel,
        action=action,
        object_type=(target._meta.model_name or "") if target is not None else "",
        object_id=str(target.pk) if target is not None else "",
        object_repr=str(target)[:300] if target is not None else "",
        reason=reason,
        changes=audit_changes(before=before or {}, after=after or {}),
    )


@contextmanager
def audited(
    *, request, action: str, target: models.Model | None = None, reason: str = ""
) -> Iterator[AuditContext]:
    """Record `action` on `target` by the request's user if the block succeeds. A block that
    creates its target sets `context.target`."""
    context = AuditContext(target=target, before=audit_snapshot(target), reason=reason)
    with transaction.atomic():
        yield context
        after = None
        if context.target is not None:
            context.target.refresh_from_db()
            after = audit_snapshot(context.target)
        audit_record(
            user=request.user,
            channel=_channel(request),
            action=action,
            target=context.target,
            reason=context.reason,
            before=context.before,
            after=after,
        )
