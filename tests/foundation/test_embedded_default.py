"""The README's run command on the embedded default: SQLite, a filesystem broker, a real worker.

`bin/run` is started as an operator would, with no configuration at all; a peer built with
the shapeshifter-uftp library sends a TestMessage and the CRO's signed TestMessageResponse
must arrive at the peer's endpoint, sent by the separate worker process.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from shapeshifter_uftp import ShapeshifterDsoCroClient, transport
from shapeshifter_uftp.uftp import TestMessage, TestMessageResponse

from registry.uftp import keys
from tests.peer_server import RecordingPeer

ROOT = Path(__file__).resolve().parents[2]
# Settings of the test process that must not leak into an unconfigured CRO.
CONFIGURED = {
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "CACHE_URL",
    "SECRET_KEY",
    "CRO_SIGNING_KEY",
    "CRO_SIGNING_KEY_FILE",
    "CRO_DOMAIN",
    "DJANGO_SETTINGS_MODULE",
    "CRO_VAR_DIR",
    "DEBUG",
    "ALLOWED_HOSTS",
    "CRO_RATE_LIMIT_PER_MINUTE",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, *, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"bin/run exited with {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    raise AssertionError(f"nothing listens on {port} after {timeout}s")


@pytest.mark.e2e
def test_bin_run_answers_a_peer_through_the_worker(tmp_path):
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key not in CONFIGURED}
    env.update({"PORT": str(port), "CRO_VAR_DIR": str(tmp_path / "var"), "WEB_CONCURRENCY": "1"})
    log = (tmp_path / "run.log").open("w")
    process = subprocess.Popen(
        ["bin/run"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        wait_for_port(port, process=process, timeout=180)

        def manage(*args: str) -> str:
            result = subprocess.run(
                [sys.executable, "manage.py", *args],
                cwd=ROOT,
                env={**env, "DEBUG": "1"},
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert result.returncode == 0, result.stderr
            return result.stdout

        info = manage("cro_info")
        cro_public_key = keys.from_cs1(info.split("public key:")[1].split()[0])[0]
        cro_domain = info.split("CRO domain:")[1].split()[0]
        peer_private, peer_public = keys.generate_keypair()

        with RecordingPeer([200]) as peer:
            manage(
                "participant_add",
                *("--domain", "dso1.example.com", "--role", "DSO", "--public-key", peer_public),
                *("--endpoint", peer.url),
            )
            client = ShapeshifterDsoCroClient(
                sender_domain="dso1.example.com",
                signing_key=peer_private,
                recipient_domain=cro_domain,
                recipient_endpoint=f"http://127.0.0.1:{port}/shapeshifter/api/v3/message",
                recipient_signing_key=cro_public_key,
            )
            sent = TestMessage()
            client.send_test_message(sent)  # raises unless HTTP 200
            body = peer.received.get(timeout=60)

        signed = transport.from_xml(body)
        assert signed.sender_role == "CRO"
        answer = transport.unseal_message(signed.body, cro_public_key)
        assert isinstance(answer, TestMessageResponse)
        assert answer.conversation_id == sent.conversation_id
        assert answer.recipient_domain == "dso1.example.com"
        worker_log = (tmp_path / "run.log").read_text()
        assert "worker.1" in worker_log and "deliver_outbound_message" in worker_log
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()
