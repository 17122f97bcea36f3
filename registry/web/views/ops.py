"""The operational trail: refused UFTP requests and the audit trail of administrators' actions."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from registry.selectors import audit as audit_selectors
from registry.selectors import refusals as refusal_selectors
from registry.web.access import staff_required
from registry.web.presentation import paginate


@staff_required
def refusal_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    rows = refusal_selectors.refusal_list(
        sender_domain=request.GET.get("sender_domain", "").strip(),
        client_address=request.GET.get("client_address", "").strip(),
        status=int(status) if status.isdigit() and len(status) == 3 else None,
    )
    return render(
        request,
        "web/refusal_list.html",
        {"nav": "refusals", "page": paginate(request, rows, per_page=100), "query": request.GET},
    )


@staff_required
def audit_list(request: HttpRequest) -> HttpResponse:
    entries = audit_selectors.audit_entry_list(
        object_type=request.GET.get("object_type", "").strip(),
        object_id=request.GET.get("object_id", "").strip(),
        username=request.GET.get("username", "").strip(),
    )
    return render(
        request,
        "web/audit_list.html",
        {"nav": "audit", "page": paginate(request, entries, per_page=100), "query": request.GET},
    )
