"""End-to-end benchmark: real gunicorn + Celery + Redis + PostgreSQL, real shapeshifter-uftp peers.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/e2e.py

Creates (and at the end drops) a scratch database `cro_bench_e2e` on the DATABASE_URL's
server, migrates it, starts gunicorn and a Celery worker on Redis (database 13 of REDIS_URL's
server, flushed), registers DSO peers with `manage.py participant_add`, then sends N messages
(DSOPortfolioQuery by default, or TestMessage) from several threads through the
shapeshifter-uftp client and prints:

- accepted/s: HTTP 200 answers per second over the sending phase;
- p50/p99 of the time from the start of the POST to the response arriving at the peer's service.

The same load then goes to the peer library's own ShapeshifterCroService (a minimal subclass that
answers each message at once through its client, in a process of its own), and both results are
printed with their ratio. Loopback only; every wait is bounded; it stops by itself.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.e2e.peers import MinimalLibraryCro, Peer, generate_keypair, quiet_logging  # noqa: E402
from tests.e2e.processes import (  # noqa: E402
    CeleryWorker,
    CroWeb,
    Proc,
    manage,
    redis_flush,
    redis_ping,
    script_service_start,
    wait_until,
)

CRO_DOMAIN = "cro.example.com"
SCRATCH_DB = os.environ.get("CRO_BENCH_DATABASE") or "cro_bench_e2e"
CP = "ean.000000000777"


# --------------------------------------------------------------------------- setup


def scratch_database_url(database_url: str) -> str:
    parts = urllib.parse.urlsplit(database_url)
    if parts.scheme not in ("postgres", "postgresql"):
        sys.exit("bench/e2e.py needs DATABASE_URL=postgres://...")
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


# --------------------------------------------------------------------------- load


def make_message(kind: str):
    from shapeshifter_uftp import DsoPortfolioQuery, TestMessage
    from xsdata.models.datatype import XmlDate

    if kind == "test":
        return TestMessage()
    return DsoPortfolioQuery(entity_address=CP, period=XmlDate(2024, 6, 15), time_zone="Europe/Amsterdam")


def run_load(
    peers: list[Peer], *, messages: int, threads: int, kind: str, timeout: float, rate: float | None = None
) -> SimpleNamespace:
    """Send `messages` from `threads` threads (peer i % len(peers)); wait for every response.

    Without `rate` as fast as the threads go (closed loop); with it, message n is sent at
    n / rate seconds (open loop), so that the latency is the pipeline's and not a queue's.
    """
    sent: dict[str, float] = {}
    # ConversationID -> (POST started, 200 received), wall clock (to compare with the database's)
    posted: dict[str, tuple[float, float]] = {}
    statuses: list[int] = []
    lock = threading.Lock()
    counter = iter(range(messages))
    begin = time.monotonic()

    def sender(index: int) -> None:
        peer = peers[index % len(peers)]
        client = peer.client()
        while True:
            with lock:
                number = next(counter, None)
            if number is None:
                return
            if rate:
                delay = begin + number / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            message = make_message(kind)
            started, started_wall = time.monotonic(), time.time()
            try:
                client._send_message(message)
                status = 200
                posted[message.conversation_id] = (started_wall, time.time())
            except Exception as exc:  # ClientTransportException carries the response
                response = getattr(exc, "response", None)
                status = response.status_code if response is not None else 0
            with lock:
                statuses.append(status)
                if status == 200:
                    sent[message.conversation_id] = started

    started = time.monotonic()
    workers = [threading.Thread(target=sender, args=(i,), daemon=True) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout)
    send_seconds = time.monotonic() - started

    def arrivals() -> dict[str, float]:
        found = {}
        for peer in peers:
            for arrival in peer.arrivals:
                conversation = arrival.attrs.get("ConversationID")
                if conversation in sent:
                    found.setdefault(conversation, arrival.received_at)
        return found

    try:
        wait_until(lambda: len(arrivals()) >= len(sent), timeout=timeout, interval=0.2, what="all responses")
    except TimeoutError:
        pass
    arrived = arrivals()
    latencies = sorted(arrived[c] - sent[c] for c in arrived)
    wall_offset = time.time() - time.monotonic()
    return SimpleNamespace(
        posted=posted,
        arrived_wall={c: t + wall_offset for c, t in arrived.items()},
        sent=len(statuses),
        ok=statuses.count(200),
        errors={s: statuses.count(s) for s in set(statuses) if s != 200},
        send_seconds=send_seconds,
        accepted_per_second=statuses.count(200) / send_seconds if send_seconds else 0.0,
        answered=len(arrived),
        p50=percentile(latencies, 50),
        p99=percentile(latencies, 99),
        total_seconds=(max(arrived.values()) - min(sent.values())) if arrived else float("nan"),
        answered_per_second=(
            len(arrived) / (max(arrived.values()) - min(sent.values())) if len(arrived) > 1 else float("nan")
        ),
    )


def stages(result: SimpleNamespace, database_url: str) -> None:
    """Where the time of our paced messages goes: medians of each stage, from the database's
    timestamps of each message (receipt stored, processed, response delivered) and the peer's."""
    import psycopg

    url = database_url.replace("postgres://", "postgresql://", 1)
    with psycopg.connect(url) as conn:
        received = dict(
            conn.execute(
                "SELECT conversation_id, extract(epoch FROM created_at) FROM registry_message WHERE direction = 'in'"
            ).fetchall()
        )
        processed = dict(
            conn.execute(
                "SELECT conversation_id, extract(epoch FROM processed_at) FROM registry_message"
                " WHERE direction = 'in' AND processed_at IS NOT NULL"
            ).fetchall()
        )
    spans: dict[str, list[float]] = {name: [] for name in STAGES}
    totals: list[tuple[float, float, int]] = []  # (POST -> response, POST started, position)
    ordered = sorted(result.posted.items(), key=lambda item: item[1][0])
    for position, (conversation, (post_started, answered_200)) in enumerate(ordered, start=1):
        arrival = result.arrived_wall.get(conversation)
        if conversation not in received or conversation not in processed or arrival is None:
            continue
        stored, done = float(received[conversation]), float(processed[conversation])
        for name, span in zip(
            STAGES,
            (stored - post_started, answered_200 - stored, done - stored, arrival - done),
            strict=True,
        ):
            spans[name].append(span)
        totals.append((arrival - post_started, post_started, position))
    print("  where the time goes (median, slowest):")
    for name, values in spans.items():
        if not values:
            print(f"    {name}: -")
            continue
        print(f"    {name:<52} {statistics.median(values) * 1000:6.1f} ms {max(values) * 1000:8.1f} ms")
    if totals:
        total, post_started, position = max(totals)
        print(
            f"  slowest message: {total * 1000:.1f} ms, number {position} in sending order,"
            f" {post_started - ordered[0][1][0]:.2f} s after the first POST"
        )


