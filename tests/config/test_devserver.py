"""`make run`'s launcher serves the dashboard and runs the worker; one Ctrl-C stops both."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _children_of(pid: int) -> set[int]:
    out = subprocess.run(["ps", "-eo", "pid=,ppid="], capture_output=True, text=True).stdout
    pairs = [tuple(map(int, line.split())) for line in out.splitlines() if line.strip()]
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in pairs if parent in frontier} - found
        found |= frontier
    return found


def test_the_launcher_serves_pages_runs_the_worker_and_stops_both_on_ctrl_c(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env |= {"DEBUG": "1", "DJANGO_SETTINGS_MODULE": "config.settings", "SQLITE_PATH": str(tmp_path / "db.sqlite3"),
            "RELANCE_HOST": f"127.0.0.1:{port}"}  # fmt: skip
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=180)
    launcher = subprocess.Popen(
        [sys.executable, "-m", "config.devserver"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        status, deadline = None, time.monotonic() + 60
        while time.monotonic() < deadline and status is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=2) as response:
                    status = response.status
            except OSError:
                time.sleep(0.5)
        assert status == 200
        children = _children_of(launcher.pid)
        commands = subprocess.run(
            ["ps", "-o", "args=", "-p", ",".join(map(str, children))], capture_output=True, text=True
        ).stdout
        assert "qcluster" in commands and "runserver" in commands and "run_dispatcher" in commands
        launcher.send_signal(signal.SIGINT)
        output, _ = launcher.communicate(timeout=40)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    assert launcher.returncode == 0, output
    time.sleep(0.5)
    alive = [pid for pid in children if Path(f"/proc/{pid}").exists()]
    assert alive == [], f"processes left running: {alive}\n{output}"
    assert "has stopped" in output  # django-q2's own clean shutdown line
