"""Two workers running the same billing job at once never duplicate an event (PostgreSQL)."""

import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from billing import jobs, services
from billing.models import Event, SubscriptionStatus
from tests.factories import DECLINED_CARD, make_customer, make_invoice, make_price, make_quote, make_subscription

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _run_concurrently(job, workers: int = 2) -> list[int]:
    barrier = threading.Barrier(workers)
    results: list[int] = []
    errors: list[BaseException] = []

    def work():
        try:
            barrier.wait()
            results.append(job())
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return results


def _no_duplicates(event_type: str, expected_ids: set[str]) -> None:
    counts = Counter(Event.objects.filter(type=event_type).values_list("object_id", flat=True))
    assert set(counts) == expected_ids
    assert max(counts.values()) == 1, [k for k, v in counts.items() if v > 1]


def test_two_workers_flag_each_overdue_invoice_once(settings):
    settings.BILLING_JOB_BATCH_SIZE = 5
    past = timezone.now() - timedelta(days=1)
    invoices = [make_invoice(due_date=past) for _ in range(120)]
    results = _run_concurrently(jobs.run_overdue)
    assert sum(results) == 120
    assert all(r > 0 for r in results), "both workers should have found work: the claims must interleave"
    _no_duplicates("invoice.overdue", {i.public_id for i in invoices})


def test_two_workers_retry_each_due_payment_once(settings):
    settings.BILLING_JOB_BATCH_SIZE = 4
    customer = make_customer(default_payment_method=DECLINED_CARD)
    invoices = [
        make_invoice(
            customer=customer,
            attempt_count=1,
            first_failed_at=timezone.now() - timedelta(days=3),
            next_payment_attempt=timezone.now() - timedelta(minutes=1),
        )
        for _ in range(60)
    ]
    results = _run_concurrently(jobs.run_payment_retries)
    assert sum(results) == 60
    _no_duplicates("invoice.payment_failed", {i.public_id for i in invoices})
    for invoice in invoices:
        invoice.refresh_from_db()
        assert invoice.attempt_count == 2
        assert invoice.payment_attempts.count() == 1


def test_two_workers_renew_each_subscription_once(settings):
    settings.BILLING_JOB_BATCH_SIZE = 3
    now = timezone.now()
    price = make_price()
    subscriptions = [
        make_subscription(
            price=price, current_period_start=now - timedelta(days=31), current_period_end=now - timedelta(hours=1)
        )
        for _ in range(40)
    ]
    results = _run_concurrently(jobs.run_renewals)
    assert sum(results) == 40
    _no_duplicates("invoice.created", {i.public_id for s in subscriptions for i in s.invoices.all()})
    for subscription in subscriptions:
        assert subscription.invoices.count() == 1


def test_two_workers_cancel_and_expire_each_object_once(settings):
    settings.BILLING_JOB_BATCH_SIZE = 3
    past = timezone.now() - timedelta(minutes=5)
    subscriptions = [make_subscription(cancel_at=past) for _ in range(30)]
    quotes = [make_quote(expires_at=past) for _ in range(30)]
    _run_concurrently(jobs.run_scheduled_cancellations)
    _run_concurrently(jobs.run_quote_expiry)
    _no_duplicates("customer.subscription.deleted", {s.public_id for s in subscriptions})
    _no_duplicates("quote.canceled", {q.public_id for q in quotes})


def test_two_workers_start_and_end_each_pause_once(settings):
    settings.BILLING_JOB_BATCH_SIZE = 3
    past = timezone.now() - timedelta(minutes=5)
    starting = [make_subscription(pause_behavior="keep_as_draft", pause_starts_at=past) for _ in range(20)]
    _run_concurrently(jobs.run_pauses)
    counts = Counter(Event.objects.filter(type="customer.subscription.updated").values_list("object_id", flat=True))
    assert counts == Counter({s.public_id: 1 for s in starting})
    for subscription in starting:
        subscription.refresh_from_db()
        assert subscription.status == SubscriptionStatus.PAUSED


def test_a_payment_attempted_from_two_workers_at_once_is_serialised_by_the_row_lock():
    invoice = make_invoice(customer=make_customer())
    outcomes = _run_concurrently(lambda: _attempt_or_none(invoice))
    invoice.refresh_from_db()
    assert invoice.status == "paid"
    assert invoice.payment_attempts.count() == 1
    assert sorted(outcomes) == [0, 1]
    assert Event.objects.filter(object_id=invoice.public_id, type="invoice.paid").count() == 1


def _attempt_or_none(invoice) -> int:
    from billing.errors import InvalidTransition

    try:
        services.invoice_attempt_payment(invoice=invoice)
        return 1
    except InvalidTransition:
        return 0