STAGES = (
    "POST started -> receipt stored (peer client, gunicorn)",
    "receipt stored -> 200 at the peer client",
    "receipt stored -> processed (doorbell, drain)",
    "processed -> response at the peer (commit, POST)",
)


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(pct) - 1]


def measure(
    title: str, peers: list[Peer], args, procs: dict | None = None
) -> tuple[SimpleNamespace, SimpleNamespace | None]:
    """Warm up, then the full-speed load, then (unless --paced 0) the paced one; print both.
    `procs` (name -> process): their CPU during the full-speed load is printed, with the
    PostgreSQL server's and this process's own (the peers: clients and services)."""
    load = {"threads": args.threads, "kind": args.kind, "timeout": args.timeout}
    run_load(peers, messages=min(20, args.messages), **load)
    before = cpu_now(procs or {})
    full = run_load(peers, messages=args.messages, **load)
    spent = {name: seconds - before[name] for name, seconds in cpu_now(procs or {}).items()}
    report(f"{title}: full speed", full)
    answered = max(full.answered, 1)
    # (A postgres process that ended during the load, e.g. the other side's idle connection
    # closing, takes its CPU time with it: the sum can fall; it is then not printed.)
    print(
        "  CPU per message: "
        + ", ".join(
            f"{name} {1000 * seconds / answered:.2f} ms" if seconds >= 0 else f"{name} n/a"
            for name, seconds in spent.items()
        )
    )
    paced = None
    if args.paced:
        paced = run_load(peers, messages=args.paced, rate=args.rate, **load)
        report(f"{title}: paced at {args.rate:g} messages/s", paced)
    return full, paced


