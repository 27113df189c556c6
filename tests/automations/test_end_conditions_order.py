"""End conditions hold whatever order events are handled in, on both paths (one by one, and in
batches): a run never starts when its end condition already holds, a pause that ends on schedule
is not a withdrawal, and every action looks again at its time."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from moneyed import Money

from automations.engine.dispatch import dispatch_due
from automations.engine.handling import handle_batch, handle_event, handle_unhandled
from automations.models import MatchingRecord, Run, RunStep
from billing import jobs, services
from billing.models import AccountSettings, Event
from notifications.models import OutboundEmail, WebhookDelivery, WebhookEndpoint
from tests.automations.test_engine import automation
from tests.factories import DECLINED_CARD, make_customer, make_invoice, make_price

pytestmark = pytest.mark.django_db

DAY0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
MEMO = {"recipient": "ops@relance.example", "message": "Look at {number}"}


def _after(days: int, direction: str = "after") -> dict:
    return {"amount": days, "unit": "days", "direction": direction}


def _memo(delay: dict) -> list[dict]:
    return [{"action": "send_team_email", "delay": delay, "params": MEMO}]


def _custom_webhook(delay: dict) -> list[dict]:
    return [{"action": "send_custom_event_webhook", "delay": delay, "params": {"label": "heads_up"}}]


def _one_by_one(event_id: int) -> None:
    handle_event(event_id)


def _as_a_batch(event_id: int) -> None:
    handle_batch([event_id])


PATHS = {"handle_event": _one_by_one, "handle_batch": _as_a_batch}


@pytest.fixture(autouse=True)
def _events_wait_to_be_handled(monkeypatch):
    """Events are recorded but not handled at commit: each test handles them in its own order."""
    monkeypatch.setattr("automations.queue.async_task", lambda *args, **kwargs: None)
    account = AccountSettings.load()
    account.team_email_domains = ["relance.example"]
    account.save()


@pytest.fixture(params=list(PATHS))
def handle(request):
    return PATHS[request.param]


def _endpoint(*events: str) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(
        url="https://hooks.acme.example/relance", enabled_events=list(events), secret="whsec_test"
    )


def _event(obj, type_: str) -> int:
    return Event.objects.filter(object_id=obj.public_id, type=type_).latest("pk").pk


def _record(event_id: int, trigger: str) -> MatchingRecord:
    return MatchingRecord.objects.get(event_id=event_id, trigger=trigger)


def _send_invoice(due_in_days: int = 10):
    invoice = services.invoice_create(
        customer=make_customer(),
        collection_method="send_invoice",
        due_date=DAY0 + timedelta(days=due_in_days),
        lines=[services.LineItem(description="Audit", unit_amount=Money(900, "EUR"))],
    )
    return services.invoice_finalize(invoice=invoice)


def _open_quote(expires_in_days: int):
    quote = services.quote_create(
        customer=make_customer(),
        lines=[services.LineItem(description="Plan", unit_amount=Money(100, "EUR"))],
        expires_at=DAY0 + timedelta(days=expires_in_days),
    )
    return services.quote_finalize(quote=quote)


# --- subscription pauses --------------------------------------------------------------------------


def _paused_days_4_to_6(handle):
    """A subscription whose collection pauses from day 4 to day 6, with a run whose step is 5
    days after the pause start (day 9)."""
    automation("subscription.pause_scheduled", _custom_webhook(_after(5)))
    with time_machine.travel(DAY0, tick=False):
        subscription = services.subscription_create(customer=make_customer(), items=[(make_price(), 1)])
        services.subscription_pause_collection(
            subscription=subscription, starts_at=DAY0 + timedelta(days=4), resumes_at=DAY0 + timedelta(days=6)
        )
        handle(_event(subscription, "customer.subscription.updated"))
    return subscription, Run.objects.get(trigger="subscription.pause_scheduled")


def test_a_pause_that_ends_on_schedule_is_not_a_withdrawal_and_the_step_after_it_runs(handle):
    _endpoint("customer.subscription.custom_event")
    subscription, run = _paused_days_4_to_6(handle)
    for day in (4, 6):  # the pause starts, then collection resumes as planned
        with time_machine.travel(DAY0 + timedelta(days=day, minutes=1), tick=False):
            jobs.run_pauses()
            handle(_event(subscription, "customer.subscription.updated"))
    subscription.refresh_from_db()
    assert subscription.status == "active" and subscription.pause_starts_at is None
    run.refresh_from_db()
    assert run.status == "active", run.reason
    step = run.steps.get()
    assert step.status == "pending" and step.scheduled_at == DAY0 + timedelta(days=9)
    with time_machine.travel(DAY0 + timedelta(days=9, minutes=1), tick=False):
        assert dispatch_due() == 1
    step.refresh_from_db()
    assert step.status == "succeeded"
    assert WebhookDelivery.objects.filter(event_type="customer.subscription.custom_event").count() == 1


def test_a_pause_withdrawn_before_it_starts_ends_the_run(handle):
    subscription, run = _paused_days_4_to_6(handle)
    with time_machine.travel(DAY0 + timedelta(days=2), tick=False):
        services.subscription_resume_collection(subscription=subscription)
        handle(_event(subscription, "customer.subscription.updated"))
    run.refresh_from_db()
    assert (run.status, run.reason) == ("ended", "the pause was withdrawn")
    assert run.steps.get().status == "canceled"


def test_a_cancellation_before_the_pause_starts_ends_the_run_and_sends_no_webhook(handle):
    _endpoint("customer.subscription.custom_event")
    subscription, run = _paused_days_4_to_6(handle)
    with time_machine.travel(DAY0 + timedelta(days=2), tick=False):
        services.subscription_cancel(subscription=subscription)
        handle(_event(subscription, "customer.subscription.deleted"))
    run.refresh_from_db()
    assert (run.status, run.reason) == ("ended", "the subscription was canceled before the pause started")
    with time_machine.travel(DAY0 + timedelta(days=9, minutes=1), tick=False):
        assert dispatch_due() == 0
    assert not WebhookDelivery.objects.exists()


def test_a_pause_scheduled_then_canceled_before_either_event_is_handled_starts_no_run(handle):
    automation("subscription.pause_scheduled", _custom_webhook(_after(5)))
    with time_machine.travel(DAY0, tick=False):
        subscription = services.subscription_create(customer=make_customer(), items=[(make_price(), 1)])
        services.subscription_pause_collection(subscription=subscription, starts_at=DAY0 + timedelta(days=4))
        scheduled = _event(subscription, "customer.subscription.updated")
        services.subscription_cancel(subscription=subscription)
        handle(_event(subscription, "customer.subscription.deleted"))  # the later event first
        handle(scheduled)
    assert not Run.objects.exists()
    record = _record(scheduled, "subscription.pause_scheduled")
    assert record.outcome == "not started: the subscription was canceled before the pause started"


def test_a_pause_withdrawn_before_its_scheduling_is_handled_starts_no_run(handle):
    automation("subscription.pause_scheduled", _custom_webhook(_after(5)))
    with time_machine.travel(DAY0, tick=False):
        subscription = services.subscription_create(customer=make_customer(), items=[(make_price(), 1)])
        services.subscription_pause_collection(subscription=subscription, starts_at=DAY0 + timedelta(days=4))
        scheduled = _event(subscription, "customer.subscription.updated")
        services.subscription_resume_collection(subscription=subscription)
        handle(_event(subscription, "customer.subscription.updated"))
        handle(scheduled)
    assert not Run.objects.exists()
    assert _record(scheduled, "subscription.pause_scheduled").outcome == "not started: the pause was already withdrawn"


# --- a run does not start when its end condition already holds ---------------------------------


@pytest.mark.parametrize("order", ["finalized first", "paid first"])
def test_an_invoice_paid_before_its_finalization_is_handled_starts_no_run(handle, order):
    """Two workers take the two tasks in either order: the finalization is handled once the
    invoice is paid, and starts neither the finalized run nor the due-date run."""
    automation("invoice.finalized", _memo(_after(3)), name="Chase")
    automation("invoice.due_date_upcoming", _memo(_after(1, "before")), name="Remind")
    with time_machine.travel(DAY0, tick=False):
        invoice = _send_invoice()
        finalized = _event(invoice, "invoice.finalized")
        services.invoice_mark_paid(invoice=invoice)
        paid = _event(invoice, "invoice.paid")
        for event_id in [finalized, paid] if order == "finalized first" else [paid, finalized]:
            handle(event_id)
    assert not Run.objects.exists()
    for trigger in ("invoice.finalized", "invoice.due_date_upcoming"):
        assert _record(finalized, trigger).outcome == "not started: invoice already paid"
    with time_machine.travel(DAY0 + timedelta(days=30), tick=False):
        assert dispatch_due() == 0
    assert not OutboundEmail.objects.exists()


def test_a_run_started_before_the_payment_is_ended_by_it(handle):
    automation("invoice.finalized", _memo(_after(3)))
    with time_machine.travel(DAY0, tick=False):
        invoice = _send_invoice()
        handle(_event(invoice, "invoice.finalized"))
        services.invoice_mark_paid(invoice=invoice)
        handle(_event(invoice, "invoice.paid"))
    run = Run.objects.get()
    assert (run.status, run.reason) == ("ended", "invoice paid")


def test_a_batch_holding_the_finalization_and_the_payment_starts_nothing_that_goes_on():
    automation("invoice.finalized", _memo(_after(3)))
    with time_machine.travel(DAY0, tick=False):
        invoice = _send_invoice()
        services.invoice_mark_paid(invoice=invoice)
        handle_batch(list(Event.objects.order_by("pk").values_list("pk", flat=True)))
    assert not Run.objects.filter(status="active").exists()


def test_the_engines_sweep_taking_a_lost_finalization_after_the_payment_starts_no_run():
    automation("invoice.finalized", _memo(_after(3)))
    with time_machine.travel(DAY0, tick=False):
        invoice = _send_invoice()
        services.invoice_mark_paid(invoice=invoice)
        handle_event(_event(invoice, "invoice.paid"))
    with time_machine.travel(DAY0 + timedelta(minutes=5), tick=False):
        assert handle_unhandled() >= 1
    assert not Run.objects.exists()
    assert _record(_event(invoice, "invoice.finalized"), "invoice.finalized").outcome == (
        "not started: invoice already paid"
    )


def test_a_quote_accepted_before_its_finalization_is_handled_starts_no_reminder(handle):
    automation("quote.expiring", _memo(_after(2, "before")))
    with time_machine.travel(DAY0, tick=False):
        quote = _open_quote(expires_in_days=10)
        finalized = _event(quote, "quote.finalized")
        services.quote_accept(quote=quote)
        handle(_event(quote, "quote.accepted"))
        handle(finalized)
    assert not Run.objects.exists()
    assert _record(finalized, "quote.expiring").outcome == "not started: quote already accepted"


def test_a_cancellation_unscheduled_before_its_scheduling_is_handled_starts_no_run(handle):
    automation("subscription.cancel_scheduled", _memo(_after(3, "before")))
    with time_machine.travel(DAY0, tick=False):
        subscription = services.subscription_create(customer=make_customer(), items=[(make_price(), 1)])
        services.subscription_schedule_cancel(subscription=subscription, at=DAY0 + timedelta(days=20))
        scheduled = _event(subscription, "customer.subscription.updated")
        services.subscription_unschedule_cancel(subscription=subscription)
        handle(_event(subscription, "customer.subscription.updated"))
        handle(scheduled)
    assert not Run.objects.exists()
    assert _record(scheduled, "subscription.cancel_scheduled").outcome == (
        "not started: the subscription no longer ends in cancellation"
    )


def test_an_update_handled_late_does_not_end_a_run_that_a_later_event_started(handle):
    """A subscription update recorded before the cancellation was scheduled (no `cancel_at` in its
    snapshot) and handled after the scheduling leaves the run alone."""
    automation("subscription.cancel_scheduled", _memo(_after(3, "before")))
    with time_machine.travel(DAY0, tick=False):
        subscription = services.subscription_create(customer=make_customer(), items=[(make_price(), 1)])
        services.subscription_update(subscription=subscription, metadata={"plan": "gold"})
        earlier = _event(subscription, "customer.subscription.updated")
        services.subscription_schedule_cancel(subscription=subscription, at=DAY0 + timedelta(days=20))
        handle(_event(subscription, "customer.subscription.updated"))
        handle(earlier)
    assert Run.objects.get().status == "active"


# --- every action looks again at its time ----------------------------------------------------


@pytest.mark.parametrize(
    ("trigger", "steps", "side_effect"),
    [
        ("invoice.finalized", _memo(_after(3)), lambda: OutboundEmail.objects.count()),
        ("subscription.payment_failed", _custom_webhook(_after(3)), lambda: WebhookDelivery.objects.count()),
        (
            "invoice.due_date_upcoming",
            [{"action": "send_invoice_will_be_due_webhook", "delay": _after(2, "before"), "params": {}}],
            lambda: WebhookDelivery.objects.count(),
        ),
    ],
)
def test_an_action_whose_runs_end_condition_holds_at_its_time_is_skipped_and_ends_the_run(
    handle, trigger, steps, side_effect
):
    """The payment's event is not handled yet (its task is queued, or lost): the step must not
    email the team about a paid invoice, nor send its webhook."""
    _endpoint("customer.subscription.custom_event", "invoice.will_be_due")
    automation(trigger, steps)
    with time_machine.travel(DAY0, tick=False):
        if trigger == "subscription.payment_failed":
            subscription = services.subscription_create(
                customer=make_customer(default_payment_method=DECLINED_CARD), items=[(make_price(), 1)]
            )
            invoice = subscription.invoices.get()
            handle(_event(invoice, "invoice.payment_failed"))
        else:
            invoice = _send_invoice()
            handle(_event(invoice, "invoice.finalized"))
        run = Run.objects.get(trigger=trigger)
        services.invoice_mark_paid(invoice=invoice)  # its event is not handled
    with time_machine.travel(DAY0 + timedelta(days=9), tick=False):
        assert dispatch_due() == 1
    step = run.steps.get()
    assert (step.status, step.error) == ("skipped", "the run's end condition holds: invoice already paid")
    run.refresh_from_db()
    assert (run.status, run.reason) == ("ended", "invoice paid")
    assert side_effect() == 0


def test_a_later_step_of_a_run_whose_quote_was_accepted_is_skipped():
    automation(
        "quote.expiring",
        [{"action": "send_quote_will_expire_webhook", "delay": _after(3, "before"), "params": {}}],
    )
    _endpoint("quote.will_expire")
    with time_machine.travel(DAY0, tick=False):
        quote = _open_quote(expires_in_days=10)
        handle_event(_event(quote, "quote.finalized"))
        services.quote_accept(quote=quote)
    with time_machine.travel(DAY0 + timedelta(days=7, minutes=1), tick=False):
        assert dispatch_due() == 1
    assert RunStep.objects.get().error == "the run's end condition holds: quote already accepted"
    assert not WebhookDelivery.objects.exists()


# --- a due date set after finalization ---------------------------------------------------------


def test_an_open_invoice_that_gets_a_due_date_starts_the_due_date_run(handle):
    automation("invoice.due_date_upcoming", _memo(_after(2, "before")))
    with time_machine.travel(DAY0, tick=False):
        invoice = make_invoice(collection_method="send_invoice", due_date=None)  # open, without a due date
        services.invoice_update(invoice=invoice, due_date=DAY0 + timedelta(days=10))
        handle(_event(invoice, "invoice.updated"))
    run = Run.objects.get()
    assert (run.trigger, run.anchor_at) == ("invoice.due_date_upcoming", DAY0 + timedelta(days=10))
    assert run.steps.get().scheduled_at == DAY0 + timedelta(days=8)
    # Moving the date later moves the step; it starts no second run.
    with time_machine.travel(DAY0 + timedelta(hours=1), tick=False):
        services.invoice_update(invoice=invoice, due_date=DAY0 + timedelta(days=12))
        handle(_event(invoice, "invoice.updated"))
    assert Run.objects.count() == 1
    assert RunStep.objects.get().scheduled_at == DAY0 + timedelta(days=10)


# --- quote expiry ------------------------------------------------------------------------------


def test_a_quotes_expiry_cancels_it_and_ends_its_run(handle):
    automation("quote.expiring", _memo(_after(1, "before")))
    with time_machine.travel(DAY0, tick=False):
        quote = _open_quote(expires_in_days=3)
        handle(_event(quote, "quote.finalized"))
    with time_machine.travel(DAY0 + timedelta(days=3, minutes=1), tick=False):
        jobs.run_quote_expiry()
        handle(_event(quote, "quote.canceled"))
    run = Run.objects.get()
    assert (run.status, run.reason) == ("ended", "quote canceled")


# --- an end state that did not last: the order of the events decides ---------------------------


@pytest.mark.parametrize("order", ["in order", "unscheduling first"])
def test_a_cancellation_unscheduled_then_scheduled_again_leaves_one_run_whatever_the_order(handle, order):
    """Scheduled (1), unscheduled (2), scheduled again (3): handled in order, (2) ends the run of
    (1) and (3) starts one. Handled with (2) before (1), the subscription ends in cancellation
    again by then, yet (1) must not start a second run: (2), already handled, ended it."""
    automation("subscription.cancel_scheduled", _memo(_after(3, "before")))
    with time_machine.travel(DAY0, tick=False):
        subscription = services.subscription_create(customer=make_customer(), items=[(make_price(), 1)])
        services.subscription_schedule_cancel(subscription=subscription, at=DAY0 + timedelta(days=20))
        first = _event(subscription, "customer.subscription.updated")
        services.subscription_unschedule_cancel(subscription=subscription)
        unscheduled = _event(subscription, "customer.subscription.updated")
        services.subscription_schedule_cancel(subscription=subscription, at=DAY0 + timedelta(days=25))
        again = _event(subscription, "customer.subscription.updated")
        for event_id in [first, unscheduled, again] if order == "in order" else [unscheduled, again, first]:
            handle(event_id)
    assert Run.objects.filter(status="active").count() == 1
    run = Run.objects.get(status="active")
    assert (run.event_id, run.anchor_at) == (again, DAY0 + timedelta(days=25))
    if order != "in order":
        assert not Run.objects.filter(event_id=first).exists()
        assert _record(first, "subscription.cancel_scheduled").outcome == (
            "not started: the subscription no longer ends in cancellation"
        )
    with time_machine.travel(DAY0 + timedelta(days=30), tick=False):
        assert dispatch_due() == 1
    assert OutboundEmail.objects.count() == 1


@pytest.mark.parametrize("order", ["in order", "withdrawal first"])
def test_a_pause_withdrawn_then_scheduled_again_leaves_one_run_whatever_the_order(handle, order):
    automation("subscription.pause_scheduled", _custom_webhook(_after(1, "before")))
    _endpoint("customer.subscription.custom_event")
    with time_machine.travel(DAY0, tick=False):
        subscription = services.subscription_create(customer=make_customer(), items=[(make_price(), 1)])
        services.subscription_pause_collection(subscription=subscription, starts_at=DAY0 + timedelta(days=4))
        first = _event(subscription, "customer.subscription.updated")
        services.subscription_resume_collection(subscription=subscription)
        withdrawn = _event(subscription, "customer.subscription.updated")
        services.subscription_pause_collection(subscription=subscription, starts_at=DAY0 + timedelta(days=8))
        again = _event(subscription, "customer.subscription.updated")
        for event_id in [first, withdrawn, again] if order == "in order" else [withdrawn, again, first]:
            handle(event_id)
    run = Run.objects.get(status="active")
    assert (run.event_id, run.anchor_at) == (again, DAY0 + timedelta(days=8))
    if order != "in order":
        assert _record(first, "subscription.pause_scheduled").outcome == "not started: the pause was already withdrawn"
    with time_machine.travel(DAY0 + timedelta(days=7, minutes=1), tick=False):
        assert dispatch_due() == 1
    assert WebhookDelivery.objects.count() == 1


@pytest.mark.parametrize("order", ["in order", "auto_advance first"])
def test_auto_advance_turned_off_and_on_again_ends_the_due_date_run_whatever_the_order(handle, order):
    """The due-date run ends when auto_advance is turned off; turning it on again does not
    restart it. Handled before the finalization, the turning off still keeps the run from starting."""
    automation("invoice.due_date_upcoming", _memo(_after(2, "before")))
    with time_machine.travel(DAY0, tick=False):
        invoice = _send_invoice()
        finalized = _event(invoice, "invoice.finalized")
        services.invoice_update(invoice=invoice, auto_advance=False)
        off = _event(invoice, "invoice.updated")
        services.invoice_update(invoice=invoice, auto_advance=True)
        on = _event(invoice, "invoice.updated")
        for event_id in [finalized, off, on] if order == "in order" else [off, on, finalized]:
            handle(event_id)
    assert not Run.objects.filter(status="active").exists()
    if order != "in order":
        assert _record(finalized, "invoice.due_date_upcoming").outcome == (
            "not started: auto_advance already turned off"
        )
    with time_machine.travel(DAY0 + timedelta(days=9), tick=False):
        assert dispatch_due() == 0
    assert not OutboundEmail.objects.exists()


def test_a_due_date_set_on_an_invoice_paid_before_the_update_is_handled_starts_no_run(handle):
    automation("invoice.due_date_upcoming", _memo(_after(2, "before")))
    with time_machine.travel(DAY0, tick=False):
        invoice = make_invoice(collection_method="send_invoice", due_date=None)
        services.invoice_update(invoice=invoice, due_date=DAY0 + timedelta(days=10))
        updated = _event(invoice, "invoice.updated")
        services.invoice_mark_paid(invoice=invoice)
        handle(_event(invoice, "invoice.paid"))
        handle(updated)
    assert not Run.objects.exists()
    assert _record(updated, "invoice.due_date_upcoming").outcome == "not started: invoice already paid"


def test_a_quote_expired_before_its_finalization_is_handled_starts_no_reminder(handle):
    automation("quote.expiring", _memo(_after(1, "before")))
    with time_machine.travel(DAY0, tick=False):
        quote = _open_quote(expires_in_days=3)
        finalized = _event(quote, "quote.finalized")
    with time_machine.travel(DAY0 + timedelta(days=3, minutes=1), tick=False):
        jobs.run_quote_expiry()
        handle(_event(quote, "quote.canceled"))
        handle(finalized)
    assert not Run.objects.exists()
    assert _record(finalized, "quote.expiring").outcome == "not started: quote already canceled"
