"""Reads of the CSV imports of DSO portfolios."""

from __future__ import annotations

from django.db.models import QuerySet

from registry.models import CsvImport


def csv_import_list() -> QuerySet[CsvImport]:
    return (
        CsvImport.objects.select_related("dso", "created_by").defer("csv_text").order_by("-created_at", "-id")
    )


def csv_import_get(*, pk: int) -> CsvImport | None:
    return CsvImport.objects.select_related("dso", "created_by").filter(pk=pk).first()
