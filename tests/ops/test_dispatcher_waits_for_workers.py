"""The dispatcher claims no step while no worker cluster beats: a step claimed with nobody to
run it would sit claimed until its lease ran out, then run late."""

import io
import logging
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from automations.models import RunStep
from ops import heartbeats
from ops.models import Heartbeat
from tests.automations.test_engine import automation
from tests.factories import make_invoice

pytestmark = pytest.mark.django_db


@pytest.fixture
def due_step(django_capture_on_commit_callbacks, settings) -> RunStep:
    from billing import services as billing

    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}  # the dispatcher's view: workers are other processes
    automation("invoice.overdue", [{"action": "void_invoice", "delay": {"amount": 0, "unit": "days"}, "params": {}}])
    with django_capture_on_commit_callbacks(execute=True):
        billing.invoice_mark_overdue(invoice=make_invoice(due_date=timezone.now() - timedelta(days=1)))
    return RunStep.objects.get()


def _dispatch_once() -> None:
    heartbeats._last_beat.clear()
    call_command("run_dispatcher", once=True, stdout=io.StringIO())


def test_with_no_worker_cluster_alive_the_dispatcher_claims_nothing_and_says_so_once(due_step, caplog):
    caplog.set_level(logging.INFO, logger="ops.management.commands.run_dispatcher")
    _dispatch_once()
    due_step.refresh_from_db()
    assert (due_step.status, due_step.attempts) == ("pending", 0)
    [line] = [r.getMessage() for r in caplog.records if "worker" in r.getMessage()]
    assert "no worker cluster" in line
    assert heartbeats.workers_alive() is False
    assert not Heartbeat.objects.filter(kind=heartbeats.WORKER).exists()


def test_a_quiet_cluster_does_not_count_as_a_worker(due_step):
    heartbeats.beat(heartbeats.WORKER, pid=7, now=timezone.now() - heartbeats.STALE - timedelta(seconds=5))
    _dispatch_once()
    due_step.refresh_from_db()
    assert due_step.status == "pending"


def test_once_a_cluster_beats_the_dispatcher_claims_and_hands_out_the_step(due_step):
    heartbeats.beat(heartbeats.WORKER, pid=7)
    _dispatch_once()
    due_step.refresh_from_db()
    assert due_step.attempts == 1
    assert due_step.status == "succeeded"  # django-q2 itself runs tasks in the caller here (sync mode)
