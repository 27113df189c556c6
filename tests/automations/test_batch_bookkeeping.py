"""A batch of steps does its bookkeeping once: the runs' objects are read in one query per kind
(each handed out once, so a second step on an object reads it afresh), and the runs it finishes
are completed in one update that leaves a run ended meanwhile as it is."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from automations.engine.actions.base import preload_run_objects, run_object
from automations.engine.actions.common import batch_lookups
from automations.engine.dispatch import execute_batch
from automations.engine.runs import complete_runs
from automations.models import Run, RunStep
from billing.models import Invoice
from tests.automations.test_engine import VOID, automation
from tests.automations.test_services_runs import make_run
from tests.factories import make_invoice, make_quote, make_subscription

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def _step_about(obj, kind: str, name: str = "A") -> RunStep:
    """The one step of a run about `obj` (with its run, as the batch reads it)."""
    auto = automation("invoice.overdue", [VOID], name=name)
    run = make_run(auto, object_type=kind, object_id=obj.public_id)
    return RunStep.objects.select_related("run").get(run=run)


# --- the runs' objects --------------------------------------------------------------------------


def test_within_a_batch_the_runs_objects_are_read_in_one_query_per_kind(django_assert_num_queries):
    kinds = [("invoice", make_invoice()), ("invoice", make_invoice()), ("subscription", make_subscription())]
    kinds.append(("quote", make_quote()))
    objects = [obj for _, obj in kinds]
    steps = [_step_about(obj, kind) for kind, obj in kinds]
    with batch_lookups():
        with django_assert_num_queries(3):
            preload_run_objects([step.run for step in steps])
        with django_assert_num_queries(0):  # handed out, with their customers
            handed = [run_object(step) for step in steps]
            customers = [obj.customer.email for obj in handed]
    assert [(type(obj), obj.pk) for obj in handed] == [(type(obj), obj.pk) for obj in objects]
    assert customers == [obj.customer.email for obj in objects]


def test_a_second_step_on_the_same_object_reads_it_afresh_and_sees_the_first_steps_change(
    django_assert_num_queries,
):
    invoice = make_invoice()
    first, second = _step_about(invoice, "invoice", name="A"), _step_about(invoice, "invoice", name="B")
    with batch_lookups():
        preload_run_objects([first.run, second.run])
        with django_assert_num_queries(0):
            seen_by_first = run_object(first)
        Invoice.objects.filter(pk=invoice.pk).update(status="void")  # what the first step did
        with django_assert_num_queries(1):
            seen_by_second = run_object(second)
    assert seen_by_first.status == "open"
    assert seen_by_second.status == "void"


def test_two_steps_of_one_batch_void_an_invoice_once_and_the_second_sees_it_void(django_capture_on_commit_callbacks):
    invoice = make_invoice()
    first, second = _step_about(invoice, "invoice", name="A"), _step_about(invoice, "invoice", name="B")
    RunStep.objects.update(status="running", claimed_until=timezone.now() + timedelta(minutes=5), attempts=1)
    with batch_lookups():
        statuses = execute_batch([first.pk, second.pk])
    assert statuses == {first.pk: "succeeded", second.pk: "skipped"}
    # Not a stale "open" copy: the second run's end condition (invoice voided) holds, so it ends.
    assert RunStep.objects.get(pk=second.pk).error == "the run's end condition holds: invoice already voided"
    invoice.refresh_from_db()
    assert invoice.status == "void"
    assert Run.objects.get(pk=first.run_id).status == "completed"
    assert (Run.objects.get(pk=second.run_id).status, Run.objects.get(pk=second.run_id).reason) == (
        "ended",
        "invoice voided",
    )


def test_outside_a_batch_preloading_reads_nothing_and_each_step_reads_its_object(django_assert_num_queries):
    invoice = make_invoice()
    step = _step_about(invoice, "invoice")
    with django_assert_num_queries(0):
        preload_run_objects([step.run])
    with django_assert_num_queries(1):
        assert run_object(step).pk == invoice.pk
    Invoice.objects.filter(pk=invoice.pk).update(status="void")
    with django_assert_num_queries(1):
        assert run_object(step).status == "void"


# --- completing runs ----------------------------------------------------------------------------


def test_completing_runs_takes_one_update_and_leaves_a_run_that_ended_meanwhile_ended(django_assert_num_queries):
    auto = automation("invoice.overdue", [VOID])
    done, also_done, paid = (make_run(auto, object_id=f"in_{n}", steps=[]) for n in range(3))
    ended_at = NOW - timedelta(minutes=1)
    # Another worker ended this run after the batch read it: the batch's copy still says active.
    Run.objects.filter(pk=paid.pk).update(status="ended", reason="invoice paid", finished_at=ended_at)
    with time_machine.travel(NOW, tick=False), django_assert_num_queries(1):
        complete_runs([done, also_done, paid], "all steps done")
    rows = {
        pk: (status, reason, at)
        for pk, status, reason, at in Run.objects.values_list("pk", "status", "reason", "finished_at")
    }
    assert rows[done.pk] == rows[also_done.pk] == ("completed", "all steps done", NOW)
    assert rows[paid.pk] == ("ended", "invoice paid", ended_at)


def test_completing_no_runs_makes_no_query(django_assert_num_queries):
    with django_assert_num_queries(0):
        complete_runs([], "all steps done")
