"""Collecting what subscriptions owe: the logic that spans invoices, payments and subscriptions.

Billing a period, attempting and retrying a payment, the end behaviour when no retry is left,
reactivating a subscription when its invoice is paid, and retrying failed invoices when the
customer's card changes. The invoice, payment and subscription
modules each change one kind of object and do not import each other; this module combines them.
"""

from datetime import datetime

from django.db import transaction

import audit
from billing import clock
from billing.errors import InvalidTransition
from billing.events import record_event
from billing.models import (
    BillingReason,
    CollectionMethod,
    Customer,
    EndBehavior,
    EventType,
    Invoice,
    InvoiceStatus,
    PauseBehavior,
    PaymentAttempt,
    PaymentOutcome,
    Price,
    Subscription,
    SubscriptionStatus,
)
from billing.services.common import UNSET, lock
from billing.services.customers import customer_update_fields
from billing.services.invoices import (
    LineItem,
    invoice_create,
    invoice_finalize,
    invoice_mark_uncollectible,
    invoice_record_paid,
    invoice_update_fields,
    invoice_void,
    next_retry_time,
    retry_end_behavior,
    scheduled_retry_time,
)
from billing.services.payments import payment_attempt_charge, payment_method_check
from billing.services.subscriptions import (
    subscription_advance_period,
    subscription_end,
    subscription_mark_active,
    subscription_mark_past_due,
    subscription_mark_unpaid,
    subscription_start,
)

# --- Billing periods --------------------------------------------------------------------------


def subscription_create(
    *,
    customer: Customer,
    items: list[tuple[Price, int]],
    collection_method: str = CollectionMethod.CHARGE_AUTOMATICALLY,
    days_until_due: int | None = None,
    metadata: dict | None = None,
    start: datetime | None = None,
    invoice_now: bool = True,
) -> Subscription:
    """Start a subscription (`customer.subscription.created`) and bill its first period."""
    subscription = subscription_start(
        customer=customer,
        items=items,
        collection_method=collection_method,
        days_until_due=days_until_due,
        metadata=metadata,
        start=start,
    )
    if invoice_now:
        bill_period(subscription=subscription, reason=BillingReason.SUBSCRIPTION_CREATE)
    return subscription


def bill_period(*, subscription: Subscription, reason: str = BillingReason.SUBSCRIPTION_CYCLE) -> Invoice:
    """Invoice the subscription's current period as its status and collection method say.

    Unpaid subscriptions (and paused ones keeping drafts) get a draft invoice; others get it
    finalized, and charged at once when collected automatically.
    """
    with transaction.atomic():
        subscription = lock(subscription)
        lines = [
            LineItem(
                price=item.price,
                quantity=item.quantity,
                period_start=subscription.current_period_start,
                period_end=subscription.current_period_end,
            )
            for item in subscription.items.select_related("price__product")
        ]
        leave_draft = subscription.status == SubscriptionStatus.UNPAID or (
            subscription.status == SubscriptionStatus.PAUSED
            and subscription.pause_behavior == PauseBehavior.KEEP_AS_DRAFT
        )
        invoice = invoice_create(
            customer=subscription.customer,
            subscription=subscription,
            lines=lines,
            currency=subscription.currency,
            collection_method=subscription.collection_method,
            days_until_due=subscription.days_until_due,
            billing_reason=reason,
            period_start=subscription.current_period_start,
            period_end=subscription.current_period_end,
            auto_advance=not leave_draft,
            include_pending_items=True,
        )
        if leave_draft:
            return invoice
        invoice = invoice_finalize(invoice=invoice)
        if subscription.status == SubscriptionStatus.PAUSED:
            if subscription.pause_behavior == PauseBehavior.VOID:
                return invoice_void(invoice=invoice)
            return invoice_mark_uncollectible(invoice=invoice)
    if invoice.collection_method == CollectionMethod.CHARGE_AUTOMATICALLY:
        invoice_attempt_payment(invoice=invoice)
        invoice.refresh_from_db()
    return invoice


def subscription_renew(*, subscription: Subscription) -> Invoice | None:
    """Move a subscription whose period has ended into the next one and invoice it.

    Returns None when nothing is due (already renewed, canceled, or its cancellation comes
    first), so running it twice renews once.
    """
    with transaction.atomic():
        renewed = subscription_advance_period(subscription=subscription)
        if renewed is None:
            return None
        return bill_period(subscription=renewed)


# --- Cancellation -----------------------------------------------------------------------------


def subscription_cancel(*, subscription: Subscription, reason: str = "cancellation_requested") -> Subscription:
    """Cancel now (`customer.subscription.deleted`): no more invoices; its open invoices stop
    advancing (`auto_advance=false`, no more retries)."""
    with transaction.atomic():
        status = lock(subscription).status
        subscription = subscription_end(subscription=subscription, reason=reason)
        audit.record(
            "subscription.canceled", subscription, before={"status": status}, after={"status": subscription.status}
        )
        for invoice in subscription.invoices.filter(status=InvoiceStatus.OPEN, auto_advance=True):
            invoice_update_fields(invoice=invoice, auto_advance=False)
    return subscription


def subscription_cancel_if_due(*, subscription: Subscription) -> Subscription | None:
    """Carry out a scheduled cancellation whose time has come (safe to call twice)."""
    with transaction.atomic():
        subscription = lock(subscription)
        now = clock.now(customer=subscription.customer)
        if subscription.status == SubscriptionStatus.CANCELED or not subscription.cancel_at:
            return None
        if subscription.cancel_at > now:
            return None
        return subscription_cancel(subscription=subscription, reason="cancellation_requested")


# --- Payments and retries ---------------------------------------------------------------------


