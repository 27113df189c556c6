"""Periodic billing jobs: renewals, overdue detection, payment retries, scheduled
cancellations, pauses and resumes, quote expiry.

Each job finds only what is due through an indexed query, handles it in batches, and is safe
when two workers run it at once: rows are claimed with `SELECT … FOR UPDATE SKIP LOCKED` on
PostgreSQL, and every handler re-checks under the row lock that the work is still due.

Real time and simulated time do not mix: the periodic (real-time) jobs leave the objects of
customers on a test clock alone; a clock's advance runs the same jobs for its customers only
(`test_clock=`), with billing's clock at the simulated moment.
"""

import logging
from collections.abc import Callable

from django.conf import settings
from django.db import transaction
from django.db.models import F, QuerySet

from billing import clock
from billing.errors import BillingError
from billing.models import Customer, Invoice, InvoiceStatus, Quote, QuoteStatus, Subscription, SubscriptionStatus
from billing.serializers import lines_prefetch
from billing.services import (
    invoice_mark_overdue,
    invoice_retry_payment,
    invoices_mark_overdue,
    quote_expire_if_due,
    subscription_cancel_if_due,
    subscription_renew,
    subscription_resume_if_due,
    subscription_start_pause_if_due,
)

logger = logging.getLogger(__name__)


def in_time_of(queryset: QuerySet, test_clock=None) -> QuerySet:
    """The rows of `queryset` (objects with a `customer`) that live in real time, or on `test_clock`."""
    if test_clock is None:
        on_clocks = Customer.objects.filter(test_clock__isnull=False).values("pk")
        return queryset.exclude(customer_id__in=on_clocks)
    return queryset.filter(customer__test_clock=test_clock)


def claim_batch(due: QuerySet, *, after: int, batch_size: int) -> QuerySet:
    """The next due rows after id `after`, in id order, locked, skipping rows another worker holds."""
    return due.filter(pk__gt=after).order_by("pk").select_for_update(skip_locked=True)[:batch_size]


def process_due(due: Callable[[], QuerySet], handle: Callable, *, batch_size: int | None = None) -> int:
    """Handle every row of `due()` once, batch by batch, in id order. Returns how many were handled.

    1. Claim a batch of due rows after the last id seen, skipping rows another worker holds.
    2. Handle each row in its own savepoint: one failure is logged and does not undo the others.
    3. Commit the batch (releasing its locks) and go on until no due row is left.
    """
    batch_size = batch_size or settings.BILLING_JOB_BATCH_SIZE
    handled, last_id = 0, 0
    while True:
        with transaction.atomic():
            batch = list(claim_batch(due(), after=last_id, batch_size=batch_size))
            if not batch:
                return handled
            for obj in batch:
                last_id = obj.pk
                try:
                    with transaction.atomic():
                        if handle(obj) is not None:
                            handled += 1
                except BillingError as exc:
                    logger.warning("billing job skipped %s: %s", obj, exc.message)
                except Exception:
                    logger.exception("billing job failed on %s", obj)


def overdue_invoices(now, test_clock=None) -> QuerySet[Invoice]:
    """Open invoices past their due date not yet flagged (the partial index `invoice_overdue_due`)."""
    due = Invoice.objects.filter(
        status=InvoiceStatus.OPEN, overdue_at__isnull=True, due_date__isnull=False, due_date__lte=now
    )
    return in_time_of(due, test_clock)


def overdue_batch(now, *, skipped=(), test_clock=None) -> QuerySet[Invoice]:
    """The next batch of the sweep, locked (SKIP LOCKED), with what the events' snapshots read.

    Flagged invoices leave the condition, so each batch takes the oldest due ones left, through
    the partial index `invoice_overdue_due` (due date order, not id order).
    """
    return (
        overdue_invoices(now, test_clock)
        .exclude(pk__in=skipped)
        .order_by("due_date", "pk")
        .select_related("customer", "subscription", "retry_policy")
        .prefetch_related(lines_prefetch(Invoice))
        .select_for_update(skip_locked=True, of=("self",))[: settings.BILLING_JOB_BATCH_SIZE]
    )


