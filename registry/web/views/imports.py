"""CSV import (upload, dry-run preview, apply with progress) and export of a DSO's portfolio."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from registry import roles
from registry.selectors import audit as audit_selectors
from registry.selectors import imports as import_selectors
from registry.services import csv_format, csv_io, csv_review
from registry.services.audit import audited
from registry.web.access import permission_required, staff_required
from registry.web.filters import CsvImportFilterSet
from registry.web.forms import CsvExportForm, CsvUploadForm, service_errors_to_form
from registry.web.presentation import paginate
from registry.web.tables import PER_PAGE_CHOICES, CsvImportTable, table_configure

DIFF_KINDS = ("new", "changed", "removed")


@permission_required(roles.IMPORT_CSV, methods=("POST",))
def import_home(request: HttpRequest) -> HttpResponse:
    form = CsvUploadForm(request.POST or None, request.FILES or None)
    row_errors = []
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            with audited(request=request, action="csv_import_upload") as audit:
                csv_import = csv_io.csv_import_preview(
                    dso=form.cleaned_data["dso"], data=upload.read(), file_name=upload.name, user=request.user
                )
                audit.target = csv_import
        except csv_format.CsvInvalid as exc:
            row_errors = exc.row_errors
            form.add_error("file", f"The CSV has {len(row_errors)} error(s); nothing was changed.")
        except ValidationError as exc:
            service_errors_to_form(form, exc, field_map={})
        else:
            return redirect("web:import-detail", pk=csv_import.pk)
    filterset = CsvImportFilterSet(request.GET or None, queryset=import_selectors.csv_import_list())
    table = table_configure(request, CsvImportTable(filterset.qs), per_page=25)
    return render(
        request,
        "web/import_home.html",
        {
            "nav": "import",
            "form": form,
            "row_errors": row_errors,
            "export_form": CsvExportForm(),
            "columns": csv_io.CSV_COLUMNS,
            "filterset": filterset,
            "table": table,
            "records": [row.record for row in table.page.object_list],
            "per_page_choices": PER_PAGE_CHOICES,
        },
        status=400 if form.errors else 200,
    )


def _import_or_404(pk: int):
    csv_import = import_selectors.csv_import_get(pk=pk)
    if csv_import is None:
        raise Http404("no such import")
    return csv_import


@staff_required
def import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The dry-run preview before the apply, its progress during, and the outcome after.

    The changes are a diff table with new/changed/removed counts, the rejections carry their
    CSV lines; both paginated, the table narrowed to one kind with ?show=.
    """
    csv_import = _import_or_404(pk)
    applied = csv_import.status in (csv_import.Status.APPLIED, csv_import.Status.REJECTED)
    review = csv_review.csv_import_review(
        csv_text=csv_import.csv_text,
        changes=csv_import.result_changes if applied else csv_import.preview_changes,
        reasons=csv_import.result_reasons if applied else csv_import.preview_reasons,
    )
    show = request.GET.get("show", "")
    rows = [row for row in review.rows if row.kind == show] if show in DIFF_KINDS else review.rows
    return render(
        request,
        "web/import_detail.html",
        {
            "nav": "import",
            "job": csv_import,
            "badge": import_selectors.csv_import_status_badge(csv_import=csv_import),
            "applied": applied,
            "review": review,
            "show": show if show in DIFF_KINDS else "",
            "change_count": len(review.rows),
            "changes": paginate(request, rows, per_page=100, param="changes"),
            "reasons": paginate(request, review.rejections, per_page=100, param="reasons"),
            "audit_entries": audit_selectors.audit_entries_for(target=csv_import)[:20],
        },
    )


@staff_required
def import_sample(request: HttpRequest) -> HttpResponse:
    """A small CSV in the import's format, to start from."""
    response = HttpResponse(csv_review.csv_sample(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="cro-portfolio-sample.csv"'
    return response


@permission_required(roles.IMPORT_CSV)
@require_POST
def import_apply(request: HttpRequest, pk: int) -> HttpResponse:
    csv_import = _import_or_404(pk)
    try:
        with audited(request=request, action="csv_import_apply", target=csv_import):
            csv_io.csv_import_queue(csv_import=csv_import)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("web:import-detail", pk=csv_import.pk)


@staff_required
def import_status(request: HttpRequest, pk: int) -> JsonResponse:
    """Polled by the progress page."""
    csv_import = _import_or_404(pk)
    badge = import_selectors.csv_import_status_badge(csv_import=csv_import)
    return JsonResponse(
        {
            "id": csv_import.pk,
            "status": csv_import.status,
            "status_display": badge.text,
            "badge_class": badge.css_class,
            "progress": csv_import.progress,
            "phase": csv_import.phase,
            "final": csv_import.is_final,
            "error": csv_import.error,
            "url": reverse("web:import-detail", kwargs={"pk": csv_import.pk}),
        }
    )