def invoice_mark_paid(*, invoice: Invoice, paid_out_of_band: bool = True) -> Invoice:
    """open/uncollectible → paid (`invoice.paid`); a past-due or unpaid subscription becomes active
    once none of its other invoices is open."""
    with transaction.atomic():
        invoice = invoice_record_paid(invoice=invoice, paid_out_of_band=paid_out_of_band)
        subscription = invoice.subscription
        if subscription is not None and subscription.status in (
            SubscriptionStatus.PAST_DUE,
            SubscriptionStatus.UNPAID,
        ):
            still_unpaid = subscription.invoices.filter(status=InvoiceStatus.OPEN).exclude(pk=invoice.pk).exists()
            if not still_unpaid:
                subscription_mark_active(subscription=subscription)
    return invoice


def invoice_update(
    *,
    invoice: Invoice,
    due_date=UNSET,
    auto_advance=UNSET,
    description=UNSET,
    metadata=UNSET,
    retry_policy=UNSET,
) -> Invoice:
    """Change an invoice's editable fields (`invoice.updated` with the previous values).

    A new retry policy replans the next retry; when it leaves none for a failed open invoice,
    the policy's end behaviour applies to the subscription now.
    """
    with transaction.atomic():
        # Read the policy before only when it may change: most updates touch other fields.
        policy_before = lock(invoice).retry_policy_id if retry_policy is not UNSET else None
        invoice = invoice_update_fields(
            invoice=invoice,
            due_date=due_date,
            auto_advance=auto_advance,
            description=description,
            metadata=metadata,
            retry_policy=retry_policy,
        )
        replanned = (
            retry_policy is not UNSET
            and invoice.retry_policy_id != policy_before
            and invoice.first_failed_at
            and invoice.status == InvoiceStatus.OPEN
        )
        if replanned and invoice.auto_advance and _retries_exhausted(invoice):
            apply_retry_end_behavior(invoice=invoice)
    return invoice


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
        now = clock.now(customer=invoice.customer)
        attempt = payment_attempt_charge(invoice=invoice, now=now)
        if attempt.outcome == PaymentOutcome.SUCCEEDED:
            invoice.save(update_fields=["attempt_count", "updated"])
            invoice_mark_paid(invoice=invoice, paid_out_of_band=False)
        else:
            _record_failure(invoice, now)
        audit.record(
            "invoice.payment_attempted",
            invoice,
            summary=f"Charged {attempt.amount}: {attempt.get_outcome_display().lower()}.",
            after=audit.fields(attempt, "outcome", "amount"),
        )
    return attempt


def _record_failure(invoice: Invoice, now: datetime) -> None:
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
    if invoice.auto_advance and _retries_exhausted(invoice):
        apply_retry_end_behavior(invoice=invoice)


def _retries_exhausted(invoice: Invoice) -> bool:
    """No retry left in the schedule. A hard decline holds retries without exhausting them."""
    return invoice.next_payment_attempt is None and scheduled_retry_time(invoice) is None


def apply_retry_end_behavior(*, invoice: Invoice) -> None:
    """After the last failed retry: the retry policy's (or default) end behaviour for the subscription."""
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


# --- Payment method changes -------------------------------------------------------------------


def customer_update(*, customer: Customer, default_payment_method=UNSET, **fields) -> Customer:
    """Change a customer's fields (`customer.updated`; `fields` as `customer_update_fields` takes
    them). When the card really changes, the customer's failed open invoices are retried at once,
    whoever changed it (dashboard, admin, API)."""
    with transaction.atomic():
        card_before = lock(customer).default_payment_method
        customer = customer_update_fields(customer=customer, default_payment_method=default_payment_method, **fields)
        if customer.default_payment_method != card_before:
            retry_failed_invoices(customer=customer)
    return customer


def customer_change_payment_method(*, customer: Customer, card: str) -> list[Invoice]:
    """Give the customer a new card and retry their failed open invoices with it, once each.

    1. Check the card (BillingError for a card the gateway does not know).
    2. Record it on the customer (`customer.updated`, audited) unless it is already theirs.
    3. Retry the failed open invoices not yet tried with this card (`retry_failed_invoices`):
       a form posted twice, or two requests at once, charge each invoice once.
    Returns the retried invoices, refreshed: paid, or still failing.
    """
    number = payment_method_check(card)
    with transaction.atomic():
        customer = customer_update_fields(customer=customer, default_payment_method=number)
        return retry_failed_invoices(customer=customer)


def retry_failed_invoices(*, customer: Customer) -> list[Invoice]:
    """Charge at once, with the customer's current card, each failed open invoice of theirs
    (open, attempted before) whose latest attempt used another card.

    1. Lock the customer, then their failed open invoices oldest first: two changes of one
       customer's card run one after the other, and lock invoices in the same order.
    2. Skip an invoice whose latest attempt already used this card: this change (or the same
       change posted again) has tried it, and its retry schedule takes over from there.
    3. Charge the others once each (`invoice_attempt_payment`: paid, or failed with the next
       retry planned from the decline).
    """
    with transaction.atomic():
        customer = lock(customer)
        card = customer.default_payment_method
        invoices = list(
            Invoice.objects.select_for_update(of=("self",))
            .select_related("customer")
            .filter(customer=customer, status=InvoiceStatus.OPEN, attempt_count__gt=0)
            .order_by("pk")
        )
        retried = []
        for invoice in invoices:
            latest = invoice.payment_attempts.order_by("-created", "-id").first()
            if latest is not None and latest.payment_method == card:
                continue
            invoice_attempt_payment(invoice=invoice)
            invoice.refresh_from_db()
            retried.append(invoice)
    return retried
