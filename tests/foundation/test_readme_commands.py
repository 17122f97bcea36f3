"""Every `bin/manage` command of the README works as written, on a fresh copy after `bin/run`.

The README is parsed (its fenced `sh` blocks and its inline code); the commands are run with
bash, one by one, in a copy of the repository with no configuration at all (no `.env`, no
variable of the test process), while `bin/run` serves from that copy.
"""

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from tests.foundation.test_embedded_default import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
FENCED_SH = re.compile(r"```sh\n(.*?)```", re.DOTALL)
INLINE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
MANAGE = re.compile(r"^(?:[A-Z_]+=\S+ )*bin/manage \S")


def readme_commands(text: str) -> list[str]:
    """The `bin/manage` commands of the README, in order, continuation lines joined."""
    commands = []
    for block in FENCED_SH.findall(text):
        for line in block.replace("\\\n", " ").splitlines():
            command = re.sub(r"\s+#.*$", "", line).strip()
            if MANAGE.match(command):
                commands.append(" ".join(command.split()))
    prose = FENCED_SH.sub("", text)
    commands += [code for code in INLINE.findall(prose) if MANAGE.match(code) and "<" not in code]
    return commands


def test_readme_commands_are_found():
    commands = readme_commands((ROOT / "README.md").read_text())
    assert any("createsuperuser --noinput" in command for command in commands)
    assert any(command.startswith("bin/manage participant_add") for command in commands)
    assert len(commands) >= 10


def fresh_copy(target: Path) -> Path:
    """The repository's files as a clone has them (tracked and new, not ignored), the venv linked."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (item.decode() for item in listed)):
        source = ROOT / name
        if source.is_file() and not source.is_symlink():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    (target / ".venv").symlink_to((ROOT / ".venv").resolve())
    return target


@pytest.mark.e2e
def test_every_readme_command_works_as_written(tmp_path):
    copy = fresh_copy(tmp_path / "cro")
    commands = readme_commands((copy / "README.md").read_text())
    port = free_port()
    # A clean environment: what a fresh login shell has, and the port the README tells about.
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "LANG": "C.UTF-8", "PORT": str(port)}
    log = (tmp_path / "run.log").open("w")
    process = subprocess.Popen(
        ["bin/run"], cwd=copy, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        wait_for_port(port, process=process, timeout=240)
        shell_env = {key: value for key, value in env.items() if key != "PORT"}
        for command in commands:
            result = subprocess.run(
                ["bash", "-c", command], cwd=copy, env=shell_env, capture_output=True, text=True, timeout=120
            )
            assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
            assert "No hostname was supplied" not in result.stderr, command
        assert (copy / "var" / "gunicorn.ctl").exists(), "gunicorn's control socket is not in var/"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
