"""Retries that read the decline: a hard decline waits for a new card, and a new card retries the
customer's failed open invoices at once, once each, whatever changed it."""

import threading
from datetime import timedelta
from urllib.parse import urlencode

import pytest
import time_machine
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from api.keys import api_key_create
from billing import jobs, services
from billing.errors import BillingError
from billing.models import EndBehavior, Event, RetryPolicy, ScheduleKind
from tests.factories import (
    DECLINED_CARD,
    EXPIRED_CARD,
    GOOD_CARD,
    INSUFFICIENT_FUNDS_CARD,
    make_customer,
    make_invoice,
    make_subscription,
)

pytestmark = pytest.mark.django_db


def _policy(end_behavior=EndBehavior.CANCEL_SUBSCRIPTION, days=(3, 7), name="Short"):
    return RetryPolicy.objects.create(
        name=name, schedule_kind=ScheduleKind.DAY_OFFSETS, day_offsets=list(days), end_behavior=end_behavior
    )


# --- hard and soft declines ---------------------------------------------------------------------


def test_a_hard_decline_schedules_no_automatic_retry():
    invoice = make_invoice(customer=make_customer(default_payment_method=EXPIRED_CARD))
    services.invoice_attempt_payment(invoice=invoice)
    invoice.refresh_from_db()
    assert invoice.status == "open" and invoice.attempt_count == 1 and invoice.first_failed_at is not None
    assert invoice.next_payment_attempt is None
    start = timezone.now()
    for day in (1, 3, 10, 40):
        with time_machine.travel(start + timedelta(days=day), tick=False):
            jobs.run_payment_retries()
    invoice.refresh_from_db()
    assert invoice.attempt_count == 1


def test_a_soft_decline_schedules_the_next_retry_as_before():
    invoice = make_invoice(customer=make_customer(default_payment_method=DECLINED_CARD), retry_policy=_policy())
    with time_machine.travel(timezone.now(), tick=False):
        services.invoice_attempt_payment(invoice=invoice)
        invoice.refresh_from_db()
        assert invoice.next_payment_attempt == invoice.first_failed_at + timedelta(days=3)


def test_a_hard_decline_alone_does_not_apply_the_end_behaviour():
    subscription = make_subscription(customer=make_customer(default_payment_method=EXPIRED_CARD))
    invoice = make_invoice(customer=subscription.customer, subscription=subscription, retry_policy=_policy())
    services.invoice_attempt_payment(invoice=invoice)
    subscription.refresh_from_db()
    assert subscription.status == "past_due"  # not canceled: retries are held, not exhausted
    invoice = services.invoice_update(invoice=invoice, retry_policy=_policy(days=(5,), name="Other"))
    subscription.refresh_from_db()
    assert invoice.next_payment_attempt is None and subscription.status == "past_due"


def test_a_hard_decline_that_leaves_no_retry_in_the_schedule_still_applies_the_end_behaviour():
    subscription = make_subscription(customer=make_customer(default_payment_method=DECLINED_CARD))
    invoice = make_invoice(customer=subscription.customer, subscription=subscription, retry_policy=_policy(days=(3,)))
    services.invoice_attempt_payment(invoice=invoice)
    # The new card is retried at once: the schedule's one retry, declined hard.
    services.customer_update(customer=subscription.customer, default_payment_method=EXPIRED_CARD)
    invoice.refresh_from_db()
    subscription.refresh_from_db()
    assert invoice.attempt_count == 2 and invoice.payment_attempts.first().decline_type == "hard"
    assert subscription.status == "canceled"


def test_a_card_change_after_a_hard_decline_retries_at_once_and_the_schedule_resumes():
    customer = make_customer(default_payment_method=EXPIRED_CARD)
    invoice = make_invoice(customer=customer, retry_policy=_policy(days=(3, 7)))
    with time_machine.travel(timezone.now(), tick=False):
        services.invoice_attempt_payment(invoice=invoice)
        services.customer_update(customer=customer, default_payment_method=DECLINED_CARD)
        invoice.refresh_from_db()
        assert invoice.attempt_count == 2
        assert invoice.next_payment_attempt == invoice.first_failed_at + timedelta(days=7)


def test_the_invoice_page_says_why_there_is_no_next_retry(viewer_client):
    invoice = make_invoice(customer=make_customer(default_payment_method=EXPIRED_CARD))
    services.invoice_attempt_payment(invoice=invoice)
    response = viewer_client.get(reverse("invoice_detail", args=[invoice.public_id]))
    assert (
        "No automatic retry: the card was declined as expired (hard decline); the customer must change their card."
        in response.content.decode()
    )
    services.customer_change_payment_method(customer=invoice.customer, card=DECLINED_CARD)
    response = viewer_client.get(reverse("invoice_detail", args=[invoice.public_id]))
    assert "No automatic retry" not in response.content.decode()


# --- a card change retries the failed open invoices ---------------------------------------------


def _failed_invoices(customer, count=2):
    invoices = [make_invoice(customer=customer) for _ in range(count)]
    for invoice in invoices:
        services.invoice_attempt_payment(invoice=invoice)
    return invoices


