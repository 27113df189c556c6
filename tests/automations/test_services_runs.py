"""Canceling one run by hand (automations.services.runs)."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from automations.engine.dispatch import dispatch_due
from automations.models import Run, RunStep
from automations.services.runs import RunNotActive, run_cancel
from billing.models import Event
from tests.automations.test_engine import VOID, _overdue_invoice, automation

pytestmark = pytest.mark.django_db

LATER_VOID = {**VOID, "delay": {"amount": 3, "unit": "days"}}
MEMO = {"action": "mark_invoice_uncollectible", "delay": {"amount": 1, "unit": "days"}, "params": {}}


def make_run(auto, *, status="active", object_id="in_test", object_type="invoice", steps=None, **fields) -> Run:
    """A run written directly (no engine), with one pending step per definition step."""
    now = timezone.now()
    event = Event.objects.create(
        type="invoice.overdue", created=now, object_type=object_type, object_id=object_id, data_object={}
    )
    run = Run.objects.create(
        automation=auto, version=auto.current_version, trigger=auto.trigger, event=event, object_type=object_type,
        object_id=object_id, status=status, started_at=fields.pop("started_at", now),
        finished_at=None if status == "active" else now, **fields,
    )  # fmt: skip
    for position, step in enumerate(steps if steps is not None else auto.current_version.steps, start=1):
        RunStep.objects.create(
            run=run, position=position, action=step["action"], params=step.get("params", {}), delay=step["delay"],
            scheduled_at=now + timedelta(days=position), status="pending" if status == "active" else "canceled",
        )  # fmt: skip
    return run


def test_canceling_a_run_cancels_it_and_its_pending_steps_with_who_did_it(django_capture_on_commit_callbacks, editor):
    automation("invoice.overdue", [LATER_VOID, MEMO])
    _overdue_invoice(django_capture_on_commit_callbacks)
    run = Run.objects.get()
    run_cancel(run=run, user=editor)
    run.refresh_from_db()
    assert (run.status, run.reason) == ("canceled", "canceled by eddie")
    assert run.finished_at is not None
    assert list(run.steps.values_list("status", "error")) == [("canceled", "canceled by eddie")] * 2


def test_a_canceled_run_never_executes_its_remaining_steps(django_capture_on_commit_callbacks):
    automation("invoice.overdue", [LATER_VOID])
    invoice = _overdue_invoice(django_capture_on_commit_callbacks)
    run_cancel(run=Run.objects.get())
    with time_machine.travel(timezone.now() + timedelta(days=4), tick=False):
        assert dispatch_due() == 0
    invoice.refresh_from_db()
    assert invoice.status == "open"
    assert Run.objects.get().reason == "canceled by hand"


def test_steps_already_done_keep_their_outcome(django_capture_on_commit_callbacks):
    automation("invoice.overdue", [MEMO, LATER_VOID])
    _overdue_invoice(django_capture_on_commit_callbacks)
    with time_machine.travel(timezone.now() + timedelta(days=2), tick=False):
        assert dispatch_due() == 1
    run_cancel(run=Run.objects.get())
    assert list(RunStep.objects.order_by("position").values_list("status", flat=True)) == ["succeeded", "canceled"]


@pytest.mark.parametrize("status", ["completed", "ended", "canceled", "failed"])
def test_a_finished_run_cannot_be_canceled_and_stays_as_it_was(status):
    auto = automation("invoice.overdue", [VOID])
    run = make_run(auto, status=status, reason="as it was")
    with pytest.raises(RunNotActive, match="already finished"):
        run_cancel(run=run)
    run.refresh_from_db()
    assert (run.status, run.reason) == (status, "as it was")


def test_canceling_one_run_leaves_the_other_runs_of_the_automation_alone():
    auto = automation("invoice.overdue", [LATER_VOID])
    first, second = make_run(auto, object_id="in_1"), make_run(auto, object_id="in_2")
    run_cancel(run=first)
    assert Run.objects.get(pk=second.pk).status == "active"
    assert RunStep.objects.get(run=second).status == "pending"
