"""Scale benchmark: the same work on an empty registry and on one holding N connections (issue 10).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/scale.py --connections 300000

DATABASE_URL names the PostgreSQL server (its database part is ignored): a scratch database
`cro_scale` (or CRO_BENCH_DATABASE) is created there, migrated, measured empty, filled with N
connections (each in a CP of its DSO and represented by an AGR), measured again, and dropped at the
end unless CRO_BENCH_KEEP=1. Every figure is the median of `--repeats` runs; each run works on
participants and addresses of its own, so the work is the same whatever the registry holds.
`--fill import` fills through the bulk load (manage.py registry_import: one CSV file of up to a
million connections per DSO) instead of DSO messages; AGRs are filled by AGRPortfolioUpdate
messages of 50,000 connections either way. `--fill-only` only fills, then fills `--compare` more
connections through DSO messages in the same run, and prints both rates and their ratio.

The peak memory (RSS) of answering a 200,000-connection AGR query and exporting a 200,000-row CSV
is measured in a child process each (so the parent's own peak does not count).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"

START = dt.date(2024, 1, 1)
PERIOD = dt.date(2024, 6, 15)
CONNECTIONS_PER_CP = 1_000
FILL_MESSAGE_CONNECTIONS = 50_000  # connections per fill message (one DSO update, one AGR update)
RSS_PORTFOLIO = 200_000


def address(n: int) -> str:
    return f"ean.{n:015d}"


def cp_address(n: int) -> str:
    return f"ean.9{n:014d}"


class Registry:
    """Builds participants and messages, and applies them as the worker does."""

    def __init__(self):
        from registry.models import Participant
        from registry.services.portfolio import agr_portfolio_update_apply, dso_portfolio_update_apply
        from registry.uftp import keys
        from registry.uftp import messages as uftp

        self.Participant = Participant
        self.uftp = uftp
        self.keys = keys
        self.dso_apply_service = dso_portfolio_update_apply
        self.agr_apply_service = agr_portfolio_update_apply
        self.next_participant = 0
        self.public_key = keys.generate_keypair()[1]

    def participant(self, role: str):
        self.next_participant += 1
        domain = f"{role.lower()}{self.next_participant}.scale.example.com"
        return self.Participant.objects.create(
            domain=domain, role=role, public_key=self.public_key, endpoint_url=f"https://{domain}/m"
        )

    def _metadata(self, sender: str) -> dict:
        from django.utils import timezone

        return {
            "version": "3.1.0",
            "sender_domain": sender,
            "recipient_domain": "cro.example.com",
            "time_stamp": timezone.now(),
            "message_id": str(uuid.uuid4()),
            "conversation_id": str(uuid.uuid4()),
        }

    def dso_message(self, dso, cps: dict[str, list[tuple[str, dt.date | None]]]):
        uftp = self.uftp
        return uftp.DSOPortfolioUpdate(
            **self._metadata(dso.domain),
            time_zone="Europe/Amsterdam",
            congestion_points=tuple(
                uftp.CongestionPointUpdate(
                    entity_address=cp,
                    start_period=START,
                    end_period=None,
                    mutex_offers_supported=True,
                    day_ahead_redispatch_by=uftp.RedispatchBy.DSO,
                    intraday_redispatch_by=uftp.RedispatchBy.AGR,
                    connections=tuple(
                        uftp.ConnectionPeriod(entity_address=a, start_period=START, end_period=end)
                        for a, end in connections
                    ),
                )
                for cp, connections in cps.items()
            ),
        )

    def dso_apply(self, dso, cps) -> None:
        outcome = self.dso_apply_service(dso=dso, message=self.dso_message(dso, cps))
        if not outcome.accepted:
            raise SystemExit(f"DSO update rejected: {outcome.rejection_reason[:300]}")

    def agr_apply(self, agr, addresses: list[str]) -> None:
        uftp = self.uftp
        message = uftp.AGRPortfolioUpdate(
            **self._metadata(agr.domain),
            time_zone="Europe/Amsterdam",
            connections=tuple(uftp.ConnectionPeriod(entity_address=a, start_period=START) for a in addresses),
        )
        outcome = self.agr_apply_service(agr=agr, message=message)
        if not outcome.accepted:
            raise SystemExit(f"AGR update rejected: {outcome.rejection_reason[:300]}")


class Addresses:
    """Hands out address ranges never used before in this run."""

    def __init__(self):
        self.next_connection = 0
        self.next_cp = 0

    def connections(self, count: int) -> list[str]:
        first = self.next_connection
        self.next_connection += count
        return [address(n) for n in range(first, first + count)]

    def portfolio(self, count: int) -> dict[str, list[tuple[str, None]]]:
        """`count` new connections in new CPs of CONNECTIONS_PER_CP connections."""
        connections = self.connections(count)
        cps = {}
        for start in range(0, count, CONNECTIONS_PER_CP):
            cps[cp_address(self.next_cp)] = [
                (a, None) for a in connections[start : start + CONNECTIONS_PER_CP]
            ]
            self.next_cp += 1
        return cps


def timed(function: Callable[[], object]) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def _ms(value: float) -> str:
    """A figure in ms, with a decimal below 10 ms."""
    return f"{value:>7.1f} ms" if value < 10 else f"{value:>7.0f} ms"


def median_ms(
    function: Callable[[], object], *, repeats: int, prepare: Callable[[], object] | None = None
) -> float:
    """Median wall time in ms; `prepare` (untimed) runs before each repeat and its result is passed on."""
    times = []
    for _ in range(repeats):
        if prepare is None:
            times.append(timed(function))
        else:
            argument = prepare()
            times.append(timed(lambda argument=argument: function(argument)))
    return statistics.median(times) * 1000


def measure(registry: Registry, addresses: Addresses, *, repeats: int, client) -> dict[str, float]:
    """The same work on whatever the registry holds now: every figure in ms."""
    from registry.selectors.portfolio_queries import agr_portfolio_query_answer, dso_portfolio_query_answer

    figures: dict[str, float] = {}

    def new_dso_cp(connections: int = CONNECTIONS_PER_CP):
        return registry.participant("DSO"), addresses.portfolio(connections)

    # The common message: one CP with one connection (the accept benchmark's update).
    figures["DSO update 1 new"] = median_ms(
        lambda a: registry.dso_apply(*a), repeats=repeats, prepare=lambda: new_dso_cp(1)
    )

    def applied_single_cp():
        dso, cps = new_dso_cp(1)
        registry.dso_apply(dso, cps)
        return dso, cps

    figures["DSO update 1 same"] = median_ms(
        lambda a: registry.dso_apply(*a), repeats=repeats, prepare=applied_single_cp
    )

    figures["DSO update 1k new"] = median_ms(
        lambda a: registry.dso_apply(*a), repeats=repeats, prepare=new_dso_cp
    )

    def applied_dso_cp():
        dso, cps = new_dso_cp()
        registry.dso_apply(dso, cps)
        return dso, cps

    figures["DSO update 1k same"] = median_ms(
        lambda a: registry.dso_apply(*a), repeats=repeats, prepare=applied_dso_cp
    )

    def changed_dso_cp():
        dso, cps = applied_dso_cp()
        changed = {
            cp: [(a, dt.date(2024, 12, 31) if n % 10 == 0 else end) for n, (a, end) in enumerate(connections)]
            for cp, connections in cps.items()
        }
        return dso, changed

    figures["DSO update 1k 10% changed"] = median_ms(
        lambda a: registry.dso_apply(*a), repeats=repeats, prepare=changed_dso_cp
    )

    def placed_connections(count: int) -> list[str]:
        dso = registry.participant("DSO")
        cps = addresses.portfolio(count)
        registry.dso_apply(dso, cps)
        return [a for connections in cps.values() for a, _ in connections]

    # The common message: one connection (placed in a CP of its own first).
    figures["AGR update 1 new"] = median_ms(
        lambda a: registry.agr_apply(*a),
        repeats=repeats,
        prepare=lambda: (registry.participant("AGR"), placed_connections(1)),
    )
    figures["AGR update 1k new"] = median_ms(
        lambda a: registry.agr_apply(*a),
        repeats=repeats,
        prepare=lambda: (registry.participant("AGR"), placed_connections(1_000)),
    )

    def agr_with(count: int):
        agr = registry.participant("AGR")
        registry.agr_apply(agr, placed_connections(count))
        return agr

    def agr_query(agr, size: int) -> None:
        answer = agr_portfolio_query_answer(agr=agr, period=PERIOD)
        listed = sum(len(cp.connections) for p in answer.dso_portfolios for cp in p.congestion_points)
        assert listed == size, (listed, size)

    agr_1k = agr_with(1_000)
    figures["AGR query 1k"] = median_ms(lambda: agr_query(agr_1k, 1_000), repeats=repeats)
    dso_100k = registry.participant("DSO")
    cps_100k = addresses.portfolio(100_000)
    for chunk in range(0, len(cps_100k), FILL_MESSAGE_CONNECTIONS // CONNECTIONS_PER_CP):
        registry.dso_apply(dso_100k, dict(list(cps_100k.items())[chunk : chunk + 50]))
    agr_50k = registry.participant("AGR")
    registry.agr_apply(agr_50k, [a for cs in list(cps_100k.values())[:50] for a, _ in cs])
    figures["AGR query 50k"] = median_ms(lambda: agr_query(agr_50k, 50_000), repeats=repeats)

    first_cp = next(iter(cps_100k))

    def dso_query() -> None:
        answer = dso_portfolio_query_answer(dso=dso_100k, entity_address=first_cp, period=PERIOD)
        assert len(answer.congestion_point.connections) == CONNECTIONS_PER_CP

    figures["DSO query (1 CP, 1k)"] = median_ms(dso_query, repeats=repeats)

    def get(url: str) -> None:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        b"".join(response.streaming_content) if response.streaming else response.content

    figures["web registry page"] = median_ms(lambda: get("/registry/"), repeats=repeats)
    figures["API /api/congestion-points/"] = median_ms(
        lambda: get("/api/congestion-points/"), repeats=repeats
    )

    figures["CSV export 100k rows"] = median_ms(
        lambda: get(f"/registry/export.csv?dso={dso_100k.pk}"), repeats=repeats
    )
    return figures


def fill(
    registry: Registry, addresses: Addresses, *, connections: int, agrs: int = 20
) -> tuple[float, float]:
    """N connections in CPs of 1,000 over 10 DSOs, each represented by one of `agrs` AGRs.

    Returns (DSO fill connections/s, AGR fill connections/s).
    """
    dsos = [registry.participant("DSO") for _ in range(10)]
    agr_list = [registry.participant("AGR") for _ in range(agrs)]
    dso_seconds = agr_seconds = 0.0
    done = 0
    started = time.perf_counter()
    while done < connections:
        size = min(FILL_MESSAGE_CONNECTIONS, connections - done)
        cps = addresses.portfolio(size)
        dso, agr = dsos[done // size % len(dsos)], agr_list[done // size % agrs]
        dso_seconds += timed(lambda cps=cps, dso=dso: registry.dso_apply(dso, cps))
        listed = [a for cs in cps.values() for a, _ in cs]
        agr_seconds += timed(lambda listed=listed, agr=agr: registry.agr_apply(agr, listed))
        done += size
        elapsed = time.perf_counter() - started
        print(
            f"  filled {done:,}/{connections:,} ({done / elapsed:,.0f} connections/s overall)",
            file=sys.stderr,
            flush=True,
        )
    return connections / dso_seconds, connections / agr_seconds


def rss_probe(kind: str, participant_pk: int) -> None:
    """Child process: answer or export one portfolio, print the peak RSS in MB."""
    import django

    django.setup()
    from registry.models import Participant
    from registry.selectors import registry_state
    from registry.selectors.portfolio_queries import agr_portfolio_query_answer
    from registry.services import csv_io

    participant = Participant.objects.get(pk=participant_pk)
    before = _peak_rss_mb()
    if kind == "query":
        agr_portfolio_query_answer(agr=participant, period=PERIOD)
    else:
        for _ in csv_io.registry_csv_export(selection=registry_state.RegistryFilter(dso=participant)):
            pass
    after = _peak_rss_mb()
    print(f"{before:.0f} {after:.0f}")


def _peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM: unlike ru_maxrss it does not carry the parent's over exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_measure(registry: Registry, addresses: Addresses) -> dict[str, str]:
    dso = registry.participant("DSO")
    agr = registry.participant("AGR")
    cps = addresses.portfolio(RSS_PORTFOLIO)
    items = list(cps.items())
    per_message = FILL_MESSAGE_CONNECTIONS // CONNECTIONS_PER_CP
    for start in range(0, len(items), per_message):
        chunk = dict(items[start : start + per_message])
        registry.dso_apply(dso, chunk)
        registry.agr_apply(agr, [a for cs in chunk.values() for a, _ in cs])
    from django.db import connections

    connections.close_all()
    results = {}
    for kind, pk in (("query", agr.pk), ("export", dso.pk)):
        output = subprocess.run(
            [sys.executable, __file__, "--rss-probe", kind, str(pk)],
            check=True,
            capture_output=True,
            text=True,
            env=os.environ,
        ).stdout.split()
        before, after = (float(x) for x in output[-2:])
        results[kind] = f"{after:.0f} MB (process at start {before:.0f} MB)"
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=2_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--fill", choices=("messages", "import"), default="messages")
    parser.add_argument(
        "--fill-only",
        action="store_true",
        help="only fill (and compare with the message path on --compare more connections)",
    )
    parser.add_argument(
        "--compare", type=int, default=200_000, help="connections for --fill-only's comparison"
    )
    parser.add_argument("--rss-probe", nargs=2, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.rss_probe:
        rss_probe(arguments.rss_probe[0], int(arguments.rss_probe[1]))
        return

    url = scratch_database_create()
    os.environ["DATABASE_URL"] = url
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    call_command("migrate", verbosity=0)
    registry = Registry()
    addresses = Addresses()
    user = get_user_model().objects.create_superuser(username="bench", password=None, email="b@example.com")
    client = Client()
    client.force_login(user)

    if arguments.fill_only:
        fill_only(
            registry,
            addresses,
            connections=arguments.connections,
            fill_kind=arguments.fill,
            compare=arguments.compare,
        )
        if os.environ.get("CRO_BENCH_KEEP") != "1":
            scratch_database_drop(url)
        return
    print("measuring on the empty registry", file=sys.stderr, flush=True)
    empty = measure(registry, addresses, repeats=arguments.repeats, client=client)
    print(f"filling {arguments.connections:,} connections ({arguments.fill})", file=sys.stderr, flush=True)
    if arguments.fill == "import":
        dso_rate, agr_rate = fill_import(registry, addresses, connections=arguments.connections)
    else:
        dso_rate, agr_rate = fill(registry, addresses, connections=arguments.connections)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # as autovacuum would have by now
    print("measuring on the full registry", file=sys.stderr, flush=True)
    full = measure(registry, addresses, repeats=arguments.repeats, client=client)
    print("measuring peak memory", file=sys.stderr, flush=True)
    rss = rss_measure(registry, addresses)

    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        server_version = cursor.fetchone()[0].split(" on ")[0]
        cursor.execute("SELECT count(*) FROM registry_membership WHERE superseded_at IS NULL")
        (memberships,) = cursor.fetchone()
    print(
        f"\nScale benchmark on {server_version}: {arguments.connections:,} connections filled "
        f"({memberships:,} current memberships at the end), median of {arguments.repeats}\n"
    )
    width = max(len(name) for name in empty)
    print(f"{'operation':<{width}} | {'empty':>10} | {'full':>10} | {'full/empty':>10}")
    print(f"{'-' * width}-+-{'-' * 10}-+-{'-' * 10}-+-{'-' * 10}")
    for name in empty:
        ratio = full[name] / empty[name] if empty[name] else float("nan")
        print(f"{name:<{width}} | {_ms(empty[name])} | {_ms(full[name])} | {ratio:>10.2f}")
    print(f"\nfill ({arguments.fill}): DSO {dso_rate:,.0f} connections/s, AGR {agr_rate:,.0f} connections/s")
    print(f"peak RSS, AGR query answer of {RSS_PORTFOLIO:,} connections: {rss['query']}")
    print(f"peak RSS, CSV export of {RSS_PORTFOLIO:,} rows: {rss['export']}")
    if os.environ.get("CRO_BENCH_KEEP") != "1":
        scratch_database_drop(url)


IMPORT_FILE_CONNECTIONS = 1_000_000  # connections per CSV file (one DSO each) of `--fill import`


def fill_import(
    registry: Registry,
    addresses: Addresses,
    *,
    connections: int,
    agrs: int = 20,
    agr_connections: int | None = None,
) -> tuple[float, float]:
    """N connections through `manage.py registry_import` (the set-based bulk load), in files of
    IMPORT_FILE_CONNECTIONS connections, one DSO each; then represented by AGR messages as in
    `fill` (the first `agr_connections` of them; None: all). Returns (import connections/s, AGR fill
    connections/s)."""
    import tempfile

    from django.core.management import call_command

    from registry.selectors.registry_state import EXPORT_COLUMNS

    import_seconds = 0.0
    listed: list[str] = []
    done = 0
    while done < connections:
        size = min(IMPORT_FILE_CONNECTIONS, connections - done)
        dso = registry.participant("DSO")
        cps = addresses.portfolio(size)
        with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as file:
            file.write(",".join(EXPORT_COLUMNS) + "\n")
            for cp, members in cps.items():
                file.writelines(
                    f"{cp},{START},,true,DSO,AGR,{connection},{START},\n" for connection, _ in members
                )
        try:
            import_seconds += timed(
                lambda name=file.name, domain=dso.domain: call_command(
                    "registry_import", name, dso=domain, stdout=sys.stderr
                )
            )
        finally:
            os.unlink(file.name)
        listed.extend(a for members in cps.values() for a, _ in members)
        done += size
        print(
            f"  imported {done:,}/{connections:,} ({done / import_seconds:,.0f} connections/s)",
            file=sys.stderr,
            flush=True,
        )
    agr_list = [registry.participant("AGR") for _ in range(agrs)]
    agr_seconds = 0.0
    listed = listed[:agr_connections] if agr_connections is not None else listed
    for n, start in enumerate(range(0, len(listed), FILL_MESSAGE_CONNECTIONS)):
        chunk = listed[start : start + FILL_MESSAGE_CONNECTIONS]
        agr_seconds += timed(lambda chunk=chunk, n=n: registry.agr_apply(agr_list[n % agrs], chunk))
    return connections / import_seconds, len(listed) / agr_seconds


def fill_only(
    registry: Registry, addresses: Addresses, *, connections: int, fill_kind: str, compare: int
) -> None:
    """Fill, then fill `compare` more connections through DSO messages (the old path), same run.

    After an import only the first `compare` connections are given an AGR (the AGR rate's sample).
    """
    if fill_kind == "import":
        dso_rate, agr_rate = fill_import(
            registry, addresses, connections=connections, agr_connections=compare
        )
    else:
        dso_rate, agr_rate = fill(registry, addresses, connections=connections)
    print(f"measuring the message path on {compare:,} more connections", file=sys.stderr, flush=True)
    messages_rate, _ = fill(registry, addresses, connections=compare) if compare else (float("nan"), 0)
    print(
        f"\nfill ({fill_kind}) of {connections:,} connections: DSO {dso_rate:,.0f} connections/s, "
        f"AGR (messages of {FILL_MESSAGE_CONNECTIONS:,}) {agr_rate:,.0f} connections/s"
    )
    print(
        f"same run, DSO messages of {FILL_MESSAGE_CONNECTIONS:,} connections on the filled registry "
        f"({compare:,} connections): {messages_rate:,.0f} connections/s; ratio {fill_kind}/messages "
        f"{dso_rate / messages_rate:.1f}"
    )


def scratch_database_create() -> str:
    """Recreate the scratch database; return its URL."""
    import psycopg

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit("bench/scale.py needs DATABASE_URL=postgres://user@host:port/db (PostgreSQL)")
    parts = urlsplit(url)
    name = os.environ.get("CRO_BENCH_DATABASE", "cro_scale")
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


if __name__ == "__main__":
    main()
