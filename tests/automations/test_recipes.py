"""The four reference recipes of the issue, end to end: automations created through the service,
billing objects through the billing services, time moved with time-machine, the billing jobs and
the engine's dispatcher called as the scheduler would, and the real effects asserted (payments,
cancellations, emails in the outbox, signed webhooks received over HTTP)."""

import json
from datetime import UTC, datetime, timedelta

import pytest
import stripe
import time_machine
from django.core import mail
from djmoney.contrib.exchange.models import Rate
from moneyed import Money

from automations.engine.dispatch import dispatch_due
from automations.models import MatchingRecord, Run
from automations.services.definitions import automation_create
from billing import jobs, services
from billing.exchange import seed_rates
from billing.models import AccountSettings, Event, Invoice, PaymentAttempt, RetryPolicy, Subscription
from billing.services import LineItem
from notifications.models import OutboundEmail, WebhookDelivery
from notifications.services.endpoints import endpoint_create
from tests.factories import DECLINED_CARD, GOOD_CARD, make_price
from tests.notifications.conftest import receiver  # noqa: F401

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)  # a Monday morning
TICK = timedelta(minutes=5)  # the daily pass of the scheduler comes a few minutes after T0's time of day
NOW = {"amount": 0, "unit": "days"}


def _clock(moment=T0):
    return time_machine.travel(moment, tick=False)


def _customer(card=GOOD_CARD, currency="EUR", name="Acme Ltd", email="billing@acme.example"):
    return services.customer_create(name=name, email=email, currency=currency, default_payment_method=card)


def _scheduler_pass(capture) -> int:
    """What the scheduler does each time it wakes: every billing job, then the engine's dispatcher.
    Events recorded meanwhile reach the engine when each block commits (django-q2 runs in sync)."""
    with capture(execute=True):
        for job in jobs.JOBS.values():
            job()
    with capture(execute=True):
        return dispatch_due()


# --- 1. Annual subscriber dunning -------------------------------------------------------------

ANNUAL_POLICY = {
    "name": "Annual: up to 8 retries within 60 days",
    "schedule_kind": "within_days",
    "max_retries": 8,
    "within_days": 60,
    "end_behavior": "leave_past_due",
}


def _annual_dunning():
    return automation_create(
        name="Annual subscriber dunning",
        trigger="subscription.payment_failed",
        filters=[{"type": "subscription_interval", "params": {"interval": "year"}}],
        steps=[
            {"action": "set_retry_policy", "delay": NOW, "params": {"new_policy": ANNUAL_POLICY}},
            {"action": "cancel_subscription", "delay": {"amount": 7, "unit": "days"}, "params": {}},
            {"action": "mark_invoice_uncollectible", "delay": NOW, "params": {}},
        ],
    )


def _failing_subscription(capture, interval="year", amount="1200.00") -> tuple[Subscription, Invoice]:
    price = make_price(amount, interval=interval, name=f"Pro plan ({interval}ly)")
    with capture(execute=True):
        subscription = services.subscription_create(customer=_customer(card=DECLINED_CARD), items=[(price, 1)])
    invoice = Invoice.objects.get(subscription=subscription)
    assert invoice.status == "open" and invoice.attempt_count == 1
    return subscription, invoice


def _walk_days(traveller, capture, days: range, watch=lambda: None) -> dict[int, tuple]:
    """Day by day after T0 (a few minutes after its time of day): a scheduler pass each day.
    Returns what `watch()` says after each day's pass."""
    seen = {}
    for day in days:
        traveller.move_to(T0 + timedelta(days=day) + TICK)
        _scheduler_pass(capture)
        seen[day] = watch()
    return seen


