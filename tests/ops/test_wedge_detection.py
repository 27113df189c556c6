"""The django-q2 wedge (upstream #23) is told apart from a busy or an idle cluster: a cluster is
wedged when, at a fresh beat, tasks wait in its queue and none of its workers could take one for
WEDGE_AFTER. /health/ names it and says "degraded"; the dispatcher counts it as no worker."""

import threading
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django_q.queues import Queue

from ops import heartbeats
from ops.heartbeats import STALE, WEDGE_AFTER, WORKER, Progress
from ops.models import Heartbeat

pytestmark = pytest.mark.django_db

TOKEN = "health-token-for-monitoring-0123456789"


@pytest.fixture(autouse=True)
def _unthrottled():
    heartbeats._last_beat.clear()
    yield
    heartbeats._last_beat.clear()


@pytest.fixture
def client(client, settings):
    settings.HEALTH_TOKEN = TOKEN
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {TOKEN}"
    return client


def cluster(pid: int, *, queued: int, stalled: timedelta, beat_ago: timedelta = timedelta(seconds=1)) -> Heartbeat:
    """A cluster row as its workers' beats leave it: last beat `beat_ago`, `queued` tasks waiting
    then, and its workers last able to take them `stalled` before that beat."""
    beat_at = timezone.now() - beat_ago
    return Heartbeat.objects.create(
        kind=WORKER, host="worker-1", pid=pid, started_at=beat_at - timedelta(hours=1), beat_at=beat_at,
        queued=queued, progress_at=beat_at - stalled,
    )  # fmt: skip


# --- The rule ---------------------------------------------------------------------------------


def test_tasks_waiting_with_no_worker_able_to_take_one_for_the_threshold_is_a_wedge():
    stuck = cluster(1, queued=4, stalled=WEDGE_AFTER)
    assert heartbeats.is_wedged(stuck)
    assert list(heartbeats.wedged()) == [stuck]


def test_a_cluster_with_tasks_waiting_whose_workers_took_one_recently_is_not_wedged():
    cluster(1, queued=40, stalled=WEDGE_AFTER - timedelta(seconds=2))  # a backlog being worked off
    assert not heartbeats.wedged().exists()


def test_an_idle_cluster_is_not_wedged_however_long_since_it_last_took_a_task():
    cluster(1, queued=0, stalled=timedelta(hours=1))
    assert not heartbeats.wedged().exists()


def test_a_cluster_gone_quiet_is_not_called_wedged_its_silence_is_reported_instead():
    row = cluster(1, queued=4, stalled=timedelta(minutes=5), beat_ago=STALE + timedelta(seconds=1))
    assert not heartbeats.is_wedged(row)
    assert not heartbeats.wedged().exists()


def test_a_dispatcher_row_is_never_wedged():
    now = timezone.now()
    row = Heartbeat.objects.create(kind="dispatcher", host="h", pid=1, started_at=now, beat_at=now)
    assert not heartbeats.is_wedged(row)


def test_the_row_keeps_the_latest_moment_any_worker_of_the_cluster_was_able_to_take_tasks():
    now = timezone.now()
    heartbeats.beat(WORKER, pid=7, force=True, now=now, queued=3, progress_at=now)
    # A worker starved for a minute reports the start of its spell: an older moment does not win.
    heartbeats.beat(
        WORKER, pid=7, force=True, now=now + timedelta(seconds=60), queued=3, progress_at=now - timedelta(seconds=30)
    )
    row = Heartbeat.objects.get(pid=7)
    assert (row.progress_at, row.queued, row.beat_at) == (now, 3, now + timedelta(seconds=60))
    assert heartbeats.is_wedged(row, now=now + timedelta(seconds=61))
    # Another worker of it takes a task: the cluster progresses again.
    heartbeats.beat(
        WORKER, pid=7, force=True, now=now + timedelta(seconds=62), queued=2, progress_at=now + timedelta(seconds=62)
    )
    row.refresh_from_db()
    assert row.progress_at == now + timedelta(seconds=62)
    assert not heartbeats.is_wedged(row, now=now + timedelta(seconds=63))


def test_a_plain_beat_leaves_the_progress_columns_alone():
    now = timezone.now()
    heartbeats.beat(WORKER, pid=8, force=True, now=now, queued=5, progress_at=now)
    heartbeats.beat(WORKER, pid=8, force=True, now=now + timedelta(seconds=5))
    row = Heartbeat.objects.get(pid=8)
    assert (row.queued, row.progress_at, row.beat_at) == (5, now, now + timedelta(seconds=5))


def test_the_dispatcher_counts_a_wedged_cluster_as_no_worker(settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}
    stuck = cluster(1, queued=4, stalled=WEDGE_AFTER + timedelta(seconds=5))
    assert heartbeats.workers_alive() is False
    cluster(2, queued=0, stalled=timedelta(0))
    assert heartbeats.workers_alive() is True
    Heartbeat.objects.filter(pid=2).delete()
    stuck.progress_at = stuck.beat_at
    stuck.save()
    assert heartbeats.workers_alive() is True


# --- What a worker's beat thread sees ------------------------------------------------------------


class Worker:
    """The two counters a worker keeps (tasks started, finished) and its cluster's queue size."""

    def __init__(self):
        self.queued = self.started = self.finished = 0

    def progress(self) -> Progress:
        return Progress(
            queued=lambda: self.queued, started=lambda: self.started, running=lambda: self.started > self.finished
        )


