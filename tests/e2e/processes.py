"""Real processes for the end-to-end tests and the benchmark: gunicorn, Celery, redis-server.

No Django imports here: the benchmark uses this module without Django settings. Every
process writes its output to a log file; `Proc.log_tail()` gives it back for failure reports.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(
    predicate: Callable[[], object], *, timeout: float, interval: float = 0.1, what: str = "condition"
):
    """Poll `predicate` until it returns something truthy; return it, or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def port_answers(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class Proc:
    """One child process in its own process group, with its output in a log file."""

    def __init__(
        self, name: str, argv: list[str], *, env: Mapping[str, str], log_dir: Path, cwd: Path = REPO
    ):
        self.name = name
        self.argv = argv
        self.env = dict(env)
        self.cwd = cwd
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{name}.log"
        self.popen: subprocess.Popen | None = None

    def start(self) -> Proc:
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        log.write(f"\n===== start {' '.join(self.argv)}\n".encode())
        log.flush()
        self.popen = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=self.cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: children can be stopped with it
        )
        log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def check_alive(self) -> None:
        if not self.alive():
            code = self.popen.returncode if self.popen else None
            raise RuntimeError(f"{self.name} exited with {code}:\n{self.log_tail()}")

    def stop(self, *, timeout: float = 10.0) -> None:
        """SIGTERM the process group, wait, then SIGKILL what is left."""
        if self.popen is None:
            return
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        self.kill_group()
        self.popen = None

    def kill_group(self) -> None:
        """SIGKILL the whole process group (the process and every child it forked)."""
        if self.popen is None:
            return
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, chars: int = 6000) -> str:
        text = self.log_text()
        return text[-chars:]


class RedisServer(Proc):
    """A private redis-server on a free port (no persistence): a broker that can be stopped."""

    def __init__(self, *, log_dir: Path, port: int | None = None, name: str = "redis"):
        self.port = port or free_port()
        super().__init__(
            name,
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ],
            env=os.environ,
            log_dir=log_dir,
        )

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> RedisServer:
        super().start()
        wait_until(
            lambda: port_answers(self.port) or self.check_alive(), timeout=15, what=f"redis on {self.port}"
        )
        return self


class CroWeb(Proc):
    """The CRO under gunicorn on a free loopback port."""

    def __init__(
        self, *, env: Mapping[str, str], log_dir: Path, workers: int = 2, name: str = "web", port=None
    ):
        self.port = port or free_port()
        super().__init__(
            name,
            [
                str(VENV_BIN / "gunicorn"),
                "cro.wsgi",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(workers),
                "--timeout",
                "120",
                "--graceful-timeout",
                "5",
                "--access-logfile",
                "-",
                "--error-logfile",
                "-",
            ],
            env=env,
            log_dir=log_dir,
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The UFTP endpoint of this CRO."""
        return f"{self.base_url}/shapeshifter/api/v3/message"

    def _ready(self) -> bool:
        self.check_alive()
        try:
            with urllib.request.urlopen(self.url, timeout=2) as response:  # a GET: 405 expected
                return response.status > 0
        except urllib.error.HTTPError as exc:
            return exc.code == 405
        except OSError:
            return False

    def start(self, timeout: float = 60) -> CroWeb:
        super().start()
        try:
            wait_until(self._ready, timeout=timeout, interval=0.2, what=f"gunicorn on {self.port}")
        except (TimeoutError, RuntimeError) as exc:
            raise RuntimeError(f"{self.name} did not start: {exc}\n{self.log_tail()}") from exc
        return self


class CeleryWorker(Proc):
    """`celery -A cro worker` with a unique node name; ready when it logs 'ready.'."""

    _counter = 0

    def __init__(self, *, env: Mapping[str, str], log_dir: Path, concurrency: int = 2, name: str = "worker"):
        CeleryWorker._counter += 1
        self.node = f"{name}-{os.getpid()}-{CeleryWorker._counter}@e2e"
        super().__init__(
            f"{name}-{CeleryWorker._counter}",
            [
                str(VENV_BIN / "celery"),
                "-A",
                "cro",
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                str(concurrency),
                "--pool",
                "prefork",
                "-n",
                self.node,
                "--without-gossip",
                "--without-mingle",
            ],
            env=env,
            log_dir=log_dir,
        )

    def start(self, timeout: float = 60) -> CeleryWorker:
        offset = len(self.log_text())
        super().start()

        def ready() -> bool:
            self.check_alive()
            return " ready." in self.log_text()[offset:]

        try:
            wait_until(ready, timeout=timeout, interval=0.2, what=f"celery worker {self.node}")
        except (TimeoutError, RuntimeError) as exc:
            raise RuntimeError(f"{self.name} did not start: {exc}\n{self.log_tail()}") from exc
        return self

    def pool_children(self) -> list[int]:
        """Pids of the prefork pool's child processes."""
        try:
            out = subprocess.run(
                ["ps", "-o", "pid=", "--ppid", str(self.pid)], capture_output=True, text=True, check=False
            ).stdout
        except OSError:
            return []
        return [int(pid) for pid in out.split()]


def manage(args: list[str], *, env: Mapping[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `python manage.py ...` as a subprocess with `env`; raise with its output on failure."""
    completed = subprocess.run(
        [sys.executable, "manage.py", *args],
        env=dict(env),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"manage.py {' '.join(args)} failed ({completed.returncode}):\n{completed.stdout}\n{completed.stderr}"
        )
    return completed


def redis_flush(url: str) -> None:
    """FLUSHDB on the Redis database of `url` (redis://host:port/db)."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


def redis_ping(url: str) -> bool:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def script_service_start(
    *, name: str, script: Path, flag: str, config: dict, env: Mapping[str, str], log_dir: Path
) -> tuple[Proc, int]:
    """Run `script flag <config file>` (the benchmarks' `--serve-library-cro`) on a free port:
    the config, with that `port` added, is written to a JSON file in `log_dir`. Returns the
    process, once it answers on the port, and the port."""
    port = free_port()
    config_path = log_dir / f"{name}.json"
    config_path.write_text(json.dumps({**config, "port": port}))
    service = Proc(name, [sys.executable, str(script), flag, str(config_path)], env=env, log_dir=log_dir)
    service.start()
    try:
        wait_until(lambda: service.check_alive() or port_answers(port), timeout=30, what=name)
    except BaseException:
        service.stop()
        raise
    return service, port
