"""An AGR's portfolio on a day, a page at a time: what the web page lists (issue 10).

`portfolio_queries.agr_portfolio_on_day` builds the whole answer (the worker's query answer needs
it whole). A page showing 100 of an AGR's 200,000 connections reads only those 100: the count
of the AGR's representations (its current-rows index), one page of them in address order, then
the CP each of those is in on the day and that CP's attributes (index probes per connection).
"""

from __future__ import annotations

import datetime as dt
from typing import overload

from registry.models import Participant
from registry.selectors.portfolio_queries import AGRConnectionOnDay, agr_connection_on_day, cp_terms
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
    terms_of = cp_terms(cp_ids=set(cp_of.values()), day=day, as_of=as_of)
    return [
        agr_connection_on_day(
            address=address, start=start, end=end, cp_id=cp_of.get(address), terms_of=terms_of
        )
        for address, start, end in represented
    ]


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
