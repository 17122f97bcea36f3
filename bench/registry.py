"""Benchmark of the registry on PostgreSQL: apply DSOPortfolioUpdates and answer AGRPortfolioQueries.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/registry.py

DATABASE_URL names the PostgreSQL server (its database part is ignored): a scratch database
`cro_bench` (or CRO_BENCH_DATABASE) is created there, migrated and filled, and dropped at the end
unless CRO_BENCH_KEEP=1. Sizes can be given as arguments: `bench/registry.py 1000 10000 50000`.
Each size gets its own DSO, AGR and connections; the updates are applied as the worker applies
them (one transaction each, statistics refreshed after a large commit).
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"

SIZES = (1_000, 10_000, 50_000)
CONNECTIONS_PER_CP = 1_000
QUERY_REPEATS = 5
START = dt.date(2024, 1, 1)
PERIOD = dt.date(2024, 6, 15)


def scratch_database_create() -> str:
    """Recreate the scratch database; return its URL."""
    import psycopg

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit("bench/registry.py needs DATABASE_URL=postgres://user@host:port/db (PostgreSQL)")
    parts = urlsplit(url)
    name = os.environ.get("CRO_BENCH_DATABASE", "cro_bench")
    if not name.replace("_", "").isalnum():
        sys.exit(f"invalid scratch database name {name!r}")
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as server:
        server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        server.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}"))


def scratch_database_drop(url: str) -> None:
    import psycopg
    from django.db import connections

    connections.close_all()
    parts = urlsplit(url)
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as server:
        server.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}" WITH (FORCE)')


def timed(function: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def main(sizes: tuple[int, ...]) -> None:
    url = scratch_database_create()
    os.environ["DATABASE_URL"] = url

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from registry.models import Participant
    from registry.selectors.portfolio_queries import agr_portfolio_query_answer, dso_portfolio_query_answer
    from registry.services.portfolio import agr_portfolio_update_apply, dso_portfolio_update_apply
    from registry.uftp import keys
    from registry.uftp import messages as uftp

    call_command("migrate", verbosity=0)

    def participant(domain: str, role: str) -> Participant:
        return Participant.objects.create(
            domain=domain,
            role=role,
            public_key=keys.generate_keypair()[1],
            endpoint_url=f"https://{domain}/shapeshifter/api/v3/message",
        )

    def metadata(sender: str) -> dict:
        return {
            "version": "3.1.0",
            "sender_domain": sender,
            "recipient_domain": "cro.example.com",
            "time_stamp": timezone.now(),
            "message_id": str(uuid.uuid4()),
            "conversation_id": str(uuid.uuid4()),
        }

    def dso_message(dso: Participant, cps: dict[str, list[uftp.ConnectionPeriod]]) -> uftp.DSOPortfolioUpdate:
        return uftp.DSOPortfolioUpdate(
            **metadata(dso.domain),
            time_zone="Europe/Amsterdam",
            congestion_points=tuple(
                uftp.CongestionPointUpdate(
                    entity_address=address,
                    start_period=START,
                    end_period=None,
                    mutex_offers_supported=True,
                    day_ahead_redispatch_by=uftp.RedispatchBy.DSO,
                    intraday_redispatch_by=uftp.RedispatchBy.AGR,
                    connections=tuple(connections),
                )
                for address, connections in cps.items()
            ),
        )

    rows = []
    for run, size in enumerate(sizes, start=1):
        dso = participant(f"dso{run}.bench.example.com", "DSO")
        agr = participant(f"agr{run}.bench.example.com", "AGR")
        base = run * 10**9  # disjoint address ranges per size
        addresses = [f"ean.{base + n:012d}" for n in range(size)]
        cps = {
            f"ean.{run:04d}{i:08d}": [
                uftp.ConnectionPeriod(entity_address=a, start_period=START)
                for a in addresses[i * CONNECTIONS_PER_CP : (i + 1) * CONNECTIONS_PER_CP]
            ]
            for i in range(max(1, size // CONNECTIONS_PER_CP))
        }

        def dso_apply(message, dso=dso):
            outcome = dso_portfolio_update_apply(dso=dso, message=message)
            if not outcome.accepted:
                raise SystemExit(f"update rejected: {outcome.rejection_reason[:500]}")

        dso_new = timed(partial(dso_apply, dso_message(dso, cps)))[0]
        dso_same = timed(partial(dso_apply, dso_message(dso, cps)))[0]
        # Every tenth connection of every CP gets an EndPeriod: 10% of the memberships change.
        changed = {
            cp_address: [
                uftp.ConnectionPeriod(
                    entity_address=c.entity_address, start_period=START, end_period=dt.date(2024, 12, 31)
                )
                if n % 10 == 0
                else c
                for n, c in enumerate(connections)
            ]
            for cp_address, connections in cps.items()
        }
        dso_changed = timed(partial(dso_apply, dso_message(dso, changed)))[0]

        agr_message = uftp.AGRPortfolioUpdate(
            **metadata(agr.domain),
            time_zone="Europe/Amsterdam",
            connections=tuple(uftp.ConnectionPeriod(entity_address=a, start_period=START) for a in addresses),
        )
        agr_new, outcome = timed(partial(agr_portfolio_update_apply, agr=agr, message=agr_message))
        if not outcome.accepted:
            raise SystemExit(f"update rejected: {outcome.rejection_reason[:500]}")

        query_times = []
        for _ in range(QUERY_REPEATS):
            with CaptureQueriesContext(connection) as captured:
                seconds, answer = timed(partial(agr_portfolio_query_answer, agr=agr, period=PERIOD))
            query_times.append(seconds)
        listed = sum(len(cp.connections) for p in answer.dso_portfolios for cp in p.congestion_points)
        assert listed == size, (listed, size)
        agr_query_count = len(captured)

        first_cp = next(iter(cps))
        with CaptureQueriesContext(connection) as captured:
            dso_query, answer = timed(
                partial(dso_portfolio_query_answer, dso=dso, entity_address=first_cp, period=PERIOD)
            )
        assert len(answer.congestion_point.connections) == len(cps[first_cp])
        rows.append(
            {
                "connections": f"{size:,}",
                "CPs": str(len(cps)),
                "DSO update new": f"{dso_new:.2f} s",
                "DSO update same": f"{dso_same:.2f} s",
                "DSO update 10% changed": f"{dso_changed:.2f} s",
                "AGR update new": f"{agr_new:.2f} s",
                "AGR query (median)": f"{statistics.median(query_times) * 1000:.0f} ms",
                "AGR query SQL": str(agr_query_count),
                f"DSO query ({len(cps[first_cp])} conn.)": f"{dso_query * 1000:.0f} ms",
                "DSO query SQL": str(len(captured)),
            }
        )
        print(f"done: {size:,} connections", file=sys.stderr, flush=True)

    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        server_version = cursor.fetchone()[0].split(" on ")[0]
    print(f"\nRegistry benchmark on {server_version} (database {connection.settings_dict['NAME']})\n")
    headers = list(rows[0])
    widths = [max(len(h), *(len(r[h]) for r in rows)) for h in headers]
    print(" | ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True)))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(row[h].rjust(w) for h, w in zip(headers, widths, strict=True)))

    if os.environ.get("CRO_BENCH_KEEP") != "1":
        scratch_database_drop(url)


if __name__ == "__main__":
    main(tuple(int(arg) for arg in sys.argv[1:]) or SIZES)
