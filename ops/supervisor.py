"""`manage.py run_worker`: a django-q2 cluster (`qcluster`) under a supervisor that restarts it
when it wedges, without a person.

The wedge (django-q2 issue #23, ops/heartbeats.py): a worker killed while it holds the cluster's
task-queue lock leaves every other worker waiting for that lock forever; the cluster's processes
all live and beat, but take no task again. Only a restart of the whole cluster heals it.

Why a supervisor around each cluster rather than the dispatcher or systemd alone: the dispatcher
may run on another machine than a wedged cluster and cannot restart it; a cluster cannot restart
itself (its main process waits on a sentinel that is stuck too); and systemd's `Restart=` only
acts on a process that exited, and a Procfile runner (or `make run`) has no restart at all. So
the worker command is `run_worker`, one per worker machine as `qcluster` was: it starts `qcluster`
as its child, in a process group of its own, and every `check_every` seconds reads the child's
heartbeat row; the cluster's workers beat under the supervisor's pid (BEAT_AS_PID), the process
an operator and systemd signal, which keeps its identity across restarts. When the row says the
cluster is wedged it logs one line, stops the cluster (SIGTERM to its main process, then, after
`stop_grace` seconds, SIGKILL to its process group: a wedged cluster cannot finish its own stop,
its workers never read their stop orders), removes its heartbeat (it is gone, not quiet) and
starts a fresh one. Nothing is lost: what the dead cluster held (tasks in its queue, steps it had
claimed) is due again in the step table once their lease ends, and the broker hands its unacknowledged tasks out again.

A SIGTERM (or Ctrl-C) to the supervisor is passed to the cluster's main process alone (a signal
to the cluster's whole process group can hang django-q2); the cluster finishes the tasks in hand
and stops; after `stop_timeout` seconds what is left is killed. The cluster receives SIGTERM too
if the supervisor dies (Linux's parent-death signal). If the cluster exits on its own, the
supervisor exits with its code, as `qcluster` did, for systemd (`Restart=on-failure`) to act.
"""

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time

from django.conf import settings

from ops.heartbeats import BEAT_AS_PID, WORKER, is_wedged, stopped
from ops.models import Heartbeat
from ops.processes import die_with_parent

logger = logging.getLogger(__name__)


class Supervisor:
    def __init__(self, *, check_every: float = 2.0, stop_grace: float = 5.0, stop_timeout: float | None = None):
        self.command = [sys.executable, str(settings.BASE_DIR / "manage.py"), "qcluster"]
        self.check_every, self.stop_grace = check_every, stop_grace
        # A task may run for the Q_CLUSTER timeout: wait that long and a margin (systemd waits 90 s).
        self.stop_timeout = stop_timeout if stop_timeout is not None else settings.Q_CLUSTER["timeout"] + 15
        self.host, self.pid = socket.gethostname(), os.getpid()
        self.stopping = False
        self.heals = 0
        self.child: subprocess.Popen | None = None

    def stop(self, signum=None, frame=None) -> None:
        self.stopping = True

    def run(self) -> int:
        """Run the cluster until told to stop (0) or until it exits on its own (its code)."""
        from automations.outages import Outage

        self.child = self._start()
        logger.info("run_worker: supervising qcluster pid %d (restarted when it wedges)", self.child.pid)
        outage = Outage("run_worker")
        next_check = time.monotonic() + self.check_every
        while not self.stopping:
            code = self.child.poll()
            if code is not None:
                logger.error("run_worker: qcluster pid %d exited with code %s; stopping", self.child.pid, code)
                self._kill_group(self.child)
                return code if code > 0 else 1  # killed by a signal: a failure too
            if time.monotonic() >= next_check:
                row = outage.run(self._row)
                next_check = time.monotonic() + (outage.backoff() if outage.ongoing else self.check_every)
                if row is not None and is_wedged(row):
                    self._heal(row, outage)
            time.sleep(0.1)
        self._wait_until_running()
        self._stop_child(self.child, grace=self.stop_timeout)
        with contextlib.suppress(Exception):
            stopped(WORKER, host=self.host, pid=self.pid)
        return 0

    def _start(self) -> subprocess.Popen:
        return subprocess.Popen(
            self.command,
            env={**os.environ, BEAT_AS_PID: str(self.pid)},
            process_group=0,  # its own group: a terminal's Ctrl-C reaches the supervisor alone
            preexec_fn=die_with_parent(),
        )

    def _wait_until_running(self, timeout: float = 30) -> None:
        """A cluster told to stop while Django still starts in it dies at once, without its clean
        stop: before passing a stop on, wait (up to `timeout`) until its workers beat."""
        deadline = time.monotonic() + timeout
        while self.child.poll() is None and time.monotonic() < deadline:
            try:
                if self._row() is not None:
                    return
            except Exception:  # the database is out of reach: stop it as it is
                return
            time.sleep(0.2)

    def _row(self) -> Heartbeat | None:
        return Heartbeat.objects.filter(kind=WORKER, host=self.host, pid=self.pid).first()

    def _heal(self, row: Heartbeat, outage) -> None:
        old = self.child
        stalled = (row.beat_at - row.progress_at).total_seconds()
        self._stop_child(old, grace=self.stop_grace)
        outage.run(lambda: stopped(WORKER, host=self.host, pid=self.pid))
        self.child = self._start()
        self.heals += 1
        logger.warning(
            "run_worker: worker cluster %s:%s was wedged (%d tasks waiting, none taken for %.0f s; django-q2 #23): "
            "restarted it (qcluster pid %d, now %d)",
            self.host, self.pid, row.queued, stalled, old.pid, self.child.pid,
        )  # fmt: skip

    def _stop_child(self, child: subprocess.Popen, *, grace: float) -> None:
        """SIGTERM to the cluster's main process; after `grace` seconds, SIGKILL to its group."""
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=grace)
            if child.poll() is None:
                logger.warning("run_worker: qcluster pid %d did not stop in %g s; killing it", child.pid, grace)
        self._kill_group(child)

    @staticmethod
    def _kill_group(child: subprocess.Popen) -> None:
        """Whatever is left of the cluster (its group is the main process's pid) is killed."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()
