"""Duplicates: an event delivered several times, to several workers at once, starts one run.

Twice: with 4 separate processes that each handle their share of 5 deliveries of the same
events at the same instant, and through a real `qcluster` of 4 workers that is handed every
event's task 5 times.
"""

import json
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.brokers.orm import ORM
from django_q.tasks import async_task

from automations.models import HandledEvent, MatchingRecord, Run
from billing import jobs
from billing.models import Event
from tests.factories import make_invoice
from tests.faults.conftest import ROOT, automation, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

EVENTS = 20
DELIVERIES = 5
WORKERS = 4

HANDLER = """
import json, os, sys, time
import django
django.setup()
from automations.engine.handling import handle_event
start, event_ids, times = float(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3])
time.sleep(max(0.0, start - time.time()))
print(json.dumps([[event_id, handle_event(event_id)] for event_id, n in zip(event_ids, times) for _ in range(n)]))
"""


@pytest.fixture
def overdue_events(monkeypatch):
    """EVENTS `invoice.overdue` events nobody has handled yet (their tasks are not sent)."""
    monkeypatch.setattr("automations.queue.async_task", lambda *args, **kwargs: None)
    memo = {"recipient": "eddie@relance.example", "message": "{number} is overdue"}
    automation(
        "invoice.overdue", [{"action": "send_team_email", "delay": {"amount": 1, "unit": "days"}, "params": memo}]
    )
    for _ in range(EVENTS):
        make_invoice(due_date=timezone.now() - timedelta(days=1))
    jobs.run_overdue()
    events = list(Event.objects.filter(type="invoice.overdue").order_by("pk").values_list("pk", flat=True))
    assert len(events) == EVENTS and not HandledEvent.objects.exists()
    return events


def _one_run_per_event(events: list[int]) -> None:
    assert Counter(Run.objects.values_list("event_id", flat=True)) == Counter(dict.fromkeys(events, 1))
    assert MatchingRecord.objects.count() == EVENTS and HandledEvent.objects.count() == EVENTS


def test_an_event_handled_five_times_by_four_processes_at_once_starts_one_run(overdue_events, workers):
    # Delivery k of every event goes to process k % 4: process 0 handles each event twice.
    shares = [[sum(1 for k in range(DELIVERIES) if k % WORKERS == w)] * EVENTS for w in range(WORKERS)]
    start = time.time() + 3  # all four are connected and waiting by then
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", HANDLER, str(start), json.dumps(overdue_events), json.dumps(share)],
            cwd=ROOT,
            env=workers.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for share in shares
    ]
    outcomes = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        outcomes += json.loads(out.strip().splitlines()[-1])
    assert len(outcomes) == EVENTS * DELIVERIES
    started = Counter(event_id for event_id, handled in outcomes if handled)
    assert started == Counter(dict.fromkeys(overdue_events, 1))  # one True per event, four False
    _one_run_per_event(overdue_events)


def test_an_event_whose_task_is_queued_five_times_starts_one_run_on_a_real_cluster(overdue_events, workers):
    broker = ORM(list_key="relance")  # the cluster's broker (this process may have Redis configured)
    for event_id in overdue_events:
        for _ in range(DELIVERIES):
            # `sync` is on in this process: put the tasks on the broker for the cluster instead.
            async_task("automations.tasks.handle_event", event_id, sync=False, broker=broker)
    assert broker.queue_size() == EVENTS * DELIVERIES
    workers.start_cluster(Q_WORKERS=str(WORKERS))
    assert wait_for(lambda: broker.queue_size() == 0 and broker.lock_size() == 0, timeout=60), workers.log_tail()
    _one_run_per_event(overdue_events)
