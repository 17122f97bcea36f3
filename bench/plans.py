"""The registry's message-path operations on an empty registry and on one filled directly with SQL,
with the plans (EXPLAIN (ANALYZE, BUFFERS)) of every statement they send (issue 10).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres CRO_BENCH_DATABASE=plans_bench \\
        .venv/bin/python bench/plans.py --connections 2000000 --repeats 5 [--explain]

Unlike bench/scale.py (which fills through the services, as the registry really fills), this one
writes the rows with `INSERT .. SELECT generate_series` so that a registry of millions of
connections is there in minutes: every connection in a CP of 1,000 of one of 10 DSOs and
represented by one of 20 AGRs, plus `--history` superseded rows per current row (a registry that
has changed). The rows keep the models' constraints (one current row per connection, Periods
ordered, transaction times ordered). The measured operations are bench/scale.py's (same names).

`--explain` prints, per operation on the full registry, each statement's plan with its buffers.
CRO_BENCH_KEEP=1 keeps the database; `--reuse` measures a kept, already filled one again.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"

import scale  # noqa: E402

DSOS = 10
AGRS = 20


def sql_fill(
    *, public_key: str, first_connection: int, first_cp: int, connections: int, history: float
) -> None:
    """Connections [first, first + N) in CPs of 1,000 from `first_cp`; see the module docstring."""
    from django.db import connection

    from registry.models import Participant

    dsos, agrs = [], []
    for role, count, into in (("DSO", DSOS, dsos), ("AGR", AGRS, agrs)):
        for n in range(count):
            domain = f"fill-{role.lower()}{n}.scale.example.com"
            into.append(
                Participant.objects.create(
                    domain=domain, role=role, public_key=public_key, endpoint_url=f"https://{domain}/m"
                ).pk
            )
    cps = (connections + scale.CONNECTIONS_PER_CP - 1) // scale.CONNECTIONS_PER_CP
    last = first_connection + connections - 1
    per = scale.CONNECTIONS_PER_CP
    steps = [
        (
            "congestion points",
            "INSERT INTO registry_congestionpoint (entity_address, dso_id, created_at) "
            "SELECT 'ean.9' || lpad(i::text, 14, '0'), (%s::bigint[])[1 + i %% %s], now() "
            "FROM generate_series(%s, %s) i",
            [dsos, DSOS, first_cp, first_cp + cps - 1],
        ),
        (
            "CP versions",
            "INSERT INTO registry_congestionpointversion (congestion_point_id, start_period, end_period, "
            "mutex_offers_supported, day_ahead_redispatch_by, intraday_redispatch_by, recorded_at, source) "
            "SELECT id, '2024-01-01', NULL, true, 'DSO', 'AGR', now() - interval '3 days', 'sql' "
            "FROM registry_congestionpoint WHERE entity_address >= 'ean.9' || lpad(%s::text, 14, '0') "
            "AND entity_address <= 'ean.9' || lpad(%s::text, 14, '0')",
            [first_cp, first_cp + cps - 1],
        ),
        (
            "connections",
            "INSERT INTO registry_connection (entity_address, created_at) "
            "SELECT 'ean.' || lpad(n::text, 15, '0'), now() FROM generate_series(%s, %s) n",
            [first_connection, last],
        ),
    ]
    # Superseded rows first (a fraction `history` of the connections, each once), then the current ones.
    historic = int(connections * history)
    for label, recorded, superseded, upto in (
        ("history", "now() - interval '2 days'", "now() - interval '1 day'", first_connection + historic - 1),
        ("current", "now() - interval '1 day'", "NULL", last),
    ):
        if upto < first_connection:
            continue
        steps.append(
            (
                f"memberships ({label})",
                "INSERT INTO registry_membership (congestion_point_id, connection_address, start_period, "  # noqa: S608
                f"end_period, recorded_at, superseded_at, source) "
                f"SELECT cp.id, 'ean.' || lpad(n::text, 15, '0'), '2024-01-01', NULL, {recorded}, {superseded}, "
                "'sql' FROM generate_series(%s, %s) n JOIN registry_congestionpoint cp "
                "ON cp.entity_address = 'ean.9' || lpad((%s + (n - %s) / %s)::text, 14, '0')",
                [first_connection, upto, first_cp, first_connection, per],
            )
        )
        steps.append(
            (
                f"representations ({label})",
                "INSERT INTO registry_representation (agr_id, connection_address, start_period, end_period, "  # noqa: S608
                "recorded_at, superseded_at, source) "
                "SELECT (%s::bigint[])[1 + ((n - %s) / 50000) %% %s], 'ean.' || lpad(n::text, 15, '0'), "
                f"'2024-01-01', NULL, {recorded}, {superseded}, 'sql' FROM generate_series(%s, %s) n",
                [agrs, first_connection, AGRS, first_connection, upto],
            )
        )
    steps.append(
        (
            "representation sequences",
            "INSERT INTO registry_representationsequence (agr_id, connection_id, last_time_stamp, updated_at) "
            "SELECT r.agr_id, c.id, now() - interval '1 day', now() FROM registry_representation r "
            "JOIN registry_connection c ON c.entity_address = r.connection_address "
            "WHERE r.superseded_at IS NULL AND r.source = 'sql'",
            [],
        )
    )
    # The overlap triggers (migration 0012) are off while the rows are written (they hold no
    # overlap by construction): like any bulk load by SQL, not how the registry fills.
    overlap = importlib.import_module("registry.migrations.0012_registry_overlap_check_by_connection_lock")
    with connection.cursor() as cursor:
        for table, _constraint, function in overlap.TABLES:
            for event in overlap.EVENTS:
                cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {function}_{event}")
        for label, sql, params in steps:
            started = time.perf_counter()
            cursor.execute(sql, params)
            print(
                f"  {label}: {cursor.rowcount:,} rows in {time.perf_counter() - started:.1f} s",
                file=sys.stderr,
            )
        for table, _constraint, function in overlap.TABLES:
            for event in overlap.EVENTS:
                cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER {function}_{event}")
        cursor.execute("VACUUM ANALYZE")


def explain_all(run) -> list[str]:
    """Run `run`, then EXPLAIN (ANALYZE, BUFFERS) each SELECT/UPDATE it sent, in a rolled back transaction."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        run()
    out = []
    for query in captured.captured_queries:
        sql = query["sql"]
        if not sql.lstrip().upper().startswith(("SELECT", "UPDATE", "INSERT")) or "pg_class" in sql:
            continue
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}")
                plan = "\n".join(f"    {row[0]}" for row in cursor.fetchall())
                transaction.set_rollback(True)
        except Exception as exc:  # noqa: BLE001 - a statement that cannot be explained alone
            plan = f"    (not explained: {exc})"
        out.append(f"  [{query['time']} s] {sql[:400]}\n{plan}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=2_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--history", type=float, default=0.2)
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--skip-empty", action="store_true")
    arguments = parser.parse_args()

    if arguments.reuse:
        from urllib.parse import urlsplit, urlunsplit

        parts = urlsplit(os.environ["DATABASE_URL"])
        url = urlunsplit(parts._replace(path=f"/{os.environ.get('CRO_BENCH_DATABASE', 'cro_scale')}"))
    else:
        url = scale.scratch_database_create()
    os.environ["DATABASE_URL"] = url
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from registry.models import Participant

    call_command("migrate", verbosity=0)
    registry = scale.Registry()
    addresses = scale.Addresses()
    user, _ = get_user_model().objects.get_or_create(
        username="bench", defaults={"is_superuser": True, "is_staff": True}
    )
    client = Client()
    client.force_login(user)

    empty: dict[str, float] = {}
    if arguments.reuse:
        # Start after everything the kept database holds.
        registry.next_participant = Participant.objects.count() + 1000
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT greatest((SELECT max(entity_address) FROM registry_connection), "
                "(SELECT max(connection_address) FROM registry_membership))"
            )
            addresses.next_connection = int(cursor.fetchone()[0][4:]) + 1
            cursor.execute("SELECT max(entity_address) FROM registry_congestionpoint")
            addresses.next_cp = int(cursor.fetchone()[0][5:]) + 1
    else:
        if not arguments.skip_empty or not arguments.connections:
            print("measuring on the empty registry", file=sys.stderr, flush=True)
            empty = scale.measure(registry, addresses, repeats=arguments.repeats, client=client)
        print(f"filling {arguments.connections:,} connections with SQL", file=sys.stderr, flush=True)
        started = time.perf_counter()
        if arguments.connections:
            sql_fill(
                public_key=registry.public_key,
                first_connection=addresses.next_connection,
                first_cp=addresses.next_cp,
                connections=arguments.connections,
                history=arguments.history,
            )
        print(f"  filled in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        addresses.next_connection += arguments.connections
        addresses.next_cp += (
            arguments.connections + scale.CONNECTIONS_PER_CP - 1
        ) // scale.CONNECTIONS_PER_CP
    if arguments.connections or arguments.reuse:
        print("measuring on the full registry", file=sys.stderr, flush=True)
        full = scale.measure(registry, addresses, repeats=arguments.repeats, client=client)
    else:  # --connections 0: the empty registry only
        full, empty = empty, {}

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM registry_membership WHERE superseded_at IS NULL")
        (memberships,) = cursor.fetchone()
    print(f"\n{memberships:,} current memberships, median of {arguments.repeats}\n")
    print(f"{'operation':<28} | {'empty':>10} | {'full':>10} | {'full/empty':>10}")
    for name, value in full.items():
        before = empty.get(name)
        ratio = f"{value / before:>10.2f}" if before else f"{'':>10}"
        before_text = f"{before:>7.0f} ms" if before else f"{'':>10}"
        print(f"{name:<28} | {before_text} | {value:>7.0f} ms | {ratio}")

    if arguments.explain:
        explain_operations(registry, addresses)
    if os.environ.get("CRO_BENCH_KEEP") != "1" and not arguments.reuse:
        scale.scratch_database_drop(url)


def explain_operations(registry, addresses) -> None:
    from registry.selectors.portfolio_queries import agr_portfolio_query_answer, dso_portfolio_query_answer

    dso = registry.participant("DSO")
    cps = addresses.portfolio(scale.CONNECTIONS_PER_CP)
    operations = {"DSO update 1k new": lambda: registry.dso_apply(dso, cps)}
    changed = {
        cp: [(a, scale.dt.date(2024, 12, 31) if n % 10 == 0 else end) for n, (a, end) in enumerate(cs)]
        for cp, cs in cps.items()
    }
    operations["DSO update 1k 10% changed"] = lambda: registry.dso_apply(dso, changed)
    agr = registry.participant("AGR")
    listed = [a for cs in cps.values() for a, _ in cs]
    operations["AGR update 1k new"] = lambda: registry.agr_apply(agr, listed)
    operations["AGR query 1k"] = lambda: agr_portfolio_query_answer(agr=agr, period=scale.PERIOD)
    operations["DSO query"] = lambda: dso_portfolio_query_answer(
        dso=dso, entity_address=next(iter(cps)), period=scale.PERIOD
    )
    for name, run in operations.items():
        print(f"\n=== {name}")
        for text in explain_all(run):
            print(text)


if __name__ == "__main__":
    main()
