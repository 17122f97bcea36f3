"""Reads of the CSV imports of DSO portfolios."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import QuerySet

from registry.models import CsvImport


def csv_import_list() -> QuerySet[CsvImport]:
    """Imports newest first, without the uploaded text and the change lists (a national import's
    preview holds hundreds of thousands of changes: a list row needs only its counts). The
    preview's refusals stay: "accepted" is their absence."""
    return (
        CsvImport.objects.select_related("dso", "created_by")
        .defer("csv_text", "preview_changes", "result_changes", "result_reasons")
        .order_by("-created_at", "-id")
    )


def csv_import_get(*, pk: int) -> CsvImport | None:
    return CsvImport.objects.select_related("dso", "created_by").filter(pk=pk).first()


def csv_imports_at(*, moments: list[dt.datetime]) -> dict[dt.datetime, CsvImport]:
    """The applied import that recorded registry rows at each of `moments` (1 query).

    Rows written by an import carry source "csv" and no message; the import that wrote them is
    the applied one whose run (from its upload to its end) holds the moment, the latest started
    if several do.
    """
    if not moments:
        return {}
    candidates = list(
        CsvImport.objects.filter(
            status=CsvImport.Status.APPLIED, created_at__lte=max(moments), finished_at__gte=min(moments)
        )
        .defer("csv_text", "preview_changes", "result_changes")
        .order_by("-created_at", "-id")
    )
    found: dict[dt.datetime, CsvImport] = {}
    for moment in set(moments):
        for candidate in candidates:
            if candidate.finished_at is not None and candidate.created_at <= moment <= candidate.finished_at:
                found[moment] = candidate
                break
    return found


@dataclass(frozen=True, kw_only=True)
class StatusBadge:
    text: str
    css_class: str


def csv_import_status_badge(*, csv_import: CsvImport) -> StatusBadge:
    """One wording of an import's state for the web badge, the polled status and the API.

    A preview the rules refused is "Rejected" (it can never be applied); while a worker has it,
    queued or applying, the badge says what the bar shows: "Applying… 30%".
    """
    status = CsvImport.Status
    if csv_import.status == status.PREVIEWED and not csv_import.preview_accepted:
        return StatusBadge(text="Rejected", css_class="rejected")
    if csv_import.status in (status.QUEUED, status.APPLYING):
        return StatusBadge(text=f"Applying… {csv_import.progress}%", css_class="applying")
    return StatusBadge(text=csv_import.get_status_display(), css_class=csv_import.status)