def test_annual_dunning_retries_8_times_within_60_days_then_cancels_a_week_later_and_writes_off(
    django_capture_on_commit_callbacks,
):
    capture = django_capture_on_commit_callbacks
    automation = _annual_dunning()
    with _clock() as traveller:
        subscription, invoice = _failing_subscription(capture)
        run = Run.objects.get()
        assert (run.automation, run.object_id, run.status) == (automation, invoice.public_id, "active")

        def watch():
            subscription.refresh_from_db()
            invoice.refresh_from_db()
            return subscription.status, invoice.status

        seen = _walk_days(traveller, capture, range(71), watch)

    attempts = list(PaymentAttempt.objects.filter(invoice=invoice).order_by("attempt_number"))
    assert len(attempts) == 9  # the first attempt and 8 retries
    assert all(a.outcome == "failed" for a in attempts)
    first, last = attempts[0].created, attempts[-1].created
    # Retries fall due every 7½ days; each is made on the first daily pass after it falls due.
    assert first == T0 and last - first <= timedelta(days=60) + TICK
    assert last - first >= timedelta(days=59)  # spread over the whole window, not bunched up
    gaps = [b.created - a.created for a, b in zip(attempts, attempts[1:], strict=False)]
    assert all(timedelta(days=6) < gap < timedelta(days=9) for gap in gaps), gaps

    # Past due (the policy leaves it so) until a week after the last retry; then canceled, written off.
    last_retry_day = (last - T0).days
    cancel_day = min(day for day, (status, _) in seen.items() if status == "canceled")
    assert all(seen[day] == ("past_due", "open") for day in range(cancel_day))
    assert seen[cancel_day] == ("canceled", "uncollectible")
    assert subscription.canceled_at - last >= timedelta(days=7)
    assert subscription.canceled_at - last < timedelta(days=8)
    assert subscription.cancellation_reason == "payment_failed"
    assert cancel_day == last_retry_day + 7
    assert invoice.retry_policy == RetryPolicy.objects.get(name=ANNUAL_POLICY["name"])
    assert invoice.auto_advance is False and invoice.next_payment_attempt is None
    assert Event.objects.filter(object_id=invoice.public_id, type="invoice.marked_uncollectible").count() == 1

    run.refresh_from_db()
    assert (run.status, run.reason) == ("completed", "all steps done")
    steps = list(run.steps.order_by("position"))
    assert [(s.action, s.status) for s in steps] == [
        ("set_retry_policy", "succeeded"),
        ("cancel_subscription", "succeeded"),
        ("mark_invoice_uncollectible", "succeeded"),
    ]
    assert steps[0].result["outcome"] == "retries exhausted" and steps[0].result["attempts"] == 9
    assert steps[1].executed_at - steps[0].executed_at == timedelta(days=7)
    assert Run.objects.count() == 1  # the later events of the invoice start nothing more


def test_a_monthly_subscription_failing_the_same_way_starts_no_run_and_the_record_says_why(
    django_capture_on_commit_callbacks,
):
    _annual_dunning()
    with _clock():
        subscription, invoice = _failing_subscription(django_capture_on_commit_callbacks, interval="month")
    assert not Run.objects.exists()
    record = MatchingRecord.objects.get(trigger="subscription.payment_failed")
    assert record.event.object_id == invoice.public_id and record.run is None
    [check] = record.checks
    assert check["name"] == "Annual subscriber dunning" and check["matched"] is False
    assert (check["filter"], check["expected"], check["found"]) == (
        "Subscription interval",
        "interval is yearly",
        "monthly",
    )
    assert record.outcome == "no automation matched: the default retry settings apply"
    invoice.refresh_from_db()
    assert invoice.retry_policy is None and invoice.next_payment_attempt is not None  # the default retries


