"""Transient failures are retried with backoff, permanent ones fail the step and the run."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from automations.engine import dispatch
from automations.engine.actions import ACTIONS
from automations.engine.actions.base import Action, ActionError
from automations.models import Run
from tests.automations.test_engine import VOID, _overdue_invoice, automation

pytestmark = pytest.mark.django_db


class Flaky(Action):
    key, label, allowed_triggers = "void_invoice", "Flaky", set()

    def __init__(self, failures: int, permanent: bool = False):
        self.failures, self.permanent, self.calls = failures, permanent, 0

    def execute(self, step):
        self.calls += 1
        if self.calls <= self.failures:
            raise ActionError("the mail server said try later", permanent=self.permanent)
        return {"done": True}


@pytest.fixture
def flaky(monkeypatch):
    def install(failures: int, permanent: bool = False) -> Flaky:
        action = Flaky(failures, permanent)
        monkeypatch.setitem(ACTIONS, "void_invoice", action)
        return action

    return install


def test_a_transient_failure_is_retried_with_backoff_until_it_succeeds(flaky, django_capture_on_commit_callbacks):
    action = flaky(failures=2)
    automation("invoice.overdue", [VOID])
    _overdue_invoice(django_capture_on_commit_callbacks)
    start = timezone.now()
    dispatch.dispatch_due()
    step = Run.objects.get().steps.get()
    assert step.status == "pending" and "try later" in step.error
    assert step.scheduled_at - start >= timedelta(minutes=1)
    with time_machine.travel(start + timedelta(minutes=1, seconds=5), tick=False):
        dispatch.dispatch_due()
    with time_machine.travel(start + timedelta(minutes=4), tick=False):
        dispatch.dispatch_due()
    step.refresh_from_db()
    assert (step.status, step.attempts, action.calls) == ("succeeded", 3, 3)
    assert Run.objects.get().status == "completed"


def test_a_permanent_failure_fails_the_step_and_the_run(flaky, django_capture_on_commit_callbacks):
    flaky(failures=1, permanent=True)
    automation("invoice.overdue", [VOID, {**VOID, "delay": {"amount": 1, "unit": "days"}}])
    _overdue_invoice(django_capture_on_commit_callbacks)
    dispatch.dispatch_due()
    run = Run.objects.get()
    first, second = run.steps.order_by("position")
    assert first.status == "failed" and "try later" in first.error
    assert second.status == "canceled"
    assert run.status == "failed" and "step 1" in run.reason


def test_a_step_failing_every_time_fails_after_the_last_attempt(flaky, django_capture_on_commit_callbacks):
    flaky(failures=100)
    automation("invoice.overdue", [VOID])
    _overdue_invoice(django_capture_on_commit_callbacks)
    start = timezone.now()
    for minutes in range(0, 40):
        with time_machine.travel(start + timedelta(minutes=minutes), tick=False):
            dispatch.dispatch_due()
    step = Run.objects.get().steps.get()
    assert step.status == "failed" and step.attempts == dispatch.MAX_ATTEMPTS
    assert Run.objects.get().status == "failed"