def cpu_now(procs: dict) -> dict[str, float]:
    """CPU seconds so far of each process group in `procs`, of every postgres process, and of
    this process (the peers)."""
    from bench.accept import group_cpu_seconds

    found = {name: group_cpu_seconds(proc.pid) for name, proc in procs.items()}
    ticks = os.sysconf("SC_CLK_TCK")
    postgres = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        if "(postgres)" in text:
            fields = text.rsplit(")", 1)[1].split()
            postgres += int(fields[11]) + int(fields[12])
    found["postgres"] = postgres / ticks
    own = os.times()
    found["peers (this process)"] = own.user + own.system
    return found


def report(title: str, result: SimpleNamespace) -> None:
    print(f"\n{title}")
    print(f"  sent {result.sent}, HTTP 200: {result.ok}, other answers: {result.errors or 'none'}")
    print(f"  accepted/s (HTTP 200 per second while sending): {result.accepted_per_second:8.1f}")
    print(f"  responses arrived at the peers: {result.answered}/{result.ok}")
    print(
        f"  POST -> response at the peer: p50 {result.p50 * 1000:8.1f} ms   p99 {result.p99 * 1000:8.1f} ms"
    )
    print(
        f"  first POST -> last response: {result.total_seconds:6.2f} s "
        f"({result.answered_per_second:.1f} responses/s end to end)"
    )


# --------------------------------------------------------------------------- the library's CRO