def test_annual_dunning_ends_when_the_customer_pays_during_the_retries(django_capture_on_commit_callbacks):
    capture = django_capture_on_commit_callbacks
    _annual_dunning()
    with _clock() as traveller:
        subscription, invoice = _failing_subscription(capture)
        _walk_days(traveller, capture, range(11))  # the first retry (day 7½) fails
        assert PaymentAttempt.objects.filter(invoice=invoice).count() == 2
        # The new card is retried at once (issue 16), not at the second retry (day 15).
        with capture(execute=True):
            services.customer_update(customer=subscription.customer, default_payment_method=GOOD_CARD)
        _walk_days(traveller, capture, range(11, 71))

    invoice.refresh_from_db()
    subscription.refresh_from_db()
    assert invoice.status == "paid" and invoice.attempt_count == 3
    assert invoice.paid_at == T0 + timedelta(days=10) + TICK
    assert PaymentAttempt.objects.filter(invoice=invoice).latest("attempt_number").outcome == "succeeded"
    assert subscription.status == "active" and subscription.canceled_at is None
    run = Run.objects.get()
    assert (run.status, run.reason) == ("ended", "invoice paid")
    assert [s.status for s in run.steps.order_by("position")] == ["canceled", "canceled", "canceled"]


# --- 2. Invoice overdue with an amount over 500 → email the collections team -----------------

COLLECTIONS = "collections@relance.example"
MEMO = "Invoice {number} of {customer} is {days_overdue} days overdue: {amount} still due. {link}"


def _collections_alert():
    account = AccountSettings.load()
    account.team_email_domains = ["relance.example"]
    account.save()
    return automation_create(
        name="Large overdue invoices → collections",
        trigger="invoice.overdue",
        filters=[{"type": "invoice_amount", "params": {"min": "500.01"}}],
        steps=[{"action": "send_team_email", "delay": NOW, "params": {"recipient": COLLECTIONS, "message": MEMO}}],
    )


def _overdue(capture, amount, currency="EUR") -> Invoice:
    """An invoice due in 10 days, then the scheduler's passes on the day after its due date."""
    customer = _customer(currency=currency, name=f"Client {amount} {currency}", email=f"{currency}{amount}@x.example")
    with _clock(), capture(execute=True):
        invoice = services.invoice_create(
            customer=customer,
            lines=[LineItem(description="Consulting", unit_amount=Money(amount, currency))],
            collection_method="send_invoice",
            days_until_due=10,
        )
        invoice = services.invoice_finalize(invoice=invoice)
    with _clock(T0 + timedelta(days=11) + TICK):
        _scheduler_pass(capture)
        _scheduler_pass(capture)  # a second pass sends nothing more
    invoice.refresh_from_db()
    assert invoice.overdue_at is not None
    return invoice


def _record(invoice) -> MatchingRecord:
    return MatchingRecord.objects.get(trigger="invoice.overdue", event__object_id=invoice.public_id)


def test_an_overdue_invoice_over_500_emails_the_collections_team_once(django_capture_on_commit_callbacks):
    _collections_alert()
    invoice = _overdue(django_capture_on_commit_callbacks, "800.00")

    [sent] = mail.outbox
    assert sent.to == [COLLECTIONS]
    assert sent.subject == f"[Relance] Invoice is overdue: invoice {invoice.number} (Client 800.00 EUR)"
    email = OutboundEmail.objects.get()
    assert email.recipients == [COLLECTIONS] and email.status == "sent"
    link = f"http://127.0.0.1:8000/invoices/{invoice.public_id}/"
    memo = f"Invoice {invoice.number} of Client 800.00 EUR is 1 days overdue: €800.00 still due. {link}"
    assert memo in email.text_body and memo in sent.body
    assert "Amount due: €800.00" in email.text_body
    run = Run.objects.get()
    assert run.status == "completed" and run.steps.get().result == {"email": email.public_id, "to": COLLECTIONS}


def test_an_overdue_invoice_of_300_sends_nothing(django_capture_on_commit_callbacks):
    _collections_alert()
    invoice = _overdue(django_capture_on_commit_callbacks, "300.00")
    assert mail.outbox == [] and not OutboundEmail.objects.exists() and not Run.objects.exists()
    [check] = _record(invoice).checks
    assert check["matched"] is False
    assert (check["expected"], check["found"]) == ("invoice amount at least 500.01 EUR", "300.00 EUR")


