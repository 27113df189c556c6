"""Same-kind steps of a batch act as a set (void, mark uncollectible, team email): one read of
their objects, one write per table, with the same outcomes as one by one."""

from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from automations.engine.actions import ACTIONS
from automations.engine.dispatch import claim_due, execute_steps
from automations.models import Run, RunStep
from bench import engine_data as data
from billing.models import Event, Invoice
from notifications.models import OutboundEmail

pytestmark = pytest.mark.django_db(transaction=True)  # commits for real, as in a worker


@pytest.fixture(autouse=True)
def _no_tasks():
    with mock.patch("automations.queue.async_task"), mock.patch("notifications.queue.async_task"):
        yield


def _claimed(n: int, action: str, *, invoices=None) -> list[int]:
    """n due steps of `action` (one run and invoice each, unless `invoices` are given), claimed."""
    from billing.models import AccountSettings

    account = AccountSettings.load()
    account.team_email_domains = [data.TEAM_DOMAIN]
    account.save()
    automation = data.step_automation()
    data.make_due_steps(invoices or data.make_invoices(n), lambda i: timezone.now(), automation)
    params = data.memo("Bench")["params"] if action == "send_team_email" else {}
    RunStep.objects.filter(status="pending").update(action=action, params=params)
    return claim_due(100)


def _queries(step_ids: list[int]) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert execute_steps(step_ids) == len(step_ids)
    return len(queries)


@pytest.mark.parametrize("action", ["void_invoice", "mark_invoice_uncollectible", "send_team_email"])
def test_a_set_of_steps_costs_the_same_queries_whatever_its_size(action):
    few = _queries(_claimed(4, action))
    many = _queries(_claimed(20, action))
    extra = 16 if action == "send_team_email" else 0  # each email is marked sent right after it went out
    assert many <= few + extra
    assert set(RunStep.objects.values_list("status", flat=True)) == {"succeeded"}
    assert set(Run.objects.values_list("status", flat=True)) == {"completed"}


def test_a_void_set_voids_each_invoice_once_with_one_event_each():
    ids = _claimed(10, "void_invoice")
    execute_steps(ids)
    assert Invoice.objects.filter(status="void", voided_at__isnull=False).count() == 10
    assert Event.objects.filter(type="invoice.voided").count() == 10
    step = RunStep.objects.get(pk=ids[0])
    assert step.result == {"invoice": step.run.object_id, "status": "void"}


def test_a_set_that_fails_unexpectedly_is_undone_and_its_steps_run_one_by_one(monkeypatch):
    ids = _claimed(6, "void_invoice")
    void = ACTIONS["void_invoice"]
    real = type(void).execute_set

    def crashing(self, steps, objects):
        real(self, steps, objects)  # voided, events recorded …
        raise RuntimeError("connection lost")  # … then a surprise: the whole set is undone

    monkeypatch.setattr(type(void), "execute_set", crashing)
    assert execute_steps(ids) == 6
    assert set(RunStep.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"succeeded"}
    assert Invoice.objects.filter(status="void").count() == 6
    assert Event.objects.filter(type="invoice.voided").count() == 6  # once each: the set's were undone


def test_in_a_set_a_step_whose_run_has_ended_is_skipped_and_the_others_act():
    ids = _claimed(5, "mark_invoice_uncollectible")
    paid = RunStep.objects.get(pk=ids[2])
    Invoice.objects.filter(public_id=paid.run.object_id).update(status="paid", paid_at=timezone.now())
    execute_steps(ids)
    paid.refresh_from_db()
    assert paid.status == "skipped" and paid.error == "the run's end condition holds: invoice already paid"
    assert paid.run.status == "ended" and paid.run.reason == "invoice paid"
    assert Invoice.objects.filter(status="uncollectible").count() == 4
    assert Event.objects.filter(type="invoice.marked_uncollectible").count() == 4


def test_a_retried_step_in_a_set_tells_its_earlier_attempt_from_someone_else():
    ids = _claimed(4, "void_invoice")
    steps = list(RunStep.objects.filter(pk__in=ids).order_by("pk"))
    RunStep.objects.filter(pk__in=ids[:2]).update(attempts=2)
    ours, theirs = steps[0], steps[1]
    # The earlier attempt of `ours` voided its invoice and died; `theirs` was voided before it was due.
    Invoice.objects.filter(public_id=ours.run.object_id).update(status="void", voided_at=ours.scheduled_at)
    earlier = theirs.scheduled_at - timedelta(hours=1)
    Invoice.objects.filter(public_id=theirs.run.object_id).update(status="void", voided_at=earlier)
    execute_steps(ids)
    ours.refresh_from_db(), theirs.refresh_from_db()
    assert ours.status == "succeeded" and ours.result["note"] == "done by an earlier attempt"
    assert theirs.status == "skipped" and theirs.error == "invoice is already void"
    assert Event.objects.filter(type="invoice.voided").count() == 2  # the two first attempts only


def test_steps_of_one_batch_on_the_same_invoice_run_one_by_one_in_order():
    invoice = data.make_invoices(1)[0]
    ids = _claimed(0, "void_invoice", invoices=[invoice, invoice, invoice])  # three runs on one invoice
    assert len(ids) == 3
    execute_steps(ids)
    outcomes = list(RunStep.objects.filter(pk__in=ids).order_by("pk").values_list("status", "error"))
    ended = ("skipped", "the run's end condition holds: invoice already voided")
    assert outcomes == [("succeeded", ""), ended, ended]
    assert Event.objects.filter(type="invoice.voided").count() == 1


def test_a_team_email_set_sends_one_email_per_step_and_none_twice():
    ids = _claimed(6, "send_team_email")
    first = RunStep.objects.get(pk=ids[0])
    RunStep.objects.filter(pk=first.pk).update(attempts=2)  # its earlier attempt recorded the email, then died
    from notifications.email import send_templated_email

    earlier = send_templated_email(
        to=["collections@relance.example"], template="emails/team_memo", context={"memo": "x", "rows": []},
        idempotency_key=first.idempotency_key,
    )  # fmt: skip
    execute_steps(ids)
    assert OutboundEmail.objects.count() == 6
    first.refresh_from_db()
    assert first.status == "succeeded" and first.result["email"] == earlier.public_id
    emails = OutboundEmail.objects.exclude(pk=earlier.pk)
    assert {tuple(email.recipients) for email in emails} == {("collections@relance.example",)}
    numbers = {RunStep.objects.get(pk=pk).run.object_id for pk in ids[1:]}
    subjects_and_bodies = " ".join(email.text_body for email in emails)
    for number in Invoice.objects.filter(public_id__in=numbers).values_list("number", flat=True):
        assert number in subjects_and_bodies  # each email about its own invoice
