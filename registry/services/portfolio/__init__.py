"""Apply DSOPortfolioUpdate and AGRPortfolioUpdate to the registry (cro-rules §3 items 8-10, §4).

An update is applied whole or not at all, in one transaction (`_atomic`). Every rejection reason
that is cheap to find is collected. The caller (worker, CSV import) has checked §3 items 1-7 already.

- `dso`, `agr`: the rules of each update, as read (under row locks) / check / plan / write;
- `periods`: Period arithmetic and the texts of the changes;
- `_atomic`: all-or-nothing, dry runs, and the retry of an update that lost a race;
- `_bulk`: the bulk SQL per database vendor and the statistics refresh after a large write;
- `_dso_rows`, `_agr_rows`: the reads and writes of each update in as few statements as the
  database allows (a one-CP or one-connection update: five on PostgreSQL, savepoint included).

Concurrent updates of one congestion point or connection are serialised by row locks taken in
address order (see `dso`, `agr`); SQLite runs write transactions one at a time (BEGIN IMMEDIATE),
so the same checks hold there.

Scale: reads are one query per table (on SQLite in chunks of addresses), writes are bulk (COPY and
INSERT .. SELECT unnest() on PostgreSQL); nothing is done per row in SQL.
"""

from ._atomic import UpdateOutcome
from .agr import CONFLICT_POLICIES, agr_portfolio_update_apply
from .dso import dso_portfolio_update_apply

__all__ = [
    "CONFLICT_POLICIES",
    "UpdateOutcome",
    "agr_portfolio_update_apply",
    "dso_portfolio_update_apply",
]
