"""`manage.py run_worker`, the worker command (Procfile, systemd, `make run`): its `qcluster`
beats under the supervisor's pid, a SIGTERM stops both cleanly, and a cluster that dies is
cleared and reported by the supervisor's exit. (Its restart of a wedged cluster:
tests/faults/test_wedge.py.)"""

import contextlib
import os
import signal
import subprocess
from types import SimpleNamespace

import pytest

from ops.models import Heartbeat
from tests.faults.conftest import Cluster, Workers, _children, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def supervisor(tmp_path):
    """A real `run_worker` (one qcluster of two workers) on the test database."""
    workers = Workers(tmp_path)
    proc = workers._spawn(["run_worker"], workers.env | {"Q_WORKERS": "2"}, "run_worker")
    clusters: list[int] = []
    try:

        def cluster_ready() -> bool:
            children = _children(proc.pid)
            if len(children) == 1 and Cluster(SimpleNamespace(pid=children[0]), workers=2).ready():
                clusters.append(children[0])
                return True
            return False

        assert wait_for(cluster_ready, timeout=40), workers.log_tail()
        yield proc, clusters[-1], workers
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=30)
        for pgid in clusters:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
        workers.stop(proc)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_its_cluster_beats_under_the_supervisors_pid_and_a_sigterm_stops_both_cleanly(supervisor):
    proc, qcluster, workers = supervisor
    assert wait_for(lambda: Heartbeat.objects.filter(kind="worker", pid=proc.pid).exists(), timeout=20)
    assert not Heartbeat.objects.filter(pid=qcluster).exists()
    row = Heartbeat.objects.get(pid=proc.pid)
    assert row.queued == 0 and row.progress_at is not None

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=40) == 0
    assert wait_for(lambda: not _group_alive(qcluster), timeout=10)
    assert workers.log_count("has stopped") == 1  # django-q2's own clean stop
    assert not Heartbeat.objects.filter(pid=proc.pid).exists()  # gone, not quiet


def test_a_cluster_that_dies_is_cleared_and_the_supervisor_exits_with_an_error(supervisor):
    proc, qcluster, workers = supervisor
    os.kill(qcluster, signal.SIGKILL)  # its sentinel and workers are orphaned
    assert proc.wait(timeout=20) == 1
    assert wait_for(lambda: not _group_alive(qcluster), timeout=10)
    assert workers.log_count(f"qcluster pid {qcluster} exited with code -9") == 1
