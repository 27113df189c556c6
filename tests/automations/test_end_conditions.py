"""Every trigger is started by a real billing call, and every end condition ends its runs."""

from datetime import timedelta

import pytest
from django.utils import timezone
from moneyed import Money

from automations.models import Run
from billing import jobs, services
from tests.automations.test_engine import automation
from tests.factories import DECLINED_CARD, make_customer, make_price

pytestmark = pytest.mark.django_db

LATER = {"amount": 30, "unit": "days"}
BEFORE = {"amount": 1, "unit": "days", "direction": "before"}
MEMO = {"recipient": "ops@relance.example", "message": "Look at {number}"}


@pytest.fixture(autouse=True)
def team_domain():
    from billing.models import AccountSettings

    account = AccountSettings.load()
    account.team_email_domains = ["relance.example"]
    account.save()


def _memo_step(delay):
    return [{"action": "send_team_email", "delay": delay, "params": MEMO}]


def _send_invoice(capture, **kwargs):
    invoice = services.invoice_create(
        customer=make_customer(), collection_method="send_invoice", due_date=timezone.now() + timedelta(days=10),
        lines=[services.LineItem(description="Audit", unit_amount=Money(900, "EUR"))], **kwargs,
    )  # fmt: skip
    with capture(execute=True):
        return services.invoice_finalize(invoice=invoice)


def _finalized(capture):
    return _send_invoice(capture)


def _overdue(capture):
    invoice = _send_invoice(capture)
    services.invoice_update(invoice=invoice, due_date=timezone.now() - timedelta(minutes=1))
    with capture(execute=True):
        jobs.run_overdue()
    return invoice


def _payment_failed(capture):
    with capture(execute=True):
        subscription = services.subscription_create(
            customer=make_customer(default_payment_method=DECLINED_CARD), items=[(make_price(), 1)]
        )
    return subscription.invoices.get()


INVOICE_CASES = [
    ("invoice.finalized", _finalized, LATER),
    ("invoice.due_date_upcoming", _finalized, BEFORE),
    ("invoice.overdue", _overdue, LATER),
    ("subscription.payment_failed", _payment_failed, LATER),
]
ENDINGS = {
    "paid": (lambda inv: services.invoice_mark_paid(invoice=inv), "invoice paid"),
    "voided": (lambda inv: services.invoice_void(invoice=inv), "invoice voided"),
    "uncollectible": (lambda inv: services.invoice_mark_uncollectible(invoice=inv), "invoice marked uncollectible"),
    "auto_advance off": (
        lambda inv: services.invoice_update(invoice=inv, auto_advance=False),
        "auto_advance turned off",
    ),
}
EXPECTED_ENDS = {
    "invoice.finalized": {"paid", "voided", "uncollectible"},
    "invoice.due_date_upcoming": {"paid", "voided", "auto_advance off"},
    "invoice.overdue": {"paid", "voided"},
    "subscription.payment_failed": {"paid", "voided"},
}


@pytest.mark.parametrize(("trigger", "make", "delay"), INVOICE_CASES)
@pytest.mark.parametrize("ending", list(ENDINGS))
def test_invoice_runs_end_on_exactly_their_end_conditions(
    trigger, make, delay, ending, django_capture_on_commit_callbacks
):
    automation(trigger, _memo_step(delay))
    invoice = make(django_capture_on_commit_callbacks)
    run = Run.objects.get(trigger=trigger)
    assert run.status == "active"
    act, reason = ENDINGS[ending]
    with django_capture_on_commit_callbacks(execute=True):
        act(invoice)
    run.refresh_from_db()
    if ending in EXPECTED_ENDS[trigger]:
        assert (run.status, run.reason) == ("ended", reason)
        assert run.steps.get().status == "canceled"
    else:
        assert run.status == "active"


@pytest.mark.parametrize(("ending", "reason"), [("accept", "quote accepted"), ("cancel", "quote canceled")])
def test_quote_reminders_end_when_the_quote_is_accepted_or_canceled(ending, reason, django_capture_on_commit_callbacks):
    automation("quote.expiring", _memo_step(BEFORE))
    quote = services.quote_create(
        customer=make_customer(), lines=[services.LineItem(description="Plan", unit_amount=Money(100, "EUR"))],
        expires_at=timezone.now() + timedelta(days=10),
    )  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        services.quote_finalize(quote=quote)
    with django_capture_on_commit_callbacks(execute=True):
        (services.quote_accept if ending == "accept" else services.quote_cancel)(quote=quote)
    run = Run.objects.get()
    assert (run.status, run.reason) == ("ended", reason)


def test_a_canceled_subscription_run_is_not_ended_by_anything(django_capture_on_commit_callbacks):
    automation("subscription.canceled", _memo_step(LATER))
    with django_capture_on_commit_callbacks(execute=True):
        subscription = services.subscription_create(customer=make_customer(), items=[(make_price(), 1)])
        services.subscription_cancel(subscription=subscription)
    run = Run.objects.get()
    assert run.status == "active" and run.trigger == "subscription.canceled"
