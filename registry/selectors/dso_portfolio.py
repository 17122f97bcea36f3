"""A DSO's portfolio on a day, as known at a moment: its congestion points, their connections and
the AGR representing each (the DSO side of "AGR portfolio on a day"). Built on
registry_state.registry_rows, the one "known at T, active on D" definition."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import QuerySet

from registry.models import CongestionPoint, Membership, Participant
from registry.selectors import registry_state


@dataclass(frozen=True, kw_only=True)
class DsoPortfolio:
    """Lazy: each list costs one query when evaluated (or per page when paginated)."""

    congestion_points: QuerySet[CongestionPoint]  # each with `state_versions` (its one version then)
    memberships: QuerySet[Membership]  # by CP then connection, with `congestion_point`
    selection: registry_state.RegistryFilter  # for registry_state.congestion_point_connection_counts


def dso_portfolio_on_day(*, dso: Participant, day: dt.date, as_of: dt.datetime | None = None) -> DsoPortfolio:
    """The DSO's CPs active on `day` and their connections on `day`, as known at `as_of` (None: now).

    Who represents each connection: registry_state.representations_by_connection, for one page.
    """
    selection = registry_state.RegistryFilter(as_of=as_of, day=day, dso=dso)
    # One connection per CP is prefetched (and not shown): the page counts them instead.
    congestion_points = registry_state.congestion_point_state_list(selection=selection, connections_per_cp=1)
    rows = registry_state.registry_rows(as_of=as_of, day=day)
    memberships = (
        rows.memberships.filter(congestion_point__dso=dso)
        .filter(congestion_point__in=congestion_points.values("pk"))
        .select_related("congestion_point")
        .order_by("congestion_point__entity_address", "connection_address", "start_period", "id")
    )
    return DsoPortfolio(congestion_points=congestion_points, memberships=memberships, selection=selection)


def congestion_point_owner_domains() -> dict[str, str]:
    """Every CP's address -> the domain of the DSO that owns it (1 query)."""
    return dict(
        CongestionPoint.objects.values_list("entity_address", "dso__domain").iterator(chunk_size=5000)
    )