def test_an_invoice_in_another_currency_is_compared_in_the_default_currency(django_capture_on_commit_callbacks):
    seed_rates("EUR")
    _collections_alert()
    big = _overdue(django_capture_on_commit_callbacks, "600.00", "USD")  # 600 / 1.08 ≈ 555.56 EUR
    small = _overdue(django_capture_on_commit_callbacks, "500.00", "USD")  # ≈ 462.96 EUR

    [sent] = mail.outbox
    assert sent.to == [COLLECTIONS] and big.number in sent.body and "$600.00 still due" in sent.body
    assert Run.objects.get().object_id == big.public_id
    [matched] = _record(big).checks
    assert matched["matched"] is True
    [check] = _record(small).checks
    assert check["matched"] is False and check["found"] == "462.96 EUR (converted from $500.00)"


def test_without_an_exchange_rate_the_amount_condition_does_not_match_and_the_record_says_so(
    django_capture_on_commit_callbacks,
):
    seed_rates("EUR")
    Rate.objects.all().delete()
    _collections_alert()
    invoice = _overdue(django_capture_on_commit_callbacks, "600.00", "USD")
    assert mail.outbox == [] and not Run.objects.exists()
    record = _record(invoice)
    [check] = record.checks
    assert check["matched"] is False and check["filter"] == "Invoice amount"
    assert check["found"] == "$600.00, and no exchange rate from USD to EUR"
    assert record.outcome == "no automation matched"


# --- 3. Subscription canceled → cancellation confirmation with a survey link ------------------

SURVEY = "https://relance.example/survey?why=canceled"


def test_a_canceled_subscription_gets_one_confirmation_email_with_the_survey_link(django_capture_on_commit_callbacks):
    capture = django_capture_on_commit_callbacks
    automation_create(
        name="Cancellation confirmation",
        trigger="subscription.canceled",
        filters=[],
        steps=[{"action": "send_cancellation_email", "delay": NOW, "params": {"survey_url": SURVEY}}],
    )
    price = make_price("40.00", interval="month", name="Team plan")
    with _clock(), capture(execute=True):
        subscription = services.subscription_create(customer=_customer(), items=[(price, 1)])
    with _clock(T0 + timedelta(days=12)) as traveller:
        with capture(execute=True):
            services.subscription_cancel(subscription=subscription)
        assert mail.outbox == []  # the email is the dispatcher's work
        with capture(execute=True):
            assert dispatch_due() == 1
        traveller.move_to(T0 + timedelta(days=13))
        for _ in range(2):
            assert _scheduler_pass(capture) == 0

    [sent] = mail.outbox
    assert sent.to == ["billing@acme.example"] and sent.subject == "Your subscription has been canceled"
    assert f"your subscription {subscription.public_id} was canceled on 15 Mar 2025" in sent.body
    assert "- 1 × Team plan, €40.00 / month" in sent.body
    assert SURVEY in sent.body
    [(html, _)] = sent.alternatives
    assert f'<a href="{SURVEY.replace("&", "&amp;")}">' in html
    assert OutboundEmail.objects.count() == 1
    run = Run.objects.get()
    assert run.status == "completed" and run.object_id == subscription.public_id


# --- 4. Quote expiring → quote.will_expire webhook 3 days before the expiry -------------------


@pytest.fixture
def quote_reminder(receiver):  # noqa: F811
    automation_create(
        name="Quote expiry reminder",
        trigger="quote.expiring",
        filters=[],
        steps=[
            {
                "action": "send_quote_will_expire_webhook",
                "delay": {"amount": 3, "unit": "days", "direction": "before"},
                "params": {},
            }
        ],
    )
    return endpoint_create(url=receiver.url, enabled_events=["quote.will_expire"])


