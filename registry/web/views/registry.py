"""The registry: congestion points with their connections, a CP's timeline, an AGR's portfolio on
a day, the history of any entity, and the CSV export of the current selection."""

import datetime as dt

from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

from registry.selectors import agr_portfolio_pages, registry_history, registry_state
from registry.selectors import dso_portfolio as dso_portfolio_selectors
from registry.selectors import imports as import_selectors
from registry.selectors.market_days import market_today
from registry.services import csv_io
from registry.web.access import staff_required
from registry.web.filters import RegistryFilterSet
from registry.web.forms import (
    AgrPortfolioForm,
    DsoPortfolioForm,
    EntityHistoryForm,
    RegistryFilterForm,
    today_initial,
)
from registry.web.presentation import history_events, membership_timeline, paginate
from registry.web.tables import PER_PAGE_CHOICES, CongestionPointTable, table_configure

CONNECTIONS_PER_CP = 10


@staff_required
def registry_list(request: HttpRequest) -> HttpResponse:
    filterset = RegistryFilterSet(
        request.GET or None,
        queryset=registry_state.congestion_point_base_list(),
        connections_per_cp=CONNECTIONS_PER_CP,
    )
    selection = filterset.selection()
    table = table_configure(request, CongestionPointTable(filterset.qs), per_page=25)
    page = [row.record for row in table.page.object_list]
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
            "filterset": filterset,
            "selection": selection,
            "table": table,
            "records": page,
            "per_page_choices": PER_PAGE_CHOICES,
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


def _csv_imports_attach(rows) -> None:
    """`row.csv_import`: the import that recorded each row written by a CSV import (1 query)."""
    from_csv = [row for row in rows if row.source == csv_io.CSV_SOURCE and row.recorded_by_id is None]
    found = import_selectors.csv_imports_at(moments=[row.recorded_at for row in from_csv])
    for row in from_csv:
        row.csv_import = found.get(row.recorded_at)


def _representations_attach(memberships) -> None:
    """`membership.agr_list`: who represents the connection during the membership's Period,
    as the registry knows it now (1 query)."""
    representations = registry_state.representations_by_connection(
        addresses=sorted({membership.connection_address for membership in memberships})
    )
    for membership in memberships:
        end = membership.end_period or dt.date.max
        membership.agr_list = [
            representation
            for representation in representations.get(membership.connection_address, [])
            if representation.start_period <= end
            and (representation.end_period is None or representation.end_period >= membership.start_period)
        ]


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
    _representations_attach(page.object_list)
    _csv_imports_attach([*versions, *page.object_list])
    return render(
        request,
        "web/congestion_point_detail.html",
        {
            "nav": "registry",
            "cp": congestion_point,
            "versions": versions,
            "current_version": next((version for version in versions if version.is_current), None),
            "page": page,
            "timeline": membership_timeline(
                registry_history.congestion_point_membership_periods(congestion_point=congestion_point),
                versions=versions,
                today=market_today(),
            ),
        },
    )


@staff_required
def dso_portfolio(request: HttpRequest) -> HttpResponse:
    """A DSO's congestion points on a day with their connections and who represents each, as known
    at a moment: the DSO side of "AGR portfolio on a day"."""
    form = DsoPortfolioForm(request.GET or None, initial=today_initial())
    portfolio, cps_page, page = None, None, None
    if form.is_bound and form.is_valid():
        day, as_of = form.cleaned_data["day"], form.cleaned_data["as_of"]
        portfolio = dso_portfolio_selectors.dso_portfolio_on_day(
            dso=form.cleaned_data["dso"], day=day, as_of=as_of
        )
        cps_page = paginate(request, portfolio.congestion_points, per_page=25, param="cps")
        counts = registry_state.congestion_point_connection_counts(
            selection=portfolio.selection, congestion_point_ids=[cp.pk for cp in cps_page]
        )
        for cp in cps_page:
            cp.connection_count = counts.get(cp.pk, 0)
        page = paginate(request, portfolio.memberships, per_page=100)
        representations = registry_state.representations_by_connection(
            addresses=[membership.connection_address for membership in page], day=day, as_of=as_of
        )
        for membership in page:
            membership.agr_list = representations.get(membership.connection_address, [])
    return render(
        request,
        "web/dso_portfolio.html",
        {"nav": "registry", "form": form, "portfolio": portfolio, "cps_page": cps_page, "page": page},
    )


@staff_required
def agr_portfolio(request: HttpRequest) -> HttpResponse:
    """An AGR's portfolio on a day, 100 connections a page: only the page's rows are read."""
    form = AgrPortfolioForm(request.GET or None, initial=today_initial())
    page = None
    if form.is_bound and form.is_valid():
        rows = agr_portfolio_pages.AgrPortfolioPages(
            agr=form.cleaned_data["agr"], day=form.cleaned_data["day"]
        )
        page = paginate(request, rows, per_page=100)
    return render(request, "web/agr_portfolio.html", {"nav": "registry", "form": form, "page": page})


@staff_required
def entity_history(request: HttpRequest) -> HttpResponse:
    form = EntityHistoryForm(request.GET or None)
    history, page = None, None
    if form.is_bound and form.is_valid():
        history = registry_history.entity_history(entity_address=form.cleaned_data["address"].strip())
        page = paginate(request, history_events(history), per_page=100)
        from_csv = [
            change for change in page if change.source == csv_io.CSV_SOURCE and change.message is None
        ]
        found = import_selectors.csv_imports_at(moments=[change.at for change in from_csv])
        for change in from_csv:
            change.csv_import = found.get(change.at)
    return render(
        request,
        "web/entity_history.html",
        {"nav": "registry", "form": form, "history": history, "page": page},
    )
