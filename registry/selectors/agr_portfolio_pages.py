"""An AGR's portfolio on a day, a page at a time: what the web page lists (issue 10).

`portfolio_queries.agr_portfolio_on_day` builds the whole answer (the worker's query answer needs
it whole). A page showing 100 of an AGR's 200,000 connections reads only those 100: the count
of the AGR's representations (its current-rows index), one page of them in address order, then
the CP each of those is in on the day and that CP's attributes (index probes per connection).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, overload

from registry.models import Participant
from registry.selectors.portfolio_queries import AGRConnectionOnDay
from registry.selectors.registry_state import registry_rows


def agr_portfolio_slice(
    *, agr: Participant, day: dt.date, as_of: dt.datetime | None = None, offset: int, limit: int
) -> list[AGRConnectionOnDay]:
    """The AGR's connections on `day` from `offset`, at most `limit`, by address (3 queries)."""
    represented = list(
        registry_rows(as_of=as_of, day=day, agr=agr)
        .representations.order_by("connection_address", "id")
        .values_list("connection_address", "start_period", "end_period")[offset : offset + limit]
    )
    if not represented:
        return []
    on_day = registry_rows(as_of=as_of, day=day)
    cp_of: dict[str, int] = dict(
        on_day.memberships.filter(connection_address__in=[address for address, _, _ in represented])
        .order_by()
        .values_list("connection_address", "congestion_point_id")
    )
    # CP id -> (CP address, DSO domain, mutex, day-ahead redispatch, intraday redispatch)
    terms_of: dict[int, tuple[Any, ...]] = {
        cp_id: tuple(terms)
        for cp_id, *terms in on_day.versions.filter(congestion_point_id__in=set(cp_of.values()))
        .order_by()
        .values_list(
            "congestion_point_id",
            "congestion_point__entity_address",
            "congestion_point__dso__domain",
            "mutex_offers_supported",
            "day_ahead_redispatch_by",
            "intraday_redispatch_by",
        )
    }
    none: tuple[Any, ...] = (None,) * 5
    rows = []
    for address, start, end in represented:
        cp_id = cp_of.get(address)
        cp_address, dso_domain, mutex, day_ahead, intraday = (
            none if cp_id is None else terms_of.get(cp_id, none)
        )
        rows.append(
            AGRConnectionOnDay(
                entity_address=address,
                start_period=start,
                end_period=end,
                congestion_point=cp_address,
                dso_domain=dso_domain,
                mutex_offers_supported=mutex,
                day_ahead_redispatch_by=day_ahead,
                intraday_redispatch_by=intraday or None,
            )
        )
    return rows


class AgrPortfolioPages:
    """The AGR's portfolio on a day as a sequence Django's Paginator pages lazily: `count()` is one
    count of the AGR's representations, a slice one `agr_portfolio_slice`."""

    def __init__(self, *, agr: Participant, day: dt.date, as_of: dt.datetime | None = None):
        self.agr, self.day, self.as_of = agr, day, as_of
        self._count: int | None = None

    def count(self) -> int:
        if self._count is None:
            self._count = registry_rows(as_of=self.as_of, day=self.day, agr=self.agr).representations.count()
        return self._count

    def __len__(self) -> int:
        return self.count()

    @overload
    def __getitem__(self, index: int) -> AGRConnectionOnDay: ...
    @overload
    def __getitem__(self, index: slice) -> list[AGRConnectionOnDay]: ...
    def __getitem__(self, index):
        if isinstance(index, slice):
            start, stop = index.start or 0, index.stop if index.stop is not None else self.count()
            return agr_portfolio_slice(
                agr=self.agr, day=self.day, as_of=self.as_of, offset=start, limit=max(stop - start, 0)
            )
        return agr_portfolio_slice(agr=self.agr, day=self.day, as_of=self.as_of, offset=index, limit=1)[0]
