"""The dispatcher hands claimed steps to django-q2 in batches, and claims only what the workers
will start soon (sync mode here: a task runs as it is enqueued)."""

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from automations import tasks
from automations.engine.dispatch import dispatch_to_workers
from automations.models import Run, RunStep
from billing import jobs
from tests.automations.test_engine import VOID, automation
from tests.factories import make_invoice

pytestmark = pytest.mark.django_db


def _overdue_runs(count: int, django_capture_on_commit_callbacks) -> None:
    automation("invoice.overdue", [VOID])
    for _ in range(count):
        make_invoice(due_date=timezone.now() - timedelta(days=1))
    with django_capture_on_commit_callbacks(execute=True):
        jobs.run_overdue()


def test_it_hands_out_claimed_steps_a_batch_per_task(django_capture_on_commit_callbacks):
    _overdue_runs(5, django_capture_on_commit_callbacks)
    with mock.patch("automations.queue.async_task") as enqueue:
        assert dispatch_to_workers(per_task=2) == 5
    batches = [call.args[1] for call in enqueue.call_args_list]
    assert [len(b) for b in batches] == [2, 2, 1]
    assert sorted(i for b in batches for i in b) == sorted(RunStep.objects.values_list("pk", flat=True))
    assert set(RunStep.objects.values_list("status", flat=True)) == {"running"}


def test_a_few_due_steps_are_shared_among_the_workers_to_run_side_by_side(django_capture_on_commit_callbacks, settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "workers": 3}
    _overdue_runs(7, django_capture_on_commit_callbacks)
    with mock.patch("automations.queue.async_task") as enqueue:
        assert dispatch_to_workers() == 7
    assert [len(call.args[1]) for call in enqueue.call_args_list] == [3, 3, 1]


def test_a_batch_executes_every_step_once(django_capture_on_commit_callbacks):
    _overdue_runs(3, django_capture_on_commit_callbacks)
    assert dispatch_to_workers(per_task=2) == 3  # sync mode: the tasks ran
    assert set(RunStep.objects.values_list("status", flat=True)) == {"succeeded"}
    assert set(Run.objects.values_list("status", flat=True)) == {"completed"}


@pytest.mark.django_db(transaction=True)  # savepoints and the batch's commit, as in a worker
def test_a_step_that_fails_unexpectedly_does_not_hold_up_the_rest_of_its_batch(
    django_capture_on_commit_callbacks, monkeypatch
):
    from automations.engine.actions import ACTIONS
    from billing.models import Invoice

    _overdue_runs(3, django_capture_on_commit_callbacks)
    steps = list(RunStep.objects.order_by("pk"))
    RunStep.objects.update(status="running", claimed_until=timezone.now() + timedelta(minutes=5), attempts=1)
    real = ACTIONS["void_invoice"]

    class CrashingOnTheSecond:
        acts_as_set = False  # one by one: each step in its own savepoint
        can_end_its_run = True

        def execute(self, step):
            result = real.execute(step)  # voided, its event recorded …
            if step.pk == steps[1].pk:
                raise RuntimeError("db gone")  # … then a surprise: this step's savepoint is undone
            return result

    monkeypatch.setitem(ACTIONS, "void_invoice", CrashingOnTheSecond())
    with mock.patch("automations.queue.async_task"):
        assert tasks.execute_steps([s.pk for s in steps]) == 3
    statuses = dict(RunStep.objects.values_list("pk", "status"))
    assert statuses == {steps[0].pk: "succeeded", steps[1].pk: "pending", steps[2].pk: "succeeded"}
    assert "RuntimeError: db gone" in RunStep.objects.get(pk=steps[1].pk).error
    voided = {s.run.object_id for s in (steps[0], steps[2])}
    assert set(Invoice.objects.filter(status="void").values_list("public_id", flat=True)) == voided


@pytest.mark.django_db(transaction=True)
def test_a_batch_that_fails_as_a_whole_is_executed_step_by_step(django_capture_on_commit_callbacks):
    _overdue_runs(2, django_capture_on_commit_callbacks)
    ids = list(RunStep.objects.values_list("pk", flat=True))
    RunStep.objects.update(status="running", claimed_until=timezone.now() + timedelta(minutes=5), attempts=1)
    from automations.engine import dispatch

    real = dispatch.execute_batch
    calls = []

    def deadlocked_once(step_ids):
        calls.append(list(step_ids))
        if len(calls) == 1:
            raise RuntimeError("deadlock detected")  # the whole batch rolled back
        return real(step_ids)

    with (
        mock.patch.object(dispatch, "execute_batch", side_effect=deadlocked_once),
        mock.patch("automations.queue.async_task"),
    ):
        assert tasks.execute_steps(ids) == 2
    assert calls == [ids, [ids[0]], [ids[1]]]
    assert set(RunStep.objects.values_list("status", flat=True)) == {"succeeded"}


def test_it_claims_nothing_while_the_broker_holds_enough_work(django_capture_on_commit_callbacks):
    _overdue_runs(2, django_capture_on_commit_callbacks)
    from django_q.brokers import get_broker

    # Whichever broker this run uses (the ORM one, or Redis in CI).
    with mock.patch.object(type(get_broker()), "queue_size", return_value=100):
        assert dispatch_to_workers() == 0
    assert set(RunStep.objects.values_list("status", flat=True)) == {"pending"}


@pytest.mark.django_db(transaction=True)  # each step really commits, as in a worker
def test_the_events_a_batch_of_steps_causes_reach_the_engine_in_one_task(django_capture_on_commit_callbacks):
    from automations.engine.dispatch import execute_steps
    from automations.models import HandledEvent
    from billing.models import Event

    _overdue_runs(4, django_capture_on_commit_callbacks)
    ids = list(RunStep.objects.values_list("pk", flat=True))
    RunStep.objects.update(status="running", claimed_until=timezone.now() + timedelta(minutes=5))
    from django_q.tasks import async_task

    enqueue = mock.patch("automations.queue.async_task", wraps=async_task)
    with enqueue as enqueued:
        assert execute_steps(ids) == 4
    funcs = [call.args[0] for call in enqueued.call_args_list]
    assert funcs == ["automations.tasks.handle_events"], funcs
    voided = Event.objects.filter(type="invoice.voided")
    assert voided.count() == 4
    assert HandledEvent.objects.filter(event__in=voided).count() == 4
