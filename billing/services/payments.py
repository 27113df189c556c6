"""Charging invoices through the payment gateway, and what a failure sets in motion."""

from django.db import transaction

from billing import clock
from billing.errors import InvalidTransition
from billing.events import record_event
from billing.models import (
    EndBehavior,
    EventType,
    Invoice,
    InvoiceStatus,
    PaymentAttempt,
    PaymentOutcome,
    SubscriptionStatus,
)
from billing.payments import get_gateway
from billing.services.common import lock
from billing.services.invoices import invoice_mark_paid, next_retry_time, retry_end_behavior


def invoice_attempt_payment(*, invoice: Invoice) -> PaymentAttempt:
    """Charge an open invoice's remaining amount to the customer's payment method.

    1. Lock the invoice; only open or uncollectible invoices can be charged.
    2. Ask the gateway and record the PaymentAttempt.
    3. Success: the invoice is paid (`invoice.paid`).
       Failure: `invoice.payment_failed`, the next retry is scheduled from the retry policy (or
       the default retry settings), an active subscription becomes past due, and when no retry
       is left the policy's end behaviour applies to the subscription.
    """
    with transaction.atomic():
        invoice = lock(invoice)
        if invoice.status not in (InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE):
            raise InvalidTransition(f"Invoice {invoice} is {invoice.status}; only open invoices can be charged.")
        customer = invoice.customer
        now = clock.now(customer=customer)
        number = invoice.attempt_count + 1
        amount = invoice.amount_remaining
        result = get_gateway().charge(
            amount=amount,
            payment_method=customer.default_payment_method,
            attempt_number=number,
            idempotency_key=f"{invoice.public_id}:attempt:{number}",
        )
        attempt = PaymentAttempt.objects.create(
            invoice=invoice,
            created=now,
            attempt_number=number,
            amount=amount,
            payment_method=customer.default_payment_method,
            outcome=PaymentOutcome.SUCCEEDED if result.succeeded else PaymentOutcome.FAILED,
            failure_code=result.failure_code,
            decline_type=result.decline_type,
            message=result.message,
        )
        invoice.attempt_count = number
        if result.succeeded:
            invoice.save(update_fields=["attempt_count", "updated"])
            invoice_mark_paid(invoice=invoice, paid_out_of_band=False)
            return attempt
        _record_failure(invoice, now)
    return attempt


def _record_failure(invoice: Invoice, now) -> None:
    from billing.services.subscriptions import subscription_mark_past_due

    if invoice.first_failed_at is None:
        invoice.first_failed_at = now
    invoice.next_payment_attempt = next_retry_time(invoice)
    invoice.save(update_fields=["attempt_count", "first_failed_at", "next_payment_attempt", "updated"])
    record_event(type=EventType.INVOICE_PAYMENT_FAILED, obj=invoice)

    subscription = invoice.subscription
    if subscription is None:
        return
    if subscription.status == SubscriptionStatus.ACTIVE:
        subscription = subscription_mark_past_due(subscription=subscription)
    if invoice.next_payment_attempt is None and invoice.auto_advance:
        apply_retry_end_behavior(invoice=invoice)


def apply_retry_end_behavior(*, invoice: Invoice) -> None:
    """After the last failed retry: the retry policy's (or default) end behaviour for the subscription."""
    from billing.services.subscriptions import subscription_cancel, subscription_mark_unpaid

    subscription = invoice.subscription
    if subscription is None:
        return
    subscription.refresh_from_db()
    behavior = retry_end_behavior(invoice)
    if behavior == EndBehavior.CANCEL_SUBSCRIPTION and subscription.status != SubscriptionStatus.CANCELED:
        subscription_cancel(subscription=subscription, reason="payment_failed")
    elif behavior == EndBehavior.MARK_UNPAID and subscription.status == SubscriptionStatus.PAST_DUE:
        subscription_mark_unpaid(subscription=subscription)


def invoice_retry_payment(*, invoice: Invoice) -> PaymentAttempt | None:
    """The scheduled retry of a failed invoice, if it is still due (safe to call twice)."""
    with transaction.atomic():
        invoice = lock(invoice)
        now = clock.now(customer=invoice.customer)
        due = (
            invoice.status == InvoiceStatus.OPEN
            and invoice.next_payment_attempt is not None
            and invoice.next_payment_attempt <= now
        )
        if not due:
            return None
        return invoice_attempt_payment(invoice=invoice)