def _open_quote(capture):
    with _clock(), capture(execute=True):
        quote = services.quote_create(
            customer=_customer(),
            lines=[LineItem(description="Implementation", unit_amount=Money("4500.00", "EUR"))],
            expires_at=T0 + timedelta(days=10),
        )
        quote = services.quote_finalize(quote=quote)
    return quote


def _walk_quote_days(traveller, capture, days, receiver):  # noqa: F811
    """Each day from T0 until `days`, a minute after T0's time of day: nothing goes out."""
    for day in days:
        traveller.move_to(T0 + timedelta(days=day, minutes=1))
        assert _scheduler_pass(capture) == 0, f"a step ran on day {day}"
        assert receiver.requests == []


def _verified(receiver, secret) -> dict:  # noqa: F811
    [request] = receiver.requests
    return stripe.Webhook.construct_event(request.body.decode(), request.headers["stripe-signature"], secret)


def test_the_quote_will_expire_webhook_goes_out_3_days_before_the_expiry_signed_and_once(
    quote_reminder,
    receiver,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    capture = django_capture_on_commit_callbacks
    quote = _open_quote(capture)
    run = Run.objects.get()
    assert run.anchor_at == T0 + timedelta(days=10)
    assert run.steps.get().scheduled_at == T0 + timedelta(days=7)
    with _clock() as traveller:
        _walk_quote_days(traveller, capture, range(7), receiver)
        traveller.move_to(T0 + timedelta(days=7, minutes=1))
        assert _scheduler_pass(capture) == 1
        event = _verified(receiver, quote_reminder.secret)  # while the clock agrees with the signature
        assert _scheduler_pass(capture) == 0
        traveller.move_to(T0 + timedelta(days=8, minutes=1))
        assert _scheduler_pass(capture) == 0

    assert len(receiver.requests) == 1
    assert event["type"] == "quote.will_expire" and event["data"]["object"]["id"] == quote.public_id
    assert json.loads(receiver.requests[0].body)["data"]["object"]["expires_at"] == int(quote.expires_at.timestamp())
    [delivery] = WebhookDelivery.objects.all()
    assert delivery.status == "succeeded" and delivery.event_id == event["id"]
    run.refresh_from_db()
    assert run.status == "completed" and run.steps.get().status == "succeeded"


def test_moving_the_quote_expiry_moves_the_webhook(
    quote_reminder,
    receiver,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    capture = django_capture_on_commit_callbacks
    quote = _open_quote(capture)
    with _clock(T0 + timedelta(days=2)) as traveller:
        with capture(execute=True):
            services.quote_update(quote=quote, expires_at=T0 + timedelta(days=15))
        run = Run.objects.get()
        assert run.anchor_at == T0 + timedelta(days=15)
        assert run.steps.get().scheduled_at == T0 + timedelta(days=12)
        _walk_quote_days(traveller, capture, range(2, 12), receiver)  # day 7 passes quietly
        traveller.move_to(T0 + timedelta(days=12, minutes=1))
        assert _scheduler_pass(capture) == 1
        event = _verified(receiver, quote_reminder.secret)
    assert event["data"]["object"]["id"] == quote.public_id
    assert event["data"]["object"]["expires_at"] == int((T0 + timedelta(days=15)).timestamp())


def test_accepting_the_quote_before_the_reminder_ends_the_run_and_sends_nothing(
    quote_reminder,
    receiver,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    capture = django_capture_on_commit_callbacks
    quote = _open_quote(capture)
    with _clock(T0 + timedelta(days=4)) as traveller:
        with capture(execute=True):
            services.quote_accept(quote=quote)
        _walk_quote_days(traveller, capture, range(4, 12), receiver)
    run = Run.objects.get()
    assert (run.status, run.reason) == ("ended", "quote accepted")
    assert run.steps.get().status == "canceled"
    assert not WebhookDelivery.objects.exists()