def test_a_free_worker_that_takes_no_waiting_task_between_two_looks_starves_from_the_second_look():
    worker, now = Worker(), timezone.now()
    progress = worker.progress()
    worker.queued = 3
    assert progress.look(now) == (3, now)  # the first look has nothing to compare with
    assert progress.look(now + timedelta(seconds=1)) == (3, now + timedelta(seconds=1))
    assert progress.look(now + timedelta(seconds=9)) == (3, now + timedelta(seconds=1))  # still starved since then


def test_a_busy_worker_a_worker_that_took_a_task_and_an_empty_queue_are_not_starving():
    worker, now = Worker(), timezone.now()
    progress = worker.progress()
    worker.queued = 3
    progress.look(now)
    worker.started = 1  # took one and runs it (for a minute)
    assert progress.look(now + timedelta(seconds=1))[1] == now + timedelta(seconds=1)
    assert progress.look(now + timedelta(seconds=60))[1] == now + timedelta(seconds=60)
    worker.finished = 1
    worker.started = 2  # took the next one since the last look
    assert progress.look(now + timedelta(seconds=61))[1] == now + timedelta(seconds=61)
    worker.finished, worker.queued = 2, 0  # nothing waits
    assert progress.look(now + timedelta(seconds=62)) == (0, now + timedelta(seconds=62))
    assert progress.look(now + timedelta(seconds=90)) == (0, now + timedelta(seconds=90))


def test_a_starved_spell_ends_when_the_worker_takes_a_task():
    worker, now = Worker(), timezone.now()
    progress = worker.progress()
    worker.queued = 2
    progress.look(now)
    assert progress.look(now + timedelta(seconds=5))[1] == now + timedelta(seconds=5)
    worker.started = 1
    assert progress.look(now + timedelta(seconds=6))[1] == now + timedelta(seconds=6)
    worker.finished = 1  # done, and took none since: starved again from here
    assert progress.look(now + timedelta(seconds=7))[1] == now + timedelta(seconds=7)
    assert progress.look(now + timedelta(seconds=30))[1] == now + timedelta(seconds=7)


def test_a_worker_reads_its_clusters_real_queue_size_even_while_the_counters_lock_is_held():
    queue = Queue()
    progress = heartbeats.worker_progress(queue)
    for n in range(3):
        queue.put({"n": n})
    assert progress.queued() == 3
    queue.get(timeout=5)
    assert progress.queued() == 2
    # A worker killed inside the counter's lock keeps it forever; the beat thread reads anyway.
    lock = queue.size.count.get_lock()
    lock.acquire()
    try:
        result = []
        reader = threading.Thread(target=lambda: result.append(progress.queued()))
        reader.start()
        reader.join(timeout=2)
        assert result == [2]
    finally:
        lock.release()
        queue.close()
        queue.join_thread()


def test_a_worker_process_counts_the_tasks_it_starts_and_finishes_through_django_q2s_signals():
    from django_q.signals import post_execute_in_worker, pre_execute

    started, finished = heartbeats._tasks["started"], heartbeats._tasks["finished"]
    pre_execute.send(sender="django_q", func=print, task={})
    assert (heartbeats._tasks["started"], heartbeats._tasks["finished"]) == (started + 1, finished)
    post_execute_in_worker.send(sender="django_q", func=print, task={})
    assert (heartbeats._tasks["started"], heartbeats._tasks["finished"]) == (started + 1, finished + 1)


# --- /health/ ------------------------------------------------------------------------------------


def test_health_names_a_wedged_cluster_by_host_and_pid_and_says_degraded(client):
    now = timezone.now()
    Heartbeat.objects.create(kind="dispatcher", host="worker-1", pid=10, started_at=now, beat_at=now)
    cluster(20, queued=0, stalled=timedelta(0))
    cluster(30, queued=6, stalled=timedelta(seconds=42))
    response = client.get(reverse("health"))
    body = response.json()
    assert response.status_code == 200 and body["status"] == "degraded"
    assert len(body["wedged"]) == 1
    assert body["wedged"][0].startswith("worker cluster worker-1:30 is wedged: 6 tasks wait in its queue")
    assert "for 42 s" in body["wedged"][0]
    listed = {p["pid"]: p for p in body["workers"]}
    assert (listed[30]["wedged"], listed[30]["queued"], listed[30]["stalled_seconds"]) == (True, 6, 42.0)
    assert listed[20]["wedged"] is False
    assert body["worker"]["alive"] == 1  # the wedged one beats but does no work
    assert client.get(reverse("health"), {"strict": "1"}).status_code == 503


def test_health_is_ok_again_once_the_cluster_takes_tasks():
    from ops.services import health_report

    now = timezone.now()
    Heartbeat.objects.create(kind="dispatcher", host="worker-1", pid=10, started_at=now, beat_at=now)
    row = cluster(30, queued=6, stalled=timedelta(seconds=42))
    assert health_report()["status"] == "degraded"
    heartbeats.beat(WORKER, host="worker-1", pid=30, force=True, queued=1, progress_at=timezone.now())
    row.refresh_from_db()
    report = health_report()
    assert (report["status"], report["wedged"]) == ("ok", [])
