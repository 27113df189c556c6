"""The test gateway's cards and what a payment failure sets in motion."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from moneyed import Money

from billing import jobs, services
from billing.models import AccountSettings, EndBehavior, Event, RetryPolicy, ScheduleKind
from billing.payments.test_gateway import TEST_CARDS, TestGateway
from tests.factories import (
    DECLINED_CARD,
    EXPIRED_CARD,
    FAILS_ONCE_CARD,
    GOOD_CARD,
    INSUFFICIENT_FUNDS_CARD,
    make_customer,
    make_invoice,
    make_subscription,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("card", "succeeded", "code", "decline_type"),
    [
        (GOOD_CARD, True, "", ""),
        (DECLINED_CARD, False, "card_declined", "soft"),
        (INSUFFICIENT_FUNDS_CARD, False, "insufficient_funds", "soft"),
        (EXPIRED_CARD, False, "expired_card", "hard"),
        (FAILS_ONCE_CARD, False, "processing_error", "soft"),
    ],
)
def test_each_test_card_gives_its_outcome_on_a_first_attempt(card, succeeded, code, decline_type):
    result = TestGateway().charge(amount=Money(10, "EUR"), payment_method=card, attempt_number=1, idempotency_key="k")
    assert (result.succeeded, result.failure_code, result.decline_type) == (succeeded, code, decline_type)


def test_the_fails_once_card_succeeds_on_retry():
    result = TestGateway().charge(
        amount=Money(10, "EUR"), payment_method=FAILS_ONCE_CARD, attempt_number=2, idempotency_key="k"
    )
    assert result.succeeded


def test_a_customer_without_card_or_with_an_unknown_card_is_declined_hard():
    gateway = TestGateway()
    for method in ("", "1234"):
        result = gateway.charge(amount=Money(10, "EUR"), payment_method=method, attempt_number=1, idempotency_key="k")
        assert not result.succeeded and result.decline_type == "hard"


def test_five_test_cards_are_listed():
    assert len(TEST_CARDS) == 5


def test_a_successful_payment_marks_the_invoice_paid():
    invoice = make_invoice(customer=make_customer(default_payment_method=GOOD_CARD))
    attempt = services.invoice_attempt_payment(invoice=invoice)
    invoice.refresh_from_db()
    assert attempt.outcome == "succeeded"
    assert invoice.status == "paid" and invoice.amount_paid == invoice.total and invoice.attempt_count == 1
    assert Event.objects.filter(object_id=invoice.public_id, type="invoice.paid").count() == 1


def test_a_failed_payment_records_the_attempt_and_schedules_a_retry_from_the_default_settings():
    settings = AccountSettings.load()
    settings.schedule_kind, settings.max_retries, settings.within_days = ScheduleKind.WITHIN_DAYS, 4, 8
    settings.save()
    invoice = make_invoice(customer=make_customer(default_payment_method=INSUFFICIENT_FUNDS_CARD))
    with time_machine.travel(timezone.now(), tick=False):
        services.invoice_attempt_payment(invoice=invoice)
        invoice.refresh_from_db()
        assert invoice.status == "open" and invoice.attempt_count == 1
        assert invoice.next_payment_attempt == timezone.now() + timedelta(days=2)
    assert invoice.payment_attempts.get().failure_code == "insufficient_funds"
    assert Event.objects.filter(object_id=invoice.public_id, type="invoice.payment_failed").count() == 1


def test_a_failed_subscription_payment_makes_the_subscription_past_due_and_payment_makes_it_active_again():
    subscription = make_subscription(customer=make_customer(default_payment_method=DECLINED_CARD))
    invoice = make_invoice(customer=subscription.customer, subscription=subscription)
    services.invoice_attempt_payment(invoice=invoice)
    subscription.refresh_from_db()
    assert subscription.status == "past_due"
    services.invoice_mark_paid(invoice=invoice)
    subscription.refresh_from_db()
    assert subscription.status == "active"
    updates = Event.objects.filter(object_id=subscription.public_id, type="customer.subscription.updated")
    assert [e.previous_attributes["status"] for e in updates.order_by("id")] == ["active", "past_due"]


def _fail_through_all_retries(invoice, days: int = 70) -> None:
    start = timezone.now()
    services.invoice_attempt_payment(invoice=invoice)
    for day in range(1, days):
        with time_machine.travel(start + timedelta(days=day), tick=False):
            jobs.run_payment_retries()


@pytest.mark.parametrize(
    ("behavior", "subscription_status"),
    [
        (EndBehavior.CANCEL_SUBSCRIPTION, "canceled"),
        (EndBehavior.MARK_UNPAID, "unpaid"),
        (EndBehavior.LEAVE_PAST_DUE, "past_due"),
    ],
)
def test_after_the_last_retry_fails_the_policy_end_behaviour_applies(behavior, subscription_status):
    policy = RetryPolicy.objects.create(
        name="Annual", schedule_kind=ScheduleKind.DAY_OFFSETS, day_offsets=[3, 7, 14], end_behavior=behavior
    )
    subscription = make_subscription(customer=make_customer(default_payment_method=DECLINED_CARD))
    invoice = make_invoice(customer=subscription.customer, subscription=subscription, retry_policy=policy)
    _fail_through_all_retries(invoice, days=20)
    invoice.refresh_from_db()
    subscription.refresh_from_db()
    assert invoice.attempt_count == 4  # the first attempt and three retries
    assert invoice.next_payment_attempt is None
    assert subscription.status == subscription_status
    attempt_days = [(a.created - invoice.first_failed_at).days for a in invoice.payment_attempts.order_by("id")]
    assert attempt_days == [0, 3, 7, 14]


def test_the_fails_once_card_is_paid_by_the_first_retry():
    invoice = make_invoice(customer=make_customer(default_payment_method=FAILS_ONCE_CARD))
    _fail_through_all_retries(invoice, days=5)
    invoice.refresh_from_db()
    assert invoice.status == "paid" and invoice.attempt_count == 2


def test_a_retry_that_is_no_longer_due_does_nothing():
    invoice = make_invoice(customer=make_customer(default_payment_method=DECLINED_CARD))
    services.invoice_attempt_payment(invoice=invoice)
    assert services.invoice_retry_payment(invoice=invoice) is None
    invoice.refresh_from_db()
    assert invoice.attempt_count == 1


def test_setting_a_retry_policy_on_a_failed_invoice_reschedules_its_next_attempt():
    invoice = make_invoice(customer=make_customer(default_payment_method=DECLINED_CARD))
    with time_machine.travel(timezone.now(), tick=False):
        services.invoice_attempt_payment(invoice=invoice)
        policy = RetryPolicy.objects.create(name="Fast", schedule_kind=ScheduleKind.DAY_OFFSETS, day_offsets=[1])
        services.invoice_update(invoice=invoice, retry_policy=policy)
        invoice.refresh_from_db()
        assert invoice.next_payment_attempt == invoice.first_failed_at + timedelta(days=1)
    event = Event.objects.filter(object_id=invoice.public_id, type="invoice.updated").get()
    assert event.previous_attributes["retry_policy"] is None
    assert event.data_object["retry_policy"] == "Fast"


def test_canceling_a_subscription_stops_its_open_invoices_from_advancing():
    subscription = make_subscription(customer=make_customer(default_payment_method=DECLINED_CARD))
    invoice = make_invoice(customer=subscription.customer, subscription=subscription)
    services.invoice_attempt_payment(invoice=invoice)
    services.subscription_cancel(subscription=subscription)
    invoice.refresh_from_db()
    assert invoice.auto_advance is False and invoice.next_payment_attempt is None


def test_a_policy_attached_after_its_retries_are_used_up_applies_its_end_behaviour_at_once():
    subscription = make_subscription(customer=make_customer(default_payment_method=DECLINED_CARD))
    invoice = make_invoice(customer=subscription.customer, subscription=subscription)
    services.invoice_attempt_payment(invoice=invoice)
    policy = RetryPolicy.objects.create(
        name="No retries",
        schedule_kind=ScheduleKind.WITHIN_DAYS,
        max_retries=0,
        end_behavior=EndBehavior.CANCEL_SUBSCRIPTION,
    )
    services.invoice_update(invoice=invoice, retry_policy=policy)
    subscription.refresh_from_db()
    assert subscription.status == "canceled" and subscription.cancellation_reason == "payment_failed"
