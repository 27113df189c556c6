"""`make run`'s launcher serves the dashboard and runs the worker and the dispatcher; one Ctrl-C stops
them all, and so does the launcher's own death.

Processes are found through /proc (`ps -o args` cuts command lines at 80 columns, which hides
"qcluster" when the checkout lives in a long path). The launcher's children live in their own
sessions, so the tests remember those sessions while the launcher runs and, whatever happens, kill
what is left in them at the end.
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("runserver", "qcluster", "run_dispatcher")

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from Linux's /proc")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Process:
    pid: int
    ppid: int
    session: int
    command: str


def _processes() -> dict[int, Process]:
    """Every process now running, read from /proc/<pid>/stat and /proc/<pid>/cmdline."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:  # gone meanwhile
            continue
        # The command name (2nd field) may hold spaces and parentheses: the fields after it follow the last ")".
        state, ppid, _pgrp, session = stat[stat.rindex(")") + 2 :].split()[:4]
        if state != "Z":
            found[int(entry.name)] = Process(int(entry.name), int(ppid), int(session), command)
    return found


@dataclass
class Launcher:
    """`python -m config.devserver` started for real on a temporary SQLite database."""

    proc: subprocess.Popen
    port: int
    log: Path
    sessions: set[int] = field(default_factory=set)

    def children(self) -> list[Process]:
        """The launcher's descendants now; their sessions are remembered for the clean-up."""
        table = _processes()
        found, frontier = [], {self.proc.pid}
        while frontier:
            level = [p for p in table.values() if p.ppid in frontier]
            found += level
            frontier = {p.pid for p in level}
        self.sessions |= {p.session for p in found}
        return found

    def survivors(self) -> list[Process]:
        """What still runs in the launcher's session or its children's."""
        return [p for p in _processes().values() if p.session in self.sessions and "manage.py" in p.command]

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def launcher(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env |= {"DEBUG": "1", "DJANGO_SETTINGS_MODULE": "config.settings", "SQLITE_PATH": str(tmp_path / "db.sqlite3"),
            "RELANCE_HOST": f"127.0.0.1:{port}"}  # fmt: skip
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=180)
    log = tmp_path / "launcher.log"
    with log.open("w") as out:
        # A session of its own, like `make run` in a terminal; a file, not a pipe nobody reads.
        proc = subprocess.Popen(
            [sys.executable, "-m", "config.devserver"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    started = Launcher(proc, port, log, sessions={proc.pid})
    try:
        _wait_until_up(started)
        yield started
    finally:
        if proc.poll() is None:
            started.children()
            proc.kill()
            proc.wait()
        for leftover in started.survivors():
            with contextlib.suppress(ProcessLookupError):  # gone meanwhile
                os.kill(leftover.pid, signal.SIGKILL)


def _wait_until_up(launcher: Launcher, timeout: float = 90) -> None:
    """Until the login page answers and the worker and the dispatcher run."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        commands = " ".join(p.command for p in launcher.children())
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{launcher.port}/accounts/login/", timeout=2) as response:
                if response.status == 200 and all(name in commands for name in SERVICES):
                    return
        except OSError:
            pass
        assert launcher.proc.poll() is None, f"the launcher stopped on its own\n{launcher.output()}"
        time.sleep(0.5)
    pytest.fail(f"the launcher did not serve pages with its worker and dispatcher in {timeout} s\n{launcher.output()}")


def _wait_until_gone(launcher: Launcher, timeout: float) -> list[Process]:
    deadline = time.monotonic() + timeout
    while (survivors := launcher.survivors()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return survivors


def test_it_serves_pages_runs_the_worker_and_the_dispatcher_and_stops_them_all_on_ctrl_c(launcher):
    children = launcher.children()
    commands = " ".join(p.command for p in children)
    assert all(name in commands for name in SERVICES), commands

    launcher.proc.send_signal(signal.SIGINT)
    assert launcher.proc.wait(timeout=40) == 0, launcher.output()
    alive = [p for p in _processes().values() if p.pid in {c.pid for c in children}]
    assert alive == [], f"processes left running: {alive}\n{launcher.output()}"
    assert "has stopped" in launcher.output()  # django-q2's own clean shutdown line
    assert "Automation dispatcher stopped." in launcher.output()


def test_its_web_server_worker_and_dispatcher_stop_when_the_launcher_is_killed(launcher):
    children = launcher.children()
    assert all(any(name in p.command for p in children) for name in SERVICES), children

    os.kill(launcher.proc.pid, signal.SIGKILL)
    launcher.proc.wait(timeout=10)
    survivors = _wait_until_gone(launcher, timeout=30)
    assert survivors == [], f"left running after the launcher was killed: {survivors}\n{launcher.output()}"
    assert "has stopped" in launcher.output()  # the worker was stopped, not killed
