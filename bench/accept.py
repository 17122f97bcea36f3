"""Accept-path benchmark: the same wrk load on our CRO and on the peer library's CRO service.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/accept.py

Needs `wrk` (Debian package). Creates (and at the end drops) a scratch database
`cro_bench_accept`, migrates it, and starts our CRO as the Procfile does (gunicorn, a Celery
worker on Redis database 12 of REDIS_URL's server) plus a stub endpoint that answers the
responses 200. It signs a pool of fresh 1-connection DSOPortfolioUpdates (a new MessageID
each, so no request repeats) and lets wrk POST them (2 threads, 16 connections by default)
for `--seconds`, then prints requests/s, latency (average, p50, p99) and non-200 answers, and
how long the worker took to answer everything accepted. The same pool (re-signed MessageIDs)
then goes to the library's ShapeshifterCroService (minimal: answers each message at once
through its own client, no registry) in a process of its own, and both are printed with
their ratio. Several rounds alternate the two, and the medians are printed. Loopback only;
every wait is bounded; it stops by itself.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import time
import urllib.parse
import uuid
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.e2e.peers import MinimalLibraryCro, StubEndpoint, generate_keypair, quiet_logging  # noqa: E402
from tests.e2e.processes import (  # noqa: E402
    CeleryWorker,
    CroWeb,
    Proc,
    manage,
    redis_flush,
    redis_ping,
    script_service_start,
)

CRO_DOMAIN = "cro.example.com"
DSO_DOMAIN = "dso.bench.example.com"
SCRATCH_DB = os.environ.get("CRO_BENCH_DATABASE") or "cro_bench_accept"
UFTP_PATH = "/shapeshifter/api/v3/message"

WRK_SCRIPT = r"""
-- Each wrk thread POSTs its own slice of the pre-signed messages, each once.
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end
function init(args)
  messages = {}
  local threads = tonumber(args[2])
  local i = 0
  for line in io.lines(args[1]) do
    if i % threads == id then messages[#messages + 1] = line end
    i = i + 1
  end
  index = 0
  headers = {["Content-Type"] = "text/xml; charset=utf-8"}
end
function request()
  index = index + 1
  if index > #messages then index = 1 end
  return wrk.format("POST", nil, headers, messages[index])
end
"""


# --------------------------------------------------------------------------- setup


def scratch_database_url(database_url: str) -> str:
    parts = urllib.parse.urlsplit(database_url)
    if parts.scheme not in ("postgres", "postgresql"):
        sys.exit("bench/accept.py needs DATABASE_URL=postgres://...")
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, f"/{SCRATCH_DB}", "", ""))


def recreate_database(database_url: str, *, drop_only: bool = False) -> None:
    import psycopg

    parts = urllib.parse.urlsplit(database_url)
    admin = urllib.parse.urlunsplit(("postgresql", parts.netloc, "/postgres", "", ""))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{SCRATCH_DB}" WITH (FORCE)')
        if not drop_only:
            conn.execute(f'CREATE DATABASE "{SCRATCH_DB}"')


def redis_url(db: int) -> str:
    parts = urllib.parse.urlsplit(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, f"/{db}", "", ""))


def message_pool(path: Path, *, count: int, private_key: str, first_connection: int) -> None:
    """Write `count` signed 1-connection DSOPortfolioUpdates, one SignedMessage XML a line.

    Each goes to a congestion point of its own (so that none is refused as out of sequence
    and every one is applied), with a fresh MessageID and ConversationID.
    """
    from registry.uftp import codec, messages

    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    with path.open("w") as out:
        for n in range(count):
            number = first_connection + n
            payload = messages.DSOPortfolioUpdate(
                version="3.1.0",
                sender_domain=DSO_DOMAIN,
                recipient_domain=CRO_DOMAIN,
                time_stamp=now,
                message_id=str(uuid.uuid4()),
                conversation_id=str(uuid.uuid4()),
                time_zone="Europe/Amsterdam",
                congestion_points=(
                    messages.CongestionPointUpdate(
                        entity_address=f"ea1.2024-01.bench.example.com:cp{number}",
                        start_period=dt.date(2024, 1, 1),
                        end_period=None,
                        mutex_offers_supported=True,
                        day_ahead_redispatch_by=messages.RedispatchBy.DSO,
                        intraday_redispatch_by=None,
                        connections=(
                            messages.ConnectionPeriod(
                                entity_address=f"ean.{700000000000 + number}",
                                start_period=dt.date(2024, 1, 1),
                            ),
                        ),
                    ),
                ),
            )
            signed = codec.build_signed_message(
                sender_domain=DSO_DOMAIN,
                sender_role=messages.Role.DSO,
                inner_xml=codec.serialize(payload),
                private_key=private_key,
            )
            out.write(signed.decode("utf-8").replace("\n", "") + "\n")


# --------------------------------------------------------------------------- load


def wrk(
    url: str, *, pool: Path, threads: int, connections: int, seconds: int, log_dir: Path
) -> SimpleNamespace:
    script = log_dir / "accept.lua"
    script.write_text(WRK_SCRIPT)
    completed = subprocess.run(
        ["wrk", "--latency", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s",
         "-s", str(script), url, "--", str(pool), str(threads)],
        capture_output=True, text=True, timeout=seconds + 60, check=True,
    )  # fmt: skip
    out = completed.stdout
    (log_dir / "wrk.last.txt").write_text(out)

    def duration_ms(text: str) -> float:
        value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]

    requests = int(re.search(r"(\d+) requests in", out).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return SimpleNamespace(
        requests=requests,
        per_second=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        average_ms=duration_ms(re.search(r"Latency\s+(\S+)", out).group(1)),
        p50_ms=duration_ms(re.search(r"\s50%\s+(\S+)", out).group(1)),
        p99_ms=duration_ms(re.search(r"\s99%\s+(\S+)", out).group(1)),
        non_200=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=errors.group(1).strip() if errors else "none",
    )


def group_cpu_seconds(pgid: int) -> float:
    """CPU seconds (user + system) used so far by the live processes of process group `pgid`."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # after the state: ppid, pgrp, ...; utime and stime are 14 and 15
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def cpu_during(procs: dict[str, Proc], run):
    """run(), and the CPU seconds each of `procs` spent meanwhile."""
    before = {name: group_cpu_seconds(proc.pid) for name, proc in procs.items()}
    result = run()
    return result, {name: group_cpu_seconds(proc.pid) - before[name] for name, proc in procs.items()}


def report_cpu(cpu: dict[str, float], result: SimpleNamespace) -> None:
    accepted = max(result.requests - result.non_200, 1)
    print(
        "            CPU during the round: "
        + ", ".join(f"{name} {seconds:.1f} s ({1000 * seconds / accepted:.2f} ms/request)"
                    for name, seconds in cpu.items())
    )  # fmt: skip


def report(title: str, result: SimpleNamespace) -> None:
    print(
        f"  {title:<9} {result.per_second:8.1f} req/s   latency avg {result.average_ms:7.1f} ms"
        f"   p50 {result.p50_ms:7.1f} ms   p99 {result.p99_ms:7.1f} ms   non-200 {result.non_200}"
        f"   socket errors: {result.socket_errors}"
    )


def backlog_drained(env: dict, *, accepted: int, timeout: float) -> tuple[float, int]:
    """Seconds until every accepted message is answered (or `timeout`), and how many were."""
    import psycopg

    begin = time.monotonic()
    answered = 0
    with psycopg.connect(
        env["DATABASE_URL"].replace("postgres://", "postgresql://"), autocommit=True
    ) as conn:
        while time.monotonic() - begin < timeout:
            answered = conn.execute(
                "SELECT count(*) FROM registry_message WHERE direction = 'out' AND status = 'delivered'"
            ).fetchone()[0]
            if answered >= accepted:
                break
            time.sleep(0.5)
    return time.monotonic() - begin, answered


# --------------------------------------------------------------------------- the library's CRO


def serve_library_cro(config_path: str) -> None:
    """Child process: the library's ShapeshifterCroService (minimal) until it is terminated."""
    config = json.loads(Path(config_path).read_text())
    service = MinimalLibraryCro(
        sender_domain=CRO_DOMAIN,
        signing_key=config["private_key"],
        peer_keys={(DSO_DOMAIN, "DSO"): config["dso_public_key"]},
        peer_endpoints={(DSO_DOMAIN, "DSO"): config["dso_endpoint"]},
        host="127.0.0.1",
        port=config["port"],
    )
    quiet_logging()
    service.run()


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration of each round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds alternating ours and the library's")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--pool", type=int, default=0, help="messages signed per round (default: 1500/s)")
    parser.add_argument("--web-workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", 2)))
    parser.add_argument(
        "--worker-concurrency", type=int, default=int(os.environ.get("WORKER_CONCURRENCY", 4))
    )
    parser.add_argument("--no-worker", action="store_true", help="measure our CRO with the worker stopped")
    parser.add_argument("--redis-db", type=int, default=12)
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--serve-library-cro", metavar="CONFIG", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_library_cro:
        serve_library_cro(args.serve_library_cro)
        return
    if not shutil.which("wrk"):
        sys.exit("bench/accept.py needs wrk (apt-get install wrk)")

    scratch_url = scratch_database_url(os.environ.get("DATABASE_URL", ""))
    broker = redis_url(args.redis_db)
    if not redis_ping(broker):
        sys.exit(f"Redis does not answer at {broker}")
    log_dir = Path(os.environ.get("BENCH_LOG_DIR", "/tmp/cro-bench-accept"))
    log_dir.mkdir(parents=True, exist_ok=True)
    pool_size = args.pool or 1500 * args.seconds
    cro_private, cro_public = generate_keypair()
    dso_private, dso_public = generate_keypair()
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "cro.settings",
            "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "CRO_DOMAIN": CRO_DOMAIN,
            "CRO_SIGNING_KEY": cro_private,
            "CRO_VAR_DIR": str(log_dir / "var"),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATABASE_URL": scratch_url,
            "CELERY_BROKER_URL": broker,
            "CACHE_URL": broker,
            "CRO_RATE_LIMIT_PER_MINUTE": "0",  # one sender sends thousands a minute here
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
            # The benchmark speaks plain HTTP on loopback.
            "CRO_SECURE_SSL_REDIRECT": "0",
        }
    )
    for name in ("CRO_MODE", "CRO_SIGNING_KEY_FILE", "CRO_MAX_MESSAGE_BYTES"):
        env.pop(name, None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()

    stub = StubEndpoint(200).start()
    procs: list[Proc] = []
    ours: list[SimpleNamespace] = []
    theirs: list[SimpleNamespace] = []
    drains: list[tuple[float, int, int]] = []
    print(
        f"bench/accept.py: wrk -t{args.threads} -c{args.connections} -d{args.seconds}s, {args.rounds} rounds, "
        f"fresh signed 1-connection DSOPortfolioUpdates; gunicorn {args.web_workers} workers, Celery "
        f"{'stopped' if args.no_worker else f'concurrency {args.worker_concurrency}'}; {os.cpu_count()} CPUs"
    )
    try:
        recreate_database(scratch_url)
        redis_flush(broker)
        manage(["migrate", "--noinput"], env=env, timeout=300)
        manage(
            ["participant_add", "--domain", DSO_DOMAIN, "--role", "DSO", "--public-key", dso_public,
             "--endpoint", stub.url],
            env=env,
        )  # fmt: skip
        web = CroWeb(env=env, log_dir=log_dir, workers=args.web_workers, name="accept-web")
        procs.append(web)
        web.start()
        worker = None
        if not args.no_worker:
            worker = CeleryWorker(
                env=env, log_dir=log_dir, concurrency=args.worker_concurrency, name="accept-worker"
            )
            procs.append(worker)
            worker.start()

        library, port = script_service_start(
            name="accept-library-cro",
            script=Path(__file__).resolve(),
            flag="--serve-library-cro",
            config={
                "private_key": generate_keypair()[0],
                "dso_public_key": dso_public,
                "dso_endpoint": stub.url,
            },
            env=env,
            log_dir=log_dir,
        )
        procs.append(library)
        library_url = f"http://127.0.0.1:{port}{UFTP_PATH}"

        delivered_before = 0
        for round_number in range(args.rounds):
            print(f"round {round_number + 1}/{args.rounds}")
            pool = log_dir / "pool.txt"
            message_pool(
                pool, count=pool_size, private_key=dso_private, first_connection=2 * round_number * pool_size
            )
            watched = {"gunicorn": web, **({"celery": worker} if worker is not None else {})}
            result, cpu = cpu_during(
                watched,
                functools.partial(wrk, web.url, pool=pool, threads=args.threads,
                                  connections=args.connections, seconds=args.seconds, log_dir=log_dir),
            )  # fmt: skip
            report("ours", result)
            report_cpu(cpu, result)
            ours.append(result)
            if worker is not None:
                accepted = result.requests - result.non_200
                seconds, answered = backlog_drained(env, accepted=delivered_before + accepted, timeout=300)
                drains.append((seconds, answered - delivered_before, accepted))
                print(f"            worker answered {answered - delivered_before}/{accepted} accepted messages; "
                      f"backlog drained {seconds:5.1f} s after wrk stopped")  # fmt: skip
                delivered_before = answered
            message_pool(
                pool,
                count=pool_size,
                private_key=dso_private,
                first_connection=(2 * round_number + 1) * pool_size,
            )
            result, cpu = cpu_during(
                {"library": library},
                functools.partial(wrk, library_url, pool=pool, threads=args.threads,
                                  connections=args.connections, seconds=args.seconds, log_dir=log_dir),
            )  # fmt: skip
            report("library", result)
            report_cpu(cpu, result)
            theirs.append(result)
            time.sleep(2)  # let the library's response threads finish before the next round

        def median(results: list[SimpleNamespace], field: str) -> float:
            return statistics.median(getattr(r, field) for r in results)

        print("\nmedians over the rounds")
        for title, results in (("ours", ours), ("library", theirs)):
            print(
                f"  {title:<9} {median(results, 'per_second'):8.1f} req/s   latency avg "
                f"{median(results, 'average_ms'):7.1f} ms   p50 {median(results, 'p50_ms'):7.1f} ms   "
                f"p99 {median(results, 'p99_ms'):7.1f} ms"
            )
        print(
            f"ratio ours / library: requests/s {median(ours, 'per_second') / median(theirs, 'per_second'):5.2f}"
            f"   average latency {median(ours, 'average_ms') / median(theirs, 'average_ms'):5.2f}"
        )
        if drains:
            print(
                "worker: backlog drained a median "
                f"{statistics.median(d[0] for d in drains):.1f} s after each {args.seconds} s round"
            )
    finally:
        for proc in reversed(procs):
            proc.stop()
        stub.stop()
        if not args.keep_db:
            try:
                recreate_database(scratch_url, drop_only=True)
            except Exception as exc:  # leave it; the next run drops it first
                print(f"could not drop {SCRATCH_DB}: {exc}", file=sys.stderr)


if __name__ == "__main__":
    main()
