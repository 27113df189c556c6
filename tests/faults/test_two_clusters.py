"""Two clusters: two `qcluster` processes and two dispatchers (as on two worker machines)
share the Redis broker and PostgreSQL, and process 500 chase runs; every step's effect happens
exactly once. One busy worker of each cluster is killed: the Redis broker loses the task it was
running (it does not acknowledge), and the step table's leases hand those steps out again."""

import os
import time

import pytest
import redis

from automations.models import Run, RunStep
from billing import services
from notifications.delivery import CONCURRENCY
from tests.faults.conftest import (
    chase_automation,
    check_chase_runs,
    failed_subscription_invoices,
    finish_sending,
    kill_a_worker,
    seeded_random,
    wait_for,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

RUNS = 500
# Not database 0: CI's own Redis-configured processes use it with the same cluster name, and
# would take (and lose) this test's tasks.
REDIS_URL = os.environ.get("FAULT_REDIS_URL", "redis://127.0.0.1:6379/7")


@pytest.fixture
def redis_broker():
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()  # tasks left by an earlier, interrupted run refer to another database's rows
    yield REDIS_URL
    client.flushdb()
    client.close()


def test_two_clusters_on_the_redis_broker_do_every_step_once(workers, receiver, redis_broker, request):
    rng = seeded_random(request)
    chase_automation(receiver.url)
    invoices = failed_subscription_invoices(RUNS)
    for invoice in invoices:
        services.invoice_attempt_payment(invoice=invoice)
    assert Run.objects.filter(status="active").count() == RUNS
    started = time.monotonic()
    machines = [workers.start(REDIS_URL=redis_broker, Q_WORKERS="2") for _ in range(2)]

    killed = 0
    for cluster in machines:
        time.sleep(rng.uniform(1.0, 3.0))
        while kill_a_worker(cluster, rng) is None:
            time.sleep(0.05)
        killed += 1

    unfinished = RunStep.objects.filter(status__in=["pending", "running"])
    assert wait_for(lambda: not unfinished.exists(), timeout=150), list(unfinished.values()) + [workers.log_tail()]
    steps_done = time.monotonic() - started
    workers.stop_all()
    left = finish_sending()

    repeats = check_chase_runs(invoices, receiver, workers.mail_dir)
    # A kill repeats at most what its worker had done but not recorded: the email it was sending,
    # the webhooks it had in flight (up to CONCURRENCY a worker); never a billing change.
    assert repeats["billing"] == 0, repeats
    assert repeats["email"] <= killed and repeats["webhook"] <= killed * CONCURRENCY, repeats
    # Both machines did part of the work.
    per_cluster = [log.read_text().count(" processing ") for log in sorted(workers.logs.glob("qcluster-*.log"))]
    assert len(per_cluster) == 2 and all(per_cluster), per_cluster
    print(
        f"{RUNS} runs done by two clusters in {steps_done:.1f} s (tasks per cluster: {per_cluster}); "
        f"workers killed: {killed}; repeats after a kill: {repeats}; left to the sweep: {left}"
    )
