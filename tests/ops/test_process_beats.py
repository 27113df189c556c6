"""Real `qcluster` and `run_dispatcher` processes beat under their own identity: /health/ lists
each cluster by its main process and each dispatcher; one stopped with SIGTERM is removed from
the list while the others go on beating. On either broker."""

import os
import socket
import time

import pytest
import redis
from django.urls import reverse

from tests.faults.conftest import Workers, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

REDIS_URL = os.environ.get("OPS_REDIS_URL", "redis://127.0.0.1:6379/10")


@pytest.fixture
def workers(tmp_path):
    manager = Workers(tmp_path)
    try:
        yield manager
    finally:
        for proc in manager.procs:
            manager.stop(proc)


@pytest.fixture(params=["orm", "redis"])
def broker(request) -> dict:
    if request.param == "orm":
        yield {}
        return
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    try:
        yield {"REDIS_URL": REDIS_URL}
    finally:
        client.flushdb()


def _listed(client, token) -> dict[tuple[str, int], dict]:
    body = client.get(reverse("health"), HTTP_AUTHORIZATION=f"Bearer {token}").json()
    listed = {("dispatcher", p["pid"]): p for p in body["dispatchers"]} | {
        ("worker", p["pid"]): p for p in body["workers"]
    }
    return listed | {("status", 0): body["status"]}


def test_each_cluster_and_dispatcher_is_listed_under_its_own_pid_and_a_clean_stop_removes_it(
    workers, broker, client, settings
):
    settings.HEALTH_TOKEN = token = "health-token-for-monitoring-0123456789"
    first = workers.start_cluster(Q_WORKERS="2", **broker)
    second = workers.start_cluster(Q_WORKERS="2", **broker)
    dispatcher = workers.start_dispatcher(**broker)
    expected = {("worker", first.proc.pid), ("worker", second.proc.pid), ("dispatcher", dispatcher.pid)}

    assert wait_for(lambda: expected <= set(_listed(client, token)), timeout=30), workers.log_tail()
    listed = _listed(client, token)
    assert listed["status", 0] == "ok", listed
    assert all(listed[key]["ok"] and listed[key]["host"] == socket.gethostname() for key in expected)
    assert len([key for key in listed if key[0] == "worker"]) == 2  # one row per cluster, not per worker

    workers.stop(second.proc)
    listed = _listed(client, token)
    assert ("worker", second.proc.pid) not in listed, workers.log_tail()
    assert ("worker", first.proc.pid) in listed
    assert listed["status", 0] == "ok"

    workers.stop(dispatcher)
    assert ("dispatcher", dispatcher.pid) not in _listed(client, token)
    workers.stop(first.proc)
    assert not [key for key in _listed(client, token) if key[0] != "status"]


def test_a_dispatcher_with_no_cluster_running_claims_nothing_until_one_beats(workers):
    from automations.models import Run, RunStep
    from tests.automations.test_qcluster_integration import _memo, _start_run

    dispatcher = workers.start_dispatcher()
    _, run = _start_run([_memo("waits for a worker")])
    time.sleep(2)  # ten dispatcher loops with nobody to hand the step to
    step = RunStep.objects.get(run=run)
    assert (step.status, step.attempts) == ("pending", 0), workers.log_tail()
    assert dispatcher.poll() is None

    workers.start_cluster(Q_WORKERS="1")
    assert wait_for(lambda: Run.objects.get(pk=run.pk).status == "completed", timeout=30), workers.log_tail()
    assert RunStep.objects.get(run=run).attempts == 1
    assert workers.log_count("no worker cluster is alive") == 1
    assert workers.log_count("a worker cluster beats again") == 1
