"""The administrators' pages and the REST API at national scale (issue 10): timings and plans.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres CRO_BENCH_DATABASE=web_bench \
        .venv/bin/python bench/web_pages.py --connections 2000000

A scratch database (CRO_BENCH_DATABASE, default `cro_web_bench`) is created, migrated and filled
directly with SQL (generate_series: a fast stand-in for the bulk import) with N current connections
in CPs of `--per-cp`, each represented by an AGR, plus 10% superseded history rows. `--keep`
keeps a filled database and `--reuse` measures it again without filling. Then every page and API
list is requested through Django's test client `--repeats` times: the median ms, the SQL queries
and the response size are printed, with `--explain` the EXPLAIN (ANALYZE, BUFFERS) of each
page's slowest query. The same pages on a registry of one CP are measured first, as the peer.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"

DSOS = 4
AGRS = 10


def database_url(name: str) -> str:
    parts = urlsplit(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    return urlunsplit(parts._replace(path=f"/{name}"))


def fill(*, connections: int, per_cp: int) -> None:
    """N current memberships and representations (plus 10% superseded ones), with SQL."""
    from django.db import connection

    from registry.models import Participant
    from registry.uftp import keys

    public_key = keys.generate_keypair()[1]
    dsos = [
        Participant.objects.create(
            domain=f"dso{n}.bench.example.com",
            role="DSO",
            public_key=public_key,
            endpoint_url=f"https://dso{n}.bench.example.com/m",
        )
        for n in range(DSOS)
    ]
    agrs = [
        Participant.objects.create(
            domain=f"agr{n}.bench.example.com",
            role="AGR",
            public_key=public_key,
            endpoint_url=f"https://agr{n}.bench.example.com/m",
        )
        for n in range(AGRS)
    ]
    cps = connections // per_cp
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO registry_congestionpoint (entity_address, dso_id, created_at) "
            "SELECT 'ean.9' || lpad(i::text, 14, '0'), (%s::int[])[1 + i %% %s], now() "
            "FROM generate_series(0, %s) i",
            [[d.pk for d in dsos], DSOS, cps - 1],
        )
        cursor.execute(
            "INSERT INTO registry_congestionpointversion (congestion_point_id, start_period, end_period, "
            "mutex_offers_supported, day_ahead_redispatch_by, intraday_redispatch_by, recorded_at, source) "
            "SELECT id, '2024-01-01', NULL, true, 'DSO', 'AGR', now() - interval '2 days', 'bench' "
            "FROM registry_congestionpoint"
        )
        # First: the overlap triggers (migration 0012) then find every connection's row there.
        cursor.execute(
            "INSERT INTO registry_connection (entity_address, created_at) "
            "SELECT 'ean.' || lpad(n::text, 15, '0'), now() FROM generate_series(0, %s) n",
            [connections - 1],
        )
        for recorded, superseded, count in (
            ("now() - interval '3 days'", "now() - interval '2 days'", connections // 10),
            ("now() - interval '2 days'", "NULL", connections),
        ):
            cursor.execute(
                "INSERT INTO registry_membership (congestion_point_id, connection_address, start_period, "  # noqa: S608
                "end_period, recorded_at, superseded_at, source) "
                f"SELECT cp.id, 'ean.' || lpad(n::text, 15, '0'), '2024-01-01', NULL, {recorded}, {superseded}, "
                "'bench' FROM generate_series(0, %s) n JOIN registry_congestionpoint cp "
                "ON cp.entity_address = 'ean.9' || lpad((n / %s)::text, 14, '0')",
                [count - 1, per_cp],
            )
            cursor.execute(
                "INSERT INTO registry_representation (agr_id, connection_address, start_period, end_period, "  # noqa: S608
                "recorded_at, superseded_at, source) "
                "SELECT (%s::int[])[1 + n %% %s], 'ean.' || lpad(n::text, 15, '0'), "
                f"'2024-01-01', NULL, {recorded}, {superseded}, 'bench' FROM generate_series(0, %s) n",
                [[a.pk for a in agrs], AGRS, count - 1],
            )
        cursor.execute("VACUUM ANALYZE")
    print(f"filled {connections:,} connections in {cps:,} CPs in {time.perf_counter() - started:.0f} s")


def pages(*, big: bool) -> dict[str, str]:
    """name -> URL of the pages measured."""
    from registry.models import CongestionPoint, Participant

    agr = Participant.objects.filter(role="AGR").order_by("domain").first()
    dso = Participant.objects.filter(role="DSO", domain__startswith="dso0").first() or (
        Participant.objects.filter(role="DSO").order_by("domain").first()
    )
    cp = CongestionPoint.objects.order_by("entity_address").first()
    agr_pk, dso_pk, cp_pk = (agr.pk if agr else 0), (dso.pk if dso else 0), (cp.pk if cp else 0)
    return {
        "registry page": "/registry/",
        "registry page, last page": "/registry/?page=last",
        "registry page, sort -address": "/registry/?sort=-entity_address",
        "registry page, sort dso": "/registry/?sort=dso",
        "registry page, DSO filter": f"/registry/?dso={dso_pk}",
        "registry page, AGR filter": f"/registry/?agr={agr_pk}",
        "registry page, search CP": "/registry/?q=ean.900000000000042",
        "registry page, search connection": "/registry/?q=ean.000000000123456",
        "registry page, active on day": "/registry/?day=2024-06-01",
        "registry page, as known at": "/registry/?as_of=2030-01-01T00:00",
        "CP detail": f"/registry/congestion-points/{cp_pk}/",
        "AGR portfolio (page 1)": f"/registry/agr-portfolio/?agr={agr_pk}&day=2024-06-01",
        "DSO portfolio (page 1)": f"/registry/dso-portfolio/?dso={dso_pk}&day=2024-06-01",
        "history of a connection": "/registry/history/?address=ean.000000000000042",
        "imports list": "/import/",
        "API congestion points": "/api/congestion-points/",
        "API congestion points, offset 5000": "/api/congestion-points/?offset=5000",
        "API memberships (history)": "/api/history/memberships/",
        "API representations (history)": "/api/history/representations/",
        "API cp versions (history)": "/api/history/congestion-points/",
        # Not measured: /api/agr-portfolios/ inlines every connection of 10 AGRs (2,000,000 at this
        # size): one request ran for minutes (issue 10, left open).
        "export of one DSO (CSV, streamed)": f"/registry/export.csv?dso={dso_pk}",
    }


def measure(*, repeats: int, explain: bool, big: bool) -> dict[str, float]:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    user, _ = get_user_model().objects.get_or_create(
        username="bench", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)
    figures = {}
    for name, url in pages(big=big).items():
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            with CaptureQueriesContext(connection) as captured:
                response = client.get(url)
                size = sum(len(chunk) for chunk in response) if response.streaming else len(response.content)
            times.append(time.perf_counter() - started)
        median = statistics.median(times) * 1000
        figures[name] = median
        slowest = max(captured.captured_queries, key=lambda q: float(q["time"]))
        print(
            f"{name:40} {median:9.1f} ms  {len(captured.captured_queries):3} queries  {size / 1024:8.1f} KiB  "
            f"status {response.status_code}  slowest query {float(slowest['time']) * 1000:.1f} ms"
        )
        if explain and big:
            with connection.cursor() as cursor:
                cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {slowest['sql']}")
                print("    " + "\n    ".join(row[0] for row in cursor.fetchall()[:25]))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--connections", type=int, default=2_000_000)
    parser.add_argument("--per-cp", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the filled database")
    parser.add_argument("--reuse", action="store_true", help="measure a kept database, no fill")
    arguments = parser.parse_args()

    name = os.environ.get("CRO_BENCH_DATABASE", "cro_web_bench")
    os.environ["DATABASE_URL"] = database_url(name)
    import django
    from django.conf import settings

    settings.DEBUG = False
    django.setup()
    from django.core.management import call_command
    from django.db import connection

    settings.ALLOWED_HOSTS = ["*"]
    if not arguments.reuse:
        import psycopg

        with psycopg.connect(database_url("postgres"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
            admin.execute(f'CREATE DATABASE "{name}"')
        call_command("migrate", verbosity=0)
        from registry.models import CongestionPoint, Participant

        peer = Participant.objects.create(
            domain="dso-peer.bench.example.com", role="DSO", public_key="x" * 44, endpoint_url="https://p/m"
        )
        CongestionPoint.objects.create(entity_address="ean.800000000000000", dso=peer)
        print("== empty registry")
        measure(repeats=arguments.repeats, explain=False, big=False)
        fill(connections=arguments.connections, per_cp=arguments.per_cp)
    print(f"== {arguments.connections:,} connections")
    measure(repeats=arguments.repeats, explain=arguments.explain, big=True)
    connection.close()


if __name__ == "__main__":
    main()
