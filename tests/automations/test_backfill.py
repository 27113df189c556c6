"""Backfill on enable (automations.services.backfill): runs for the objects already in an
automation's trigger state, through the engine's own run building."""

import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from automations.engine.handling import handle_event
from automations.models import MatchingRecord, Run
from automations.services.backfill import BackfillRefused, _start, backfill_plan, backfill_start
from automations.services.definitions import automation_enable
from billing import jobs, services
from billing.models import Event, Invoice, TestClock
from billing.services.invoices import Money
from tests.automations.test_engine import _overdue_invoice, automation
from tests.factories import DECLINED_CARD, make_customer, make_invoice, make_price

pytestmark = pytest.mark.django_db

OVERDUE = "invoice.overdue"
UPCOMING = "invoice.due_date_upcoming"


def later(amount=2, unit="days", action="void_invoice", **params):
    """A relative step `amount` `unit` after the trigger (or the previous step)."""
    return {"action": action, "delay": {"amount": amount, "unit": unit}, "params": params}


def around(amount, direction, action="send_invoice_will_be_due_webhook", **params):
    """A date-anchored step `amount` days before or after the anchor."""
    return {"action": action, "delay": {"amount": amount, "unit": "days", "direction": direction}, "params": params}


ENTERPRISE = [{"type": "customer_metadata", "params": {"key": "segment", "value": "enterprise"}}]


def lines(amount=100):
    return [services.LineItem(description="Audit", unit_amount=Money(amount, "EUR"))]


def send_invoice(callbacks, *, due_in=timedelta(days=10), customer=None, finalize=True) -> Invoice:
    invoice = services.invoice_create(
        customer=customer or make_customer(), collection_method="send_invoice", due_date=timezone.now() + due_in,
        lines=lines(),
    )  # fmt: skip
    if finalize:
        with callbacks(execute=True):
            services.invoice_finalize(invoice=invoice)
    return invoice


def subscription(callbacks, **customer):
    with callbacks(execute=True):
        return services.subscription_create(customer=make_customer(**customer), items=[(make_price(), 1)])


# Each trigger's state, built through billing's services (so with its events, handled by the engine
# while no automation was on), and a step still ahead for it.


def overdue(callbacks):
    return _overdue_invoice(callbacks), [later()]


def upcoming(callbacks):
    return send_invoice(callbacks), [around(3, "before")]


def finalized(callbacks):
    return send_invoice(callbacks), [later()]


def payment_failed(callbacks):
    sub = subscription(callbacks, default_payment_method=DECLINED_CARD)
    return sub.invoices.get(), [later()]


def expiring(callbacks):
    quote = services.quote_create(
        customer=make_customer(), lines=lines(), expires_at=timezone.now() + timedelta(days=9)
    )
    with callbacks(execute=True):
        services.quote_finalize(quote=quote)
    return quote, [around(2, "before", action="send_quote_will_expire_webhook")]


CUSTOM = {"action": "send_custom_event_webhook", "params": {"label": "win-back"}}


def canceled(callbacks):
    sub = subscription(callbacks)
    with callbacks(execute=True):
        services.subscription_cancel(subscription=sub)
    return sub, [{**CUSTOM, "delay": {"amount": 1, "unit": "days"}}]


def cancel_scheduled(callbacks):
    sub = subscription(callbacks)
    with callbacks(execute=True):
        services.subscription_schedule_cancel(subscription=sub, at=timezone.now() + timedelta(days=10))
    return sub, [{**CUSTOM, "delay": {"amount": 2, "unit": "days", "direction": "before"}}]


def pause_scheduled(callbacks):
    sub = subscription(callbacks)
    with callbacks(execute=True):
        services.subscription_pause_collection(subscription=sub, starts_at=timezone.now() + timedelta(days=6))
    return sub, [{**CUSTOM, "delay": {"amount": 2, "unit": "days", "direction": "before"}}]


STATES = {
    OVERDUE: (overdue, "invoice.overdue", "1 invoice is already overdue and matches this automation."),
    UPCOMING: (upcoming, "invoice.finalized", "1 open invoice has a due date and matches this automation."),
    "invoice.finalized": (finalized, "invoice.finalized", "1 finalized invoice is still open and matches"),
    "subscription.payment_failed": (payment_failed, "invoice.payment_failed", "1 subscription invoice has a failed"),
    "quote.expiring": (expiring, "quote.finalized", "1 open quote has an expiration date and matches"),
    "subscription.canceled": (canceled, "customer.subscription.deleted", "1 subscription is already canceled"),
    "subscription.cancel_scheduled": (cancel_scheduled, "customer.subscription.updated", "already scheduled to cancel"),
    "subscription.pause_scheduled": (pause_scheduled, "customer.subscription.updated", "a pause of collection"),
}


