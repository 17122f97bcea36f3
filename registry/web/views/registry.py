"""The registry: congestion points with their connections, a CP's timeline, an AGR's portfolio on
a day, the history of any entity, and the CSV export of the current selection."""

from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

from registry.selectors import portfolio_queries, registry_history, registry_state
from registry.selectors.market_days import market_today
from registry.services import csv_io
from registry.web.access import staff_required
from registry.web.forms import AgrPortfolioForm, EntityHistoryForm, RegistryFilterForm, today_initial
from registry.web.presentation import history_events, membership_timeline, paginate

CONNECTIONS_PER_CP = 10


@staff_required
def registry_list(request: HttpRequest) -> HttpResponse:
    form = RegistryFilterForm(request.GET or None)
    selection = form.selection()
    page = paginate(
        request,
        registry_state.congestion_point_state_list(
            selection=selection, connections_per_cp=CONNECTIONS_PER_CP
        ),
        per_page=25,
    )
    addresses = [membership.connection_address for cp in page for membership in cp.state_memberships]
    representations = registry_state.representations_by_connection(
        addresses=addresses, day=selection.day, as_of=selection.as_of
    )
    counts = registry_state.congestion_point_connection_counts(
        selection=selection, congestion_point_ids=[cp.pk for cp in page]
    )
    for cp in page:
        cp.connection_count = counts.get(cp.pk, 0)
        cp.connections_not_shown = cp.connection_count - len(cp.state_memberships)
        for membership in cp.state_memberships:
            membership.representation_list = representations.get(membership.connection_address, [])
    return render(
        request,
        "web/registry_list.html",
        {
            "nav": "registry",
            "form": form,
            "selection": selection,
            "page": page,
        },
    )


@staff_required
def registry_export(request: HttpRequest) -> StreamingHttpResponse:
    """The registry page's current selection as CSV, in the columns the import reads."""
    selection = RegistryFilterForm(request.GET or None).selection()
    parts = ["registry"]
    if selection.dso is not None:
        parts.append(selection.dso.domain)
    if selection.agr is not None:
        parts.append(selection.agr.domain)
    if selection.day is not None:
        parts.append(f"on-{selection.day.isoformat()}")
    parts.append(timezone.localtime().strftime("%Y%m%d-%H%M"))
    response = StreamingHttpResponse(
        csv_io.registry_csv_export(selection=selection), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{"_".join(parts)}.csv"'
    return response


@staff_required
def congestion_point_detail(request: HttpRequest, pk: int) -> HttpResponse:
    congestion_point = registry_history.congestion_point_get(pk=pk)
    if congestion_point is None:
        raise Http404("no such congestion point")
    page = paginate(
        request,
        registry_history.congestion_point_memberships(congestion_point=congestion_point),
        per_page=100,
    )
    versions = list(registry_history.congestion_point_versions(congestion_point=congestion_point))
    return render(
        request,
        "web/congestion_point_detail.html",
        {
            "nav": "registry",
            "cp": congestion_point,
            "versions": versions,
            "current_version": next((version for version in versions if version.is_current), None),
            "page": page,
            "timeline": membership_timeline(list(page), versions=versions, today=market_today()),
        },
    )


@staff_required
def agr_portfolio(request: HttpRequest) -> HttpResponse:
    form = AgrPortfolioForm(request.GET or None, initial=today_initial())
    connections, page = None, None
    if form.is_bound and form.is_valid():
        connections = portfolio_queries.agr_portfolio_on_day(
            agr=form.cleaned_data["agr"], day=form.cleaned_data["day"]
        )
        page = paginate(request, connections, per_page=100)
    return render(
        request,
        "web/agr_portfolio.html",
        {
            "nav": "registry",
            "form": form,
            "page": page,
            "total": len(connections) if connections is not None else 0,
            "allocated": sum(1 for c in connections if c.congestion_point) if connections else 0,
        },
    )


@staff_required
def entity_history(request: HttpRequest) -> HttpResponse:
    form = EntityHistoryForm(request.GET or None)
    history, page = None, None
    if form.is_bound and form.is_valid():
        history = registry_history.entity_history(entity_address=form.cleaned_data["address"].strip())
        page = paginate(request, history_events(history), per_page=100)
    return render(
        request,
        "web/entity_history.html",
        {"nav": "registry", "form": form, "history": history, "page": page},
    )
