"""`make run`: the web server, the django-q2 cluster and the automation dispatcher side by side;
Ctrl-C stops them all.

The cluster runs as in production, under `run_worker` (ops/supervisor.py), which restarts it if
it wedges (django-q2 #23) and passes a stop on to it. Each child runs in its own session so the
terminal's Ctrl-C reaches only this launcher, which then stops the web server's process group
and the worker's and the dispatcher's main processes alone (a signal to the cluster's whole
process group can hang django-q2).

On Linux each child also asks the kernel for a SIGTERM when the launcher dies, so a launcher
killed outright (SIGKILL, a closed terminal) does not leave them running: the cluster's main
process stops its workers, runserver's reloader kills its server, the dispatcher finishes its
round.
"""

import os
import signal
import subprocess
import sys
import time

from ops.processes import die_with_parent

HOST = os.environ.get("RELANCE_HOST", "127.0.0.1:8000")


def main() -> int:
    manage = [sys.executable, "manage.py"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    child = {"env": env, "start_new_session": True, "preexec_fn": die_with_parent()}
    cluster = subprocess.Popen([*manage, "run_worker"], **child)
    dispatcher = subprocess.Popen([*manage, "run_dispatcher"], **child)
    web = subprocess.Popen([*manage, "runserver", HOST], **child)
    print(
        f"Relance is running on http://{HOST}/ (web pid {web.pid}, worker pid {cluster.pid}, "
        f"automation dispatcher pid {dispatcher.pid}). Ctrl-C stops them all."
    )

    stopping = False

    def stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        while not stopping and all(p.poll() is None for p in (web, cluster, dispatcher)):
            time.sleep(0.3)
    finally:
        if web.poll() is None:
            # runserver's autoreloader and its child form their own group: stop both. SIGTERM, not
            # SIGINT: a shell starting `make run` in the background makes its jobs ignore SIGINT.
            os.killpg(web.pid, signal.SIGTERM)
        for proc in (cluster, dispatcher):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc, name in ((web, "web server"), (cluster, "worker"), (dispatcher, "automation dispatcher")):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                print(f"The {name} did not stop in 20 s; killing it.")
                proc.kill()
                proc.wait()
        _wait_for_group(web.pid)
    code = 0 if stopping else 1
    if not stopping:
        print("A process stopped on its own; the other one was stopped too.")
    return code


def _wait_for_group(pgid: int, timeout: float = 10) -> None:
    """Wait until every process of the group is gone (runserver's reloader child exits last)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.killpg(pgid, signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(main())