@pytest.mark.parametrize("trigger", list(STATES))
def test_it_counts_and_starts_a_run_for_an_object_already_in_each_trigger_state(
    trigger, django_capture_on_commit_callbacks
):
    build, event_type, words = STATES[trigger]
    obj, steps = build(django_capture_on_commit_callbacks)
    auto = automation(trigger, steps, name="Late")
    plan = backfill_plan(auto)
    assert plan.count == 1 and words in plan.offer
    assert backfill_start(automation=auto).started == 1
    run = Run.objects.get(trigger=trigger)
    assert (run.automation, run.object_id, run.status) == (auto, obj.public_id, "active")
    # attached to the event that put the object in the state
    assert run.event.type == event_type and run.event.object_id == obj.public_id
    assert run.steps.get().status == "pending" and run.steps.get().scheduled_at > timezone.now()
    assert "backfilled" in run.reason


def test_only_objects_the_automations_filters_match_are_counted(django_capture_on_commit_callbacks):
    big = _overdue_invoice(django_capture_on_commit_callbacks, metadata={"segment": "enterprise"})
    _overdue_invoice(django_capture_on_commit_callbacks, metadata={"segment": "smb"})
    auto = automation(OVERDUE, [later()], filters=ENTERPRISE)
    assert [c.obj.public_id for c in backfill_plan(auto).candidates] == [big.public_id]
    assert backfill_start(automation=auto).started == 1
    assert list(Run.objects.values_list("object_id", flat=True)) == [big.public_id]