def serve_library_cro(config_path: str) -> None:
    """Child process: the library's ShapeshifterCroService (minimal) until it is terminated."""
    config = json.loads(Path(config_path).read_text())
    keys = {(domain, role): key for domain, role, key, _ in config["peers"]}
    endpoints = {(domain, role): url for domain, role, _, url in config["peers"]}
    service = MinimalLibraryCro(
        sender_domain=CRO_DOMAIN,
        signing_key=config["private_key"],
        peer_keys=keys,
        peer_endpoints=endpoints,
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
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--peers", type=int, default=4, help="DSO peers (services + clients)")
    parser.add_argument(
        "--kind", choices=["query", "test"], default="query", help="DSOPortfolioQuery or TestMessage"
    )
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--worker-concurrency", type=int, default=4)
    parser.add_argument("--redis-db", type=int, default=13)
    parser.add_argument("--timeout", type=float, default=180, help="bound on each phase, seconds")
    parser.add_argument(
        "--paced", type=int, default=100, help="messages of the second, paced phase (0: skip it)"
    )
    parser.add_argument("--rate", type=float, default=5.0, help="messages per second of the paced phase")
    parser.add_argument("--keep-db", action="store_true", help="do not drop the scratch database at the end")
    parser.add_argument("--only", choices=["ours", "library"], help="measure one side only")
    parser.add_argument(
        "--rounds", type=int, default=1, help="alternate the two sides this many times; print the medians"
    )
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="sample our web and worker processes with py-spy into DIR (raw stacks)",
    )
    parser.add_argument("--serve-library-cro", metavar="CONFIG", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_library_cro:
        serve_library_cro(args.serve_library_cro)
        return

    database_url = os.environ.get("DATABASE_URL", "")
    scratch_url = scratch_database_url(database_url)
    broker = redis_url(args.redis_db)
    if not redis_ping(broker):
        sys.exit(f"Redis does not answer at {broker}")
    log_dir = Path(os.environ.get("BENCH_LOG_DIR", "/tmp/cro-bench-e2e"))
    log_dir.mkdir(parents=True, exist_ok=True)
    cro_private, cro_public = generate_keypair()
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
            "CRO_RATE_LIMIT_PER_MINUTE": "0",  # one sender sends hundreds a minute here
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
            # The benchmark speaks plain HTTP on loopback.
            "CRO_SECURE_SSL_REDIRECT": "0",
        }
    )
    for name in ("CRO_MODE", "CRO_SIGNING_KEY_FILE", "CRO_MAX_MESSAGE_BYTES"):
        env.pop(name, None)

    procs: list[Proc] = []
    peers: list[Peer] = []
    print(
        f"bench/e2e.py: {args.messages} x {'DSOPortfolioQuery' if args.kind == 'query' else 'TestMessage'} "
        f"from {args.threads} threads, {args.peers} DSO peers; gunicorn {args.web_workers} workers, "
        f"Celery concurrency {args.worker_concurrency}; {os.cpu_count()} CPUs; logs in {log_dir}"
    )
    try:
        recreate_database(scratch_url)
        redis_flush(broker)
        manage(["migrate", "--noinput"], env=env, timeout=300)
        web = CroWeb(env=env, log_dir=log_dir, workers=args.web_workers, name="bench-web")
        worker = CeleryWorker(
            env=env, log_dir=log_dir, concurrency=args.worker_concurrency, name="bench-worker"
        )
        for proc in (web, worker):
            procs.append(proc)
            proc.start()

        for index in range(args.peers):
            peer = Peer(
                domain=f"dso{index}.bench.example.com",
                role="DSO",
                cro_domain=CRO_DOMAIN,
                cro_public_key=cro_public,
                cro_url=web.url,
            ).start()
            peers.append(peer)
            manage(
                ["participant_add", "--domain", peer.domain, "--role", "DSO", "--public-key", peer.public_key,
                 "--endpoint", peer.endpoint_url],
                env=env,
            )  # fmt: skip

        if args.kind == "query":  # a congestion point per DSO... one CP, owned by the first DSO
            from shapeshifter_uftp import (
                DsoPortfolioUpdate,
                DsoPortfolioUpdateCongestionPoint,
                DsoPortfolioUpdateConnection,
            )
            from xsdata.models.datatype import XmlDate

            update = DsoPortfolioUpdate(
                congestion_points=[
                    DsoPortfolioUpdateCongestionPoint(
                        entity_address=CP,
                        start_period=XmlDate(2024, 1, 1),
                        mutex_offers_supported=True,
                        day_ahead_redispatch_by="DSO",
                        connections=[
                            DsoPortfolioUpdateConnection(entity_address=f"ean.{500000000000 + i}", start_period=XmlDate(2024, 1, 1))
                            for i in range(20)
                        ],
                    )
                ]
            )  # fmt: skip
            peers[0].send(update)
            peers[0].wait_for(conversation_id=update.conversation_id, timeout=60)
            # Only the owner may query the CP; the other DSOs are answered Rejected (as much work).

        # The library's minimal CRO, in a process of its own, with the same peers, started now so
        # that the rounds alternate between the two (machine speed drifts over minutes here).
        library_url = library_public = None
        library = None
        if args.only != "ours":
            library_private, library_public = generate_keypair()
            library, port = script_service_start(
                name="bench-library-cro",
                script=Path(__file__).resolve(),
                flag="--serve-library-cro",
                config={
                    "private_key": library_private,
                    "peers": [[p.domain, "DSO", p.public_key, p.endpoint_url] for p in peers],
                },
                env=env,
                log_dir=log_dir,
            )
            procs.append(library)
            library_url = f"http://127.0.0.1:{port}/shapeshifter/api/v3/message"

        rounds: list[tuple] = []
        for number in range(1, args.rounds + 1):
            if args.rounds > 1:
                print(f"\n===== round {number}/{args.rounds}")
            ours = ours_paced = theirs = theirs_paced = None
            if args.only != "library":
                for peer in peers:
                    peer.cro_url, peer.cro_public_key = web.url, cro_public
                with profiled(args.profile if number == 1 else None, {"web": web, "worker": worker}):
                    ours, ours_paced = measure(
                        "our CRO (gunicorn + Celery on Redis + PostgreSQL)",
                        peers,
                        args,
                        {"gunicorn": web, "celery": worker},
                    )
                if ours_paced is not None:
                    stages(ours_paced, scratch_url)
            if library is not None:
                for peer in peers:
                    peer.cro_url, peer.cro_public_key = library_url, library_public
                theirs, theirs_paced = measure(
                    "the peer library's ShapeshifterCroService (minimal: answers at once, no registry)",
                    peers,
                    args,
                    {"library": library},
                )
            if ours is not None and theirs is not None:
                rounds.append((ours, ours_paced, theirs, theirs_paced))
                print_ratios("ratio ours / library", ours, ours_paced, theirs, theirs_paced)
        if len(rounds) > 1:
            print_medians(rounds)
    finally:
        for proc in reversed(procs):
            proc.stop()
        for peer in peers:
            peer.stop()
        if not args.keep_db:
            try:
                recreate_database(scratch_url, drop_only=True)
            except Exception as exc:  # leave it; the next run drops it first
                print(f"could not drop {SCRATCH_DB}: {exc}", file=sys.stderr)