def run_overdue(test_clock=None) -> int:
    """Flag open invoices past their due date (one `invoice.overdue` each), a batch at a time.

    1. Claim up to BILLING_JOB_BATCH_SIZE of the oldest due invoices (SKIP LOCKED), with their customer
       and lines, so that the events' snapshots need no query per invoice.
    2. Flag them with one update and record their events with one insert
       (`invoices_mark_overdue`); subscribers hear of the batch once it commits.
    3. If the batch fails, it is rolled back and its invoices are flagged one by one, so that
       one bad invoice is logged and left out of this sweep without holding up the others.
    """
    now = clock.now()
    handled, skipped = 0, set()
    while True:
        with transaction.atomic():
            batch = list(overdue_batch(now, skipped=skipped, test_clock=test_clock))
            if not batch:
                return handled
            try:
                with transaction.atomic():
                    handled += len(invoices_mark_overdue(invoices=batch))
                    continue
            except Exception:
                logger.exception("overdue batch after invoice %s failed; flagging its invoices one by one", batch[0].pk)
            for invoice in batch:
                try:
                    with transaction.atomic():
                        invoice_mark_overdue(invoice=invoice)
                        handled += 1
                except BillingError as exc:
                    skipped.add(invoice.pk)
                    logger.warning("billing job skipped %s: %s", invoice, exc.message)
                except Exception:
                    skipped.add(invoice.pk)
                    logger.exception("billing job failed on %s", invoice)


def run_payment_retries(test_clock=None) -> int:
    """Retry failed payments whose next attempt is due."""
    now = clock.now()
    return process_due(
        lambda: in_time_of(
            Invoice.objects.filter(
                status=InvoiceStatus.OPEN, next_payment_attempt__isnull=False, next_payment_attempt__lte=now
            ),
            test_clock,
        ),
        lambda invoice: invoice_retry_payment(invoice=invoice),
    )


def run_renewals(test_clock=None) -> int:
    """Start the next period of subscriptions whose period has ended, and invoice it."""
    now = clock.now()
    return process_due(
        lambda: in_time_of(
            Subscription.objects.filter(
                status__in=[
                    SubscriptionStatus.ACTIVE,
                    SubscriptionStatus.PAST_DUE,
                    SubscriptionStatus.UNPAID,
                    SubscriptionStatus.PAUSED,
                ],
                current_period_end__lte=now,
            ).exclude(cancel_at__lte=F("current_period_end")),
            test_clock,
        ),
        lambda subscription: subscription_renew(subscription=subscription),
    )


def run_scheduled_cancellations(test_clock=None) -> int:
    """Cancel subscriptions whose scheduled cancellation time has come."""
    now = clock.now()
    return process_due(
        lambda: in_time_of(
            Subscription.objects.exclude(status=SubscriptionStatus.CANCELED).filter(cancel_at__lte=now), test_clock
        ),
        lambda subscription: subscription_cancel_if_due(subscription=subscription),
    )


def run_pauses(test_clock=None) -> int:
    """Start scheduled pauses, then resume paused subscriptions whose resume time has come."""
    now = clock.now()
    started = process_due(
        lambda: in_time_of(
            Subscription.objects.filter(
                status__in=[SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE], pause_starts_at__lte=now
            ),
            test_clock,
        ),
        lambda subscription: subscription_start_pause_if_due(subscription=subscription),
    )
    resumed = process_due(
        lambda: in_time_of(
            Subscription.objects.filter(status=SubscriptionStatus.PAUSED, pause_resumes_at__lte=now), test_clock
        ),
        lambda subscription: subscription_resume_if_due(subscription=subscription),
    )
    return started + resumed


def run_quote_expiry(test_clock=None) -> int:
    """Cancel open quotes whose expiry date has passed (`quote.canceled`, reason expired)."""
    now = clock.now()
    return process_due(
        lambda: in_time_of(Quote.objects.filter(status=QuoteStatus.OPEN, expires_at__lte=now), test_clock),
        lambda quote: quote_expire_if_due(quote=quote),
    )


# In the order a tick runs them: at a period boundary, a scheduled cancellation ends the
# subscription and a scheduled pause starts (or ends) before the renewal bills the new period.
JOBS: dict[str, Callable[..., int]] = {
    "scheduled_cancellations": run_scheduled_cancellations,
    "pauses": run_pauses,
    "renewals": run_renewals,
    "payment_retries": run_payment_retries,
    "overdue": run_overdue,
    "quote_expiry": run_quote_expiry,
}
