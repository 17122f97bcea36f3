"""bin/supervise, the process manager of bin/run: a process that exits is started again and the
others run on (honcho stopped them all); SIGTERM stops every process and their children."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from tests.e2e.processes import REPO, wait_until


def test_a_dead_process_is_restarted_and_the_others_run_on(tmp_path):
    pid_file = tmp_path / "steady.pid"
    procfile = tmp_path / "Procfile"
    procfile.write_text(
        f"crashing: echo up; sleep 0.3; exit 3\nsteady: echo $$ > {pid_file}; exec sleep 300\n"
    )
    log = tmp_path / "supervise.log"
    with open(log, "wb") as out:
        supervisor = subprocess.Popen(
            [sys.executable, str(REPO / "bin/supervise"), "-f", str(procfile)],
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until(lambda: log.read_text().count("crashing.1 | up") >= 3, timeout=30, what="three starts")
        assert "crashing exited with 3; restarting" in log.read_text()
        steady = int(pid_file.read_text())
        os.kill(steady, 0)  # still running: one process dying stops nothing else
        assert supervisor.poll() is None

        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=20) == 0
        time.sleep(0.2)
        try:
            os.kill(steady, 0)
        except ProcessLookupError:
            pass
        else:
            raise AssertionError("the steady process outlived the supervisor")
    finally:
        if supervisor.poll() is None:
            os.killpg(supervisor.pid, signal.SIGKILL)