def test_objects_out_of_the_state_are_not_counted(django_capture_on_commit_callbacks):
    paid = _overdue_invoice(django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        services.invoice_mark_paid(invoice=paid)
    send_invoice(django_capture_on_commit_callbacks)  # open, not overdue
    assert backfill_plan(automation(OVERDUE, [later()])).count == 0


def test_anchored_steps_whose_time_passed_are_skipped_with_the_reason_and_the_others_scheduled(
    django_capture_on_commit_callbacks,
):
    invoice = send_invoice(django_capture_on_commit_callbacks, due_in=timedelta(days=5))
    auto = automation(UPCOMING, [around(10, "before"), around(2, "before"), around(1, "after")])
    done = backfill_start(automation=auto)
    assert (done.started, done.skipped_steps) == (1, 1)
    passed, before, after = Run.objects.get().steps.order_by("position")
    assert passed.status == "skipped" and "had passed" in passed.error
    assert (before.status, before.scheduled_at) == ("pending", invoice.due_date - timedelta(days=2))
    assert (after.status, after.scheduled_at) == ("pending", invoice.due_date + timedelta(days=1))
    assert Run.objects.get().anchor_at == invoice.due_date


def test_relative_steps_are_timed_after_the_event_and_those_passed_are_skipped(django_capture_on_commit_callbacks):
    with time_machine.travel(timezone.now() - timedelta(days=3)):
        invoice = _overdue_invoice(django_capture_on_commit_callbacks)
    event = Event.objects.get(type="invoice.overdue")
    auto = automation(OVERDUE, [later(1), later(5, action="mark_invoice_uncollectible")])
    backfill_start(automation=auto)
    run = Run.objects.get()
    assert run.object_id == invoice.public_id
    passed, ahead = run.steps.order_by("position")
    assert passed.status == "skipped" and "had passed when the run was backfilled" in passed.error
    assert (ahead.status, ahead.scheduled_at) == ("pending", event.created + timedelta(days=6))


def test_an_object_whose_every_step_has_passed_is_not_offered(django_capture_on_commit_callbacks):
    send_invoice(django_capture_on_commit_callbacks, due_in=timedelta(days=2))
    auto = automation(UPCOMING, [around(5, "before")])
    plan = backfill_plan(auto)
    assert (plan.count, plan.too_late) == (0, 1)
    assert "every step's time has passed" in plan.too_late_words
    assert backfill_start(automation=auto).started == 0 and not Run.objects.exists()


def test_backfilling_twice_starts_no_second_run(django_capture_on_commit_callbacks):
    _overdue_invoice(django_capture_on_commit_callbacks)
    _overdue_invoice(django_capture_on_commit_callbacks)
    auto = automation(OVERDUE, [later()])
    assert backfill_start(automation=auto).started == 2
    assert backfill_plan(auto).count == 0
    assert backfill_start(automation=auto).started == 0
    assert Run.objects.count() == 2


def test_a_run_started_meanwhile_for_the_same_event_makes_the_backfill_skip_the_object(
    django_capture_on_commit_callbacks,
):
    _overdue_invoice(django_capture_on_commit_callbacks)
    auto = automation(OVERDUE, [later()])
    plan = backfill_plan(auto)
    backfill_start(automation=auto)  # another request, between this plan and its start
    [candidate] = plan.candidates
    with pytest.raises(IntegrityError), transaction.atomic():  # backfill_start's savepoint catches it
        _start(auto, candidate)
    assert Run.objects.count() == 1


def test_an_object_with_a_run_of_the_trigger_is_left_alone(django_capture_on_commit_callbacks):
    first = automation(OVERDUE, [later()], name="First")
    invoice = _overdue_invoice(django_capture_on_commit_callbacks)
    run = Run.objects.get()
    assert run.automation == first
    second = automation(OVERDUE, [later()], name="Second")
    assert backfill_plan(second).count == 0
    assert backfill_start(automation=second).started == 0
    assert list(Run.objects.values_list("pk", "automation__name", "object_id")) == [
        (run.pk, "First", invoice.public_id)
    ]


def test_an_object_whose_end_condition_already_holds_is_left_out(django_capture_on_commit_callbacks):
    invoice = send_invoice(django_capture_on_commit_callbacks)
    Invoice.objects.filter(pk=invoice.pk).update(auto_advance=False)  # still open, with its due date
    assert backfill_plan(automation(UPCOMING, [around(3, "before")])).count == 0


def test_a_withdrawn_cancellation_is_not_in_the_state_but_a_new_one_is(django_capture_on_commit_callbacks):
    sub, steps = cancel_scheduled(django_capture_on_commit_callbacks)
    auto = automation("subscription.cancel_scheduled", steps)
    backfill_start(automation=auto)
    run = Run.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        services.subscription_unschedule_cancel(subscription=sub)
    run.refresh_from_db()
    assert run.status == "ended"
    assert backfill_plan(auto).count == 0
    at = timezone.now() + timedelta(days=20)
    auto.enabled = False
    auto.save(update_fields=["enabled"])  # off while the cancellation is scheduled again
    with django_capture_on_commit_callbacks(execute=True):
        services.subscription_schedule_cancel(subscription=sub, at=at)
    automation_enable(automation=auto)
    assert backfill_start(automation=auto).started == 1
    assert Run.objects.filter(status="active").get().anchor_at == at


def test_the_matching_record_of_the_event_points_at_the_backfilled_run(django_capture_on_commit_callbacks):
    _overdue_invoice(django_capture_on_commit_callbacks)
    record = MatchingRecord.objects.get()
    assert record.run is None and record.outcome == "no enabled automation for this trigger"
    auto = automation(OVERDUE, [later()], name="Chase")
    backfill_start(automation=auto)
    record.refresh_from_db()
    run = Run.objects.get()
    assert record.run == run
    assert record.outcome.startswith("backfilled on ") and "started a run of Chase" in record.outcome
    assert "no enabled automation for this trigger" in record.outcome
    assert record.checks[-1]["automation"] == auto.public_id and record.checks[-1]["matched"] is True
    assert run.reason == "backfilled: the invoice was already overdue when “Chase” was turned on"


def test_an_event_the_engine_has_not_handled_yet_is_left_to_the_engine():
    make_invoice(due_date=timezone.now() - timedelta(days=1))
    jobs.run_overdue()  # its task has not run (no commit callbacks here)
    assert backfill_plan(automation(OVERDUE, [later()])).count == 0


def test_an_automation_that_is_off_or_archived_backfills_nothing(django_capture_on_commit_callbacks):
    _overdue_invoice(django_capture_on_commit_callbacks)
    off = automation(OVERDUE, [later()], enabled=False)
    assert backfill_plan(off).count == 0
    with pytest.raises(BackfillRefused):
        backfill_start(automation=off)
    archived = automation(OVERDUE, [later()])
    archived.archived_at = timezone.now()
    archived.save(update_fields=["archived_at"])
    with pytest.raises(BackfillRefused):
        backfill_start(automation=archived)
    assert not Run.objects.exists()


def test_an_object_on_a_test_clock_is_judged_at_its_clocks_time(django_capture_on_commit_callbacks):
    clock = TestClock.objects.create(name="Rehearsal", frozen_time=timezone.now())
    customer = make_customer(test_clock=clock)
    invoice = send_invoice(django_capture_on_commit_callbacks, customer=customer, due_in=timedelta(days=10))
    for event in Event.objects.filter(object_id=invoice.public_id):  # the clock's advance handles its own
        handle_event(event.pk)
    auto = automation(UPCOMING, [around(3, "before")])
    assert backfill_plan(auto).count == 1
    TestClock.objects.filter(pk=clock.pk).update(frozen_time=timezone.now() + timedelta(days=8))
    assert backfill_plan(auto).too_late == 1  # three days before the due date has passed on the clock
    TestClock.objects.filter(pk=clock.pk).update(frozen_time=timezone.now())
    backfill_start(automation=auto)
    run = Run.objects.get()
    assert run.test_clock_id == clock.public_id


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_four_backfills_at_once_start_one_run_per_object():
    """Each start runs in its own transaction here (no test transaction around them): the unique
    (event, trigger) constraint, not the plan, keeps a second run out."""
    for _ in range(3):
        make_invoice(due_date=timezone.now() - timedelta(days=1))
    jobs.run_overdue()
    for event in Event.objects.filter(type="invoice.overdue"):
        handle_event(event.pk)
    auto = automation(OVERDUE, [later()])
    barrier = threading.Barrier(4)
    started, errors = [], []

    def work():
        try:
            barrier.wait()
            started.append(backfill_start(automation=auto).started)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert sum(started) == 3 and Run.objects.count() == 3
    assert MatchingRecord.objects.exclude(run=None).count() == 3
