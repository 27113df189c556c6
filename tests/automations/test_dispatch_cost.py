"""What executing a claimed batch costs: queries per step for the internal actions (team email,
void, mark uncollectible), a batch of 24 as the dispatcher hands out."""

from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from automations.engine.dispatch import claim_due, execute_steps
from automations.models import Run, RunStep
from bench import engine_data as data
from notifications.models import OutboundEmail

pytestmark = pytest.mark.django_db(transaction=True)  # commits for real, as in a worker

BATCH = 24  # 8 of each action
MAX_QUERIES_PER_STEP = 3  # 2.2: same-kind steps act as sets (was 8.3 one by one, 15 before batches)


def _due_batch():
    from billing.models import AccountSettings

    account = AccountSettings.load()
    account.team_email_domains = [data.TEAM_DOMAIN]
    account.default_currency = "EUR"
    account.save()
    automation = data.step_automation()
    invoices = data.make_invoices(BATCH)
    data.make_due_steps(invoices, lambda i: timezone.now(), automation)
    return claim_due(BATCH)


def test_a_batch_of_internal_steps_costs_few_queries_per_step():
    ids = _due_batch()
    assert len(ids) == BATCH
    with (
        CaptureQueriesContext(connection) as queries,
        mock.patch("automations.queue.async_task"),  # handling the billing events is not the steps' cost
        mock.patch("notifications.queue.async_task") as enqueue,
    ):
        assert execute_steps(ids) == BATCH
    import os

    if os.environ.get("DUMP_QUERIES"):
        for q in queries.captured_queries[:60]:
            print(q["sql"][:200])
    per_step = len(queries) / BATCH
    print(f"\n{len(queries)} queries for {BATCH} steps: {per_step:.1f} per step")
    assert per_step <= MAX_QUERIES_PER_STEP
    assert set(RunStep.objects.values_list("status", flat=True)) == {"succeeded"}
    assert set(Run.objects.values_list("status", flat=True)) == {"completed"}
    # The emails were sent by the batch itself, not by a task each.
    assert set(OutboundEmail.objects.values_list("status", flat=True)) == {"sent"}
    assert OutboundEmail.objects.count() == BATCH // 3
    assert not enqueue.called


def test_an_unexpected_error_after_the_effect_rolls_the_effect_back_and_the_step_is_retried(monkeypatch):
    from automations.engine import dispatch
    from automations.engine.actions import ACTIONS
    from billing.models import Event, Invoice

    ids = _due_batch()
    void = next(s for s in RunStep.objects.filter(pk__in=ids) if s.action == "void_invoice")
    real = ACTIONS["void_invoice"]

    class Crashing:
        acts_as_set = False  # one by one: each step in its own savepoint
        can_end_its_run = False

        def execute(self, step):
            real.execute(step)  # voided (and its event recorded) …
            raise RuntimeError("worker lost its connection")  # … then a surprise

    monkeypatch.setitem(ACTIONS, "void_invoice", Crashing())
    assert dispatch.execute_step(void.pk) == "pending"
    void.refresh_from_db()
    assert void.status == "pending" and void.attempts == 1 and "RuntimeError" in void.error
    invoice = Invoice.objects.get(public_id=void.run.object_id)
    assert invoice.status == "open" and not Event.objects.filter(type="invoice.voided").exists()


def test_a_step_not_running_is_not_executed():
    from automations.engine import dispatch

    ids = _due_batch()
    RunStep.objects.filter(pk=ids[0]).update(status="succeeded")
    assert dispatch.execute_step(ids[0]) is None