def print_ratios(title: str, ours, ours_paced, theirs, theirs_paced) -> None:
    print(f"\n{title}")
    print(
        f"  full speed: accepted/s {ours.accepted_per_second / theirs.accepted_per_second:5.2f}   "
        f"responses/s {ours.answered_per_second / theirs.answered_per_second:5.2f}   "
        f"p50 {ours.p50 / theirs.p50:7.1f}   p99 {ours.p99 / theirs.p99:7.1f}"
    )
    if ours_paced and theirs_paced:
        print(
            f"  paced:      p50 {ours_paced.p50 / theirs_paced.p50:7.1f}   p99 {ours_paced.p99 / theirs_paced.p99:7.1f}"
        )


def print_medians(rounds: list[tuple]) -> None:
    """Medians over the rounds: each side's figures, and the ratio of each round (its two sides
    measured minutes apart at most)."""
    median = statistics.median
    print(f"\nmedians over {len(rounds)} rounds")
    for side, (full_index, paced_index) in (("ours", (0, 1)), ("library", (2, 3))):
        full = [r[full_index] for r in rounds]
        line = (
            f"  {side:<8} responses/s {median(f.answered_per_second for f in full):7.1f}"
            f"   accepted/s {median(f.accepted_per_second for f in full):7.1f}"
        )
        paced = [r[paced_index] for r in rounds if r[paced_index] is not None]
        if paced:
            line += (
                f"   paced p50 {median(p.p50 for p in paced) * 1000:6.1f} ms"
                f"   p99 {median(p.p99 for p in paced) * 1000:6.1f} ms"
            )
        print(line)
    per_round = [r[0].answered_per_second / r[2].answered_per_second for r in rounds]
    print(
        "  ratio ours / library, responses/s: median "
        f"{median(per_round):.2f} (rounds: {', '.join(f'{x:.2f}' for x in per_round)})"
    )
    accepted = [r[0].accepted_per_second / r[2].accepted_per_second for r in rounds]
    print(f"  ratio ours / library, accepted/s:  median {median(accepted):.2f}")
    paced_rounds = [r for r in rounds if r[1] is not None and r[3] is not None]
    if paced_rounds:
        print(
            f"  ratio ours / library, paced p50:   median {median(r[1].p50 / r[3].p50 for r in paced_rounds):.2f}"
        )


@contextlib.contextmanager
def profiled(directory: str | None, procs: dict):
    """py-spy (requirements-dev.txt) samples each process and its children while the block runs."""
    if not directory:
        yield
        return
    Path(directory).mkdir(parents=True, exist_ok=True)
    spies = [
        subprocess.Popen(
            [
                str(Path(sys.executable).parent / "py-spy"),
                "record",
                "--subprocesses",
                "--nonblocking",
                *(["--gil"] if os.environ.get("BENCH_PROFILE_GIL") else []),
                "--format",
                "raw",
                "--rate",
                "200",
                "--pid",
                str(proc.pid),
                "-o",
                str(Path(directory) / f"{name}.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        for name, proc in procs.items()
    ]
    try:
        yield
    finally:
        for spy in spies:
            spy.send_signal(signal.SIGINT)
        for spy in spies:
            try:
                spy.wait(timeout=30)
            except subprocess.TimeoutExpired:
                spy.kill()
        print(f"profiles (py-spy raw stacks) in {directory}")


if __name__ == "__main__":
    main()