def test_it_retries_the_failed_open_invoices_at_once_when_the_card_changes():
    customer = make_customer(default_payment_method=DECLINED_CARD)
    failed = _failed_invoices(customer)
    untouched = make_invoice(customer=customer)  # open, never attempted: not a failed invoice
    retried = services.customer_change_payment_method(customer=customer, card=GOOD_CARD)
    assert sorted(i.pk for i in retried) == sorted(i.pk for i in failed)
    assert {i.status for i in retried} == {"paid"}
    assert [i.attempt_count for i in retried] == [2, 2]
    untouched.refresh_from_db()
    assert untouched.attempt_count == 0 and untouched.status == "open"
    customer.refresh_from_db()
    assert customer.default_payment_method == GOOD_CARD
    assert Event.objects.filter(object_id=customer.public_id, type="customer.updated").count() == 1


def test_it_returns_the_invoices_still_failing_when_the_new_card_declines_too():
    customer = make_customer(default_payment_method=DECLINED_CARD)
    _failed_invoices(customer, count=1)
    [invoice] = services.customer_change_payment_method(customer=customer, card=INSUFFICIENT_FUNDS_CARD)
    assert invoice.status == "open" and invoice.attempt_count == 2
    assert invoice.payment_attempts.first().failure_code == "insufficient_funds"


def test_it_refuses_a_card_the_gateway_does_not_know():
    customer = make_customer(default_payment_method=DECLINED_CARD)
    _failed_invoices(customer, count=1)
    with pytest.raises(BillingError, match="not valid"):
        services.customer_change_payment_method(customer=customer, card="1234")
    customer.refresh_from_db()
    assert customer.default_payment_method == DECLINED_CARD


def test_it_accepts_a_card_number_written_with_spaces():
    customer = make_customer(default_payment_method=DECLINED_CARD)
    _failed_invoices(customer, count=1)
    [invoice] = services.customer_change_payment_method(customer=customer, card="4242 4242 4242 4242")
    assert invoice.status == "paid"


def test_it_retries_each_invoice_once_when_the_same_change_is_posted_twice():
    customer = make_customer(default_payment_method=DECLINED_CARD)
    invoices = _failed_invoices(customer)
    assert len(services.customer_change_payment_method(customer=customer, card=INSUFFICIENT_FUNDS_CARD)) == 2
    assert services.customer_change_payment_method(customer=customer, card=INSUFFICIENT_FUNDS_CARD) == []
    for invoice in invoices:
        invoice.refresh_from_db()
        assert invoice.attempt_count == 2


def test_it_retries_again_when_the_card_changes_again():
    customer = make_customer(default_payment_method=DECLINED_CARD)
    [invoice] = _failed_invoices(customer, count=1)
    services.customer_change_payment_method(customer=customer, card=INSUFFICIENT_FUNDS_CARD)
    [retried] = services.customer_change_payment_method(customer=customer, card=GOOD_CARD)
    assert retried.pk == invoice.pk and retried.status == "paid" and retried.attempt_count == 3


def test_customer_update_retries_the_failed_invoices_when_the_card_really_changes():
    customer = make_customer(default_payment_method=DECLINED_CARD)
    [invoice] = _failed_invoices(customer, count=1)
    services.customer_update(customer=customer, name="Renamed", default_payment_method=DECLINED_CARD)
    invoice.refresh_from_db()
    assert invoice.attempt_count == 1  # the same card: nothing changed, nothing retried
    services.customer_update(customer=customer, default_payment_method=GOOD_CARD)
    invoice.refresh_from_db()
    assert invoice.status == "paid" and invoice.attempt_count == 2


def test_the_admin_change_of_a_card_retries_the_failed_invoices(admin_client):
    customer = make_customer(default_payment_method=DECLINED_CARD)
    [invoice] = _failed_invoices(customer, count=1)
    response = admin_client.post(
        f"/admin/billing/customer/{customer.pk}/change/",
        {"name": customer.name, "email": customer.email, "default_payment_method": GOOD_CARD, "metadata": "{}"},
    )
    assert response.status_code == 302, response.content[:2000]
    invoice.refresh_from_db()
    assert invoice.status == "paid"


def test_the_api_change_of_a_card_retries_the_failed_invoices(client):
    secret = api_key_create(name="Tests").secret
    customer = make_customer(default_payment_method=DECLINED_CARD)
    [invoice] = _failed_invoices(customer, count=1)
    response = client.post(
        f"/v1/customers/{customer.public_id}",
        urlencode({"invoice_settings[default_payment_method]": "pm_card_visa"}),
        content_type="application/x-www-form-urlencoded",
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert response.status_code == 200, response.content
    invoice.refresh_from_db()
    assert invoice.status == "paid" and invoice.attempt_count == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_changes_at_once_retry_each_invoice_once():
    customer = make_customer(default_payment_method=DECLINED_CARD)
    invoices = _failed_invoices(customer, count=3)
    barrier = threading.Barrier(2)
    results, errors = [], []

    def change():
        try:
            barrier.wait()
            results.append(services.customer_change_payment_method(customer=customer, card=INSUFFICIENT_FUNDS_CARD))
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=change) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert sorted(len(r) for r in results) == [0, 3]
    for invoice in invoices:
        invoice.refresh_from_db()
        assert invoice.attempt_count == 2
        assert invoice.payment_attempts.count() == 2
