"""Slowloris (issue 15, item 8): clients trickling request bodies must not starve the web tier.

Runs the Procfile's own web command (real gunicorn), opens several connections that send their
body a byte at a time, and checks that a normal request is still answered at once and that the
slow clients are cut off with 408 after CRO_BODY_READ_TIMEOUT_SECONDS.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import urllib.request

import pytest

from tests.e2e.processes import REPO, Proc, free_port, port_answers, wait_until

pytestmark = [pytest.mark.e2e]

SLOW_CLIENTS = 6
BODY_DEADLINE = 8  # longer than a normal request may wait, so the deadline alone cannot pass the test


def procfile_command(name: str) -> str:
    for line in (REPO / "Procfile").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"no {name} process in the Procfile")


@pytest.fixture
def web(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PORT": str(port),
        "CRO_BODY_READ_TIMEOUT_SECONDS": str(BODY_DEADLINE),
        "PYTHONUNBUFFERED": "1",
    }
    proc = Proc("slow-web", ["bash", "-c", f"exec {procfile_command('web')}"], env=env, log_dir=tmp_path)
    proc.start()
    try:
        wait_until(lambda: port_answers(port) or proc.check_alive(), timeout=60, what="gunicorn")
        yield port
    finally:
        proc.stop()


def trickle(port: int, answers: list[bytes], stop: threading.Event) -> None:
    """POST a 1000-byte body one byte every 0.5 s; record what the server answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(
            b"POST /shapeshifter/api/v3/message HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n"
            b"Content-Length: 1000\r\n\r\n"
        )
        sock.settimeout(0.5)
        for _ in range(1000):
            if stop.is_set():
                break
            try:
                sock.sendall(b"<")
                data = sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                break
            answers.append(data)
            break


def live(port: int) -> float:
    started = time.monotonic()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/live", timeout=30) as response:
        assert response.status == 200
    return time.monotonic() - started


def test_slow_clients_do_not_starve_the_web_tier(web):
    for _ in range(6):  # every worker has loaded the application
        live(web)
    answers: list[bytes] = []
    stop = threading.Event()
    threads = [
        threading.Thread(target=trickle, args=(web, answers, stop), daemon=True) for _ in range(SLOW_CLIENTS)
    ]
    for thread in threads:
        thread.start()
    time.sleep(1.5)  # every slow client is connected and trickling
    try:
        assert live(web) < 3
        for thread in threads:
            thread.join(timeout=BODY_DEADLINE + 15)
    finally:
        stop.set()
    assert len(answers) == SLOW_CLIENTS
    assert all(answer.startswith(b"HTTP/1.1 408") for answer in answers), answers
