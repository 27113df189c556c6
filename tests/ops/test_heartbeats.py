"""Each dispatcher and each worker cluster beats under its own identity (kind, host, pid); a
process that stops cleanly removes its row; the dispatcher asks whether any cluster is alive."""

import logging
import os
import socket
import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from ops import heartbeats
from ops.models import Heartbeat

pytestmark = pytest.mark.django_db


def wait_for(condition, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture(autouse=True)
def _unthrottled():
    heartbeats._last_beat.clear()
    yield
    heartbeats._last_beat.clear()


def test_it_records_a_beat_under_this_host_and_pid():
    assert heartbeats.beat(heartbeats.DISPATCHER) is True
    row = Heartbeat.objects.get()
    assert (row.kind, row.host, row.pid) == ("dispatcher", socket.gethostname(), os.getpid())
    assert row.started_at == row.beat_at


def test_two_processes_of_one_kind_keep_a_row_each_and_the_first_beat_is_their_start():
    heartbeats.beat(heartbeats.WORKER, pid=1, now=timezone.now() - timedelta(seconds=30))
    heartbeats.beat(heartbeats.WORKER, pid=2)
    heartbeats.beat(heartbeats.WORKER, pid=1, force=True)
    rows = {row.pid: row for row in Heartbeat.objects.all()}
    assert set(rows) == {1, 2}
    assert (rows[1].beat_at - rows[1].started_at).total_seconds() >= 29


def test_a_process_beats_at_most_once_per_interval_unless_forced():
    assert heartbeats.beat(heartbeats.DISPATCHER) is True
    first = Heartbeat.objects.get().beat_at
    assert heartbeats.beat(heartbeats.DISPATCHER) is False
    assert Heartbeat.objects.get().beat_at == first
    assert heartbeats.beat(heartbeats.DISPATCHER, force=True) is True
    assert Heartbeat.objects.get().beat_at > first


def test_a_process_that_stops_cleanly_removes_its_own_row_only():
    heartbeats.beat(heartbeats.WORKER, pid=1)
    heartbeats.beat(heartbeats.WORKER, pid=2)
    heartbeats.stopped(heartbeats.WORKER, pid=1)
    assert list(Heartbeat.objects.values_list("pid", flat=True)) == [2]


def test_rows_silent_for_longer_than_an_hour_are_deleted_when_a_process_starts():
    long_ago = timezone.now() - heartbeats.FORGET_AFTER - timedelta(minutes=1)
    heartbeats.beat(heartbeats.WORKER, pid=1, now=long_ago)
    heartbeats.beat(heartbeats.DISPATCHER, pid=2)
    assert list(Heartbeat.objects.values_list("pid", flat=True)) == [2]


def test_workers_are_alive_while_a_cluster_beat_is_fresh(settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}
    assert heartbeats.workers_alive() is False
    heartbeats.beat(heartbeats.WORKER, pid=1, now=timezone.now() - heartbeats.STALE - timedelta(seconds=1))
    assert heartbeats.workers_alive() is False
    heartbeats.beat(heartbeats.DISPATCHER, pid=2)
    assert heartbeats.workers_alive() is False  # a dispatcher is not a worker
    heartbeats.beat(heartbeats.WORKER, pid=3)
    assert heartbeats.workers_alive() is True


def test_in_sync_mode_tasks_run_in_the_caller_so_workers_always_count_as_alive():
    assert heartbeats.workers_alive() is True


@pytest.mark.django_db(transaction=True)
def test_the_cluster_beat_thread_beats_under_the_clusters_identity_and_removes_it_when_stopped():
    beat = heartbeats.ClusterBeat(host="worker-9", pid=4242, every=0.05)
    beat.start()
    try:
        assert wait_for(lambda: Heartbeat.objects.filter(host="worker-9", pid=4242).exists())
        first = Heartbeat.objects.get(pid=4242).beat_at
        assert wait_for(lambda: Heartbeat.objects.get(pid=4242).beat_at > first)
    finally:
        beat.stop(forget=True)
    assert not beat.is_alive()
    assert not Heartbeat.objects.filter(pid=4242).exists()


@pytest.mark.django_db(transaction=True)
def test_a_failing_beat_is_logged_once_and_retried_and_never_ends_the_thread(caplog):
    caplog.set_level(logging.INFO, logger="automations.outages")
    failing = threading.Event()
    failing.set()
    attempts = []

    def flaky_write(queued, progress_at):
        attempts.append(1)
        if failing.is_set():
            from django.db import InterfaceError

            raise InterfaceError("connection already closed")  # what a lost connection raises
        heartbeats.beat(heartbeats.WORKER, host="worker-9", pid=4243, force=True)

    beat = heartbeats.ClusterBeat(host="worker-9", pid=4243, every=0.02, write=flaky_write)
    beat.start()
    try:
        assert wait_for(lambda: len(attempts) >= 5)
        assert beat.is_alive()
        failing.clear()
        assert wait_for(lambda: Heartbeat.objects.filter(pid=4243).exists())
    finally:
        beat.stop(forget=True)
    lines = [r.getMessage() for r in caplog.records if r.name == "automations.outages"]
    assert len(lines) == 2, lines  # the outage began, and ended
    assert "connection already closed" in lines[0] and "back" in lines[1]
