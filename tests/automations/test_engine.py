"""The engine end to end on real billing calls: events start runs, the dispatcher runs steps."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from automations.engine.dispatch import claim_due, dispatch_due, lease
from automations.engine.handling import handle_event, handle_unhandled
from automations.models import Automation, AutomationVersion, MatchingRecord, Run, RunStep
from billing import jobs, services
from billing.models import Event
from tests.factories import make_customer, make_invoice

pytestmark = pytest.mark.django_db

VOID = {"action": "void_invoice", "delay": {"amount": 0, "unit": "days"}, "params": {}}


def automation(trigger, steps, filters=(), name="A", priority=None, enabled=True) -> Automation:
    priority = priority or Automation.objects.filter(trigger=trigger).count() + 1
    auto = Automation.objects.create(name=name, trigger=trigger, priority=priority, enabled=enabled)
    version = AutomationVersion.objects.create(automation=auto, number=1, filters=list(filters), steps=list(steps))
    auto.current_version = version
    auto.save(update_fields=["current_version"])
    return auto


def _overdue_invoice(django_capture_on_commit_callbacks, **customer):
    invoice = make_invoice(customer=make_customer(**customer), due_date=timezone.now() - timedelta(days=1))
    with django_capture_on_commit_callbacks(execute=True):
        jobs.run_overdue()
    return invoice


def test_an_overdue_invoice_starts_a_run_whose_step_the_dispatcher_executes(django_capture_on_commit_callbacks):
    auto = automation("invoice.overdue", [VOID])
    invoice = _overdue_invoice(django_capture_on_commit_callbacks)
    run = Run.objects.get()
    assert (run.automation, run.object_id, run.status) == (auto, invoice.public_id, "active")
    assert dispatch_due() == 1
    invoice.refresh_from_db()
    run.refresh_from_db()
    assert invoice.status == "void"
    assert run.status == "completed" and run.steps.get().status == "succeeded"


def test_the_first_matching_automation_in_priority_order_wins_and_the_record_says_why(
    django_capture_on_commit_callbacks,
):
    enterprise = [{"type": "customer_metadata", "params": {"key": "segment", "value": "enterprise"}}]
    automation("invoice.overdue", [VOID], filters=enterprise, name="Enterprise")
    everyone = automation("invoice.overdue", [VOID], name="Everyone")
    automation("invoice.overdue", [VOID], name="Never reached")
    _overdue_invoice(django_capture_on_commit_callbacks, metadata={"segment": "smb"})
    run = Run.objects.get()
    assert run.automation == everyone
    record = MatchingRecord.objects.get()
    assert [c["name"] for c in record.checks] == ["Enterprise", "Everyone"]
    assert record.checks[0]["matched"] is False
    assert record.checks[0]["expected"] == "segment = enterprise" and record.checks[0]["found"] == "segment = smb"
    assert record.run == run and "Everyone" in record.outcome


def test_a_disabled_automation_matches_nothing(django_capture_on_commit_callbacks):
    automation("invoice.overdue", [VOID], enabled=False)
    _overdue_invoice(django_capture_on_commit_callbacks)
    assert not Run.objects.exists()
    assert MatchingRecord.objects.get().outcome == "no enabled automation for this trigger"


def test_handling_the_same_event_twice_starts_one_run(django_capture_on_commit_callbacks):
    automation("invoice.overdue", [VOID])
    _overdue_invoice(django_capture_on_commit_callbacks)
    event = Event.objects.get(type="invoice.overdue")
    assert handle_event(event.pk) is False
    assert Run.objects.count() == 1 and MatchingRecord.objects.count() == 1


def test_the_sweep_handles_an_event_whose_task_was_lost():
    automation("invoice.overdue", [VOID])
    make_invoice(due_date=timezone.now() - timedelta(days=1))
    jobs.run_overdue()  # committed callbacks never run here: the task is "lost"
    assert not Run.objects.exists()
    assert handle_unhandled() == 0  # its task may be on its way still
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        assert handle_unhandled() >= 1
    assert Run.objects.count() == 1


def test_paying_the_invoice_ends_the_run_and_cancels_its_pending_steps(django_capture_on_commit_callbacks):
    later_void = {**VOID, "delay": {"amount": 3, "unit": "days"}}
    automation("invoice.overdue", [later_void])
    invoice = _overdue_invoice(django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        services.invoice_mark_paid(invoice=invoice)
    run = Run.objects.get()
    assert (run.status, run.reason) == ("ended", "invoice paid")
    assert run.steps.get().status == "canceled"
    with time_machine.travel(timezone.now() + timedelta(days=4), tick=False):
        assert dispatch_due() == 0


def test_the_next_relative_step_waits_its_delay_after_the_previous_one_ends(django_capture_on_commit_callbacks):
    memo = {"action": "mark_invoice_uncollectible", "delay": {"amount": 2, "unit": "days"}, "params": {}}
    first = {**VOID, "action": "void_invoice", "delay": {"amount": 1, "unit": "hours"}}
    automation("invoice.overdue", [first, memo])
    _overdue_invoice(django_capture_on_commit_callbacks)
    start = timezone.now()
    with time_machine.travel(start + timedelta(hours=5), tick=False):
        assert dispatch_due() == 1
        second = RunStep.objects.get(position=2)
        assert second.scheduled_at == timezone.now() + timedelta(days=2)


def test_steps_of_an_anchored_trigger_follow_the_due_date_and_move_with_it(django_capture_on_commit_callbacks):
    reminder = {
        "action": "send_invoice_will_be_due_webhook",
        "delay": {"amount": 3, "unit": "days", "direction": "before"},
    }
    too_late = {
        "action": "send_invoice_will_be_due_webhook",
        "delay": {"amount": 20, "unit": "days", "direction": "before"},
    }
    automation("invoice.due_date_upcoming", [too_late, reminder])
    due = timezone.now() + timedelta(days=10)
    invoice = services.invoice_create(
        customer=make_customer(), collection_method="send_invoice", due_date=due,
        lines=[services.LineItem(description="Audit", unit_amount=services.invoices.Money(100, "EUR"))],
    )  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        services.invoice_finalize(invoice=invoice)
    run = Run.objects.get(trigger="invoice.due_date_upcoming")
    skipped, pending = run.steps.order_by("position")
    assert skipped.status == "skipped" and "had passed" in skipped.error
    assert pending.scheduled_at == due - timedelta(days=3)
    with django_capture_on_commit_callbacks(execute=True):
        services.invoice_update(invoice=invoice, due_date=due + timedelta(days=5))
    pending.refresh_from_db()
    assert pending.scheduled_at == due + timedelta(days=2)


def test_a_step_whose_worker_died_is_claimed_again_after_its_lease(django_capture_on_commit_callbacks):
    automation("invoice.overdue", [VOID])
    invoice = _overdue_invoice(django_capture_on_commit_callbacks)
    [step_id] = claim_due()  # claimed … and the worker dies before executing
    assert claim_due() == []
    with time_machine.travel(timezone.now() + lease() + timedelta(seconds=1), tick=False):
        assert dispatch_due() == 1
    invoice.refresh_from_db()
    step = RunStep.objects.get(pk=step_id)
    assert invoice.status == "void" and step.status == "succeeded" and step.attempts == 2


def _subscription(django_capture_on_commit_callbacks):
    from tests.factories import make_price

    with django_capture_on_commit_callbacks(execute=True):
        return services.subscription_create(customer=make_customer(), items=[(make_price(), 1)])


CUSTOM = {
    "action": "send_custom_event_webhook",
    "delay": {"amount": 2, "unit": "days", "direction": "before"},
    "params": {"label": "win-back"},
}


def test_scheduling_a_cancellation_starts_a_run_anchored_on_its_date_that_moves_and_ends_with_it(
    django_capture_on_commit_callbacks,
):
    automation("subscription.cancel_scheduled", [CUSTOM])
    subscription = _subscription(django_capture_on_commit_callbacks)
    at = timezone.now() + timedelta(days=10)
    with django_capture_on_commit_callbacks(execute=True):
        services.subscription_schedule_cancel(subscription=subscription, at=at)
    run = Run.objects.get(trigger="subscription.cancel_scheduled")
    assert run.anchor_at == at and run.steps.get().scheduled_at == at - timedelta(days=2)
    with django_capture_on_commit_callbacks(execute=True):
        services.subscription_schedule_cancel(subscription=subscription, at=at + timedelta(days=5))
    assert run.steps.get().scheduled_at == at + timedelta(days=3)
    with django_capture_on_commit_callbacks(execute=True):
        services.subscription_unschedule_cancel(subscription=subscription)
    run.refresh_from_db()
    assert run.status == "ended" and run.reason == "the subscription no longer ends in cancellation"


def test_scheduling_a_pause_starts_a_run_that_ends_when_the_pause_is_withdrawn(django_capture_on_commit_callbacks):
    automation("subscription.pause_scheduled", [CUSTOM])
    subscription = _subscription(django_capture_on_commit_callbacks)
    starts = timezone.now() + timedelta(days=6)
    with django_capture_on_commit_callbacks(execute=True):
        services.subscription_pause_collection(subscription=subscription, starts_at=starts)
    run = Run.objects.get(trigger="subscription.pause_scheduled")
    assert run.steps.get().scheduled_at == starts - timedelta(days=2)
    with django_capture_on_commit_callbacks(execute=True):
        services.subscription_resume_collection(subscription=subscription)
    run.refresh_from_db()
    assert (run.status, run.reason) == ("ended", "the pause was withdrawn")


def test_a_pause_starting_now_is_not_a_scheduled_pause(django_capture_on_commit_callbacks):
    automation("subscription.pause_scheduled", [CUSTOM])
    subscription = _subscription(django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        services.subscription_pause_collection(subscription=subscription)
    assert not Run.objects.filter(trigger="subscription.pause_scheduled").exists()


def test_only_the_first_failed_payment_of_a_subscription_invoice_starts_a_run(django_capture_on_commit_callbacks):
    from tests.factories import DECLINED_CARD, make_price

    automation("subscription.payment_failed", [VOID])
    with django_capture_on_commit_callbacks(execute=True):
        subscription = services.subscription_create(
            customer=make_customer(default_payment_method=DECLINED_CARD), items=[(make_price(), 1)]
        )
    invoice = subscription.invoices.get()
    with django_capture_on_commit_callbacks(execute=True):
        services.invoice_attempt_payment(invoice=invoice)  # a second failure
    assert Run.objects.filter(trigger="subscription.payment_failed").count() == 1


def test_a_waiting_retry_policy_step_leaves_a_policy_changed_by_hand_alone(django_capture_on_commit_callbacks):
    from billing.models import RetryPolicy
    from tests.factories import DECLINED_CARD, make_price

    chosen = RetryPolicy.objects.create(name="Chosen", schedule_kind="day_offsets", day_offsets=[2, 4])
    by_hand = RetryPolicy.objects.create(name="By hand", schedule_kind="day_offsets", day_offsets=[3, 6])
    step = {"action": "set_retry_policy", "delay": {"amount": 0, "unit": "minutes"}, "params": {"policy": "Chosen"}}
    automation("subscription.payment_failed", [step])
    with django_capture_on_commit_callbacks(execute=True):
        subscription = services.subscription_create(
            customer=make_customer(default_payment_method=DECLINED_CARD), items=[(make_price(), 1)]
        )
    dispatch_due()
    invoice = subscription.invoices.get()
    assert invoice.retry_policy == chosen
    services.invoice_update(invoice=invoice, retry_policy=by_hand)
    with time_machine.travel(timezone.now() + timedelta(days=3, hours=1), tick=False):
        jobs.run_payment_retries()
        dispatch_due()
    invoice.refresh_from_db()
    assert invoice.retry_policy == by_hand
