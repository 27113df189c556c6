"""Invoice items: pending until the customer's next invoice in their currency picks them up, or a
line of a draft invoice at once."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from moneyed import Money

from billing import jobs, services
from billing.errors import BillingError, InvalidTransition
from billing.models import Event, InvoiceItem
from tests.factories import make_customer, make_invoice, make_price, make_quote

pytestmark = pytest.mark.django_db


def pending(customer, amount="7.00", currency="EUR", description="Overage"):
    return services.invoice_item_create(
        customer=customer, item=services.LineItem(unit_amount=Money(amount, currency), description=description)
    )


def test_a_pending_item_waits_for_the_next_invoice_and_becomes_one_of_its_lines():
    customer = make_customer()
    item = pending(customer)
    assert item.invoice is None and item.amount == Money("7.00", "EUR")
    invoice = services.invoice_create(
        customer=customer, lines=[services.LineItem(unit_amount=Money(10, "EUR"), description="Work")],
        include_pending_items=True,
    )  # fmt: skip
    item.refresh_from_db()
    assert item.invoice == invoice and item.line.invoice == invoice
    assert invoice.total == Money("17.00", "EUR")
    assert [line.description for line in invoice.lines.all()] == ["Work", "Overage"]


def test_an_invoice_of_pending_items_alone_is_made_of_them():
    customer = make_customer()
    pending(customer, "3.00")
    pending(customer, "4.00")
    invoice = services.invoice_create(customer=customer, lines=[], include_pending_items=True)
    assert invoice.total == Money("7.00", "EUR") and invoice.lines.count() == 2


def test_items_in_another_currency_and_invoices_not_asking_for_them_leave_them_pending():
    customer = make_customer()
    other = pending(customer, currency="USD")
    kept = pending(customer)
    services.invoice_create(customer=customer, lines=[services.LineItem(unit_amount=Money(1, "EUR"), description="x")])
    services.invoice_create(customer=customer, lines=[], include_pending_items=True)
    other.refresh_from_db()
    kept.refresh_from_db()
    assert other.invoice is None and kept.invoice is not None
    with pytest.raises(BillingError, match="at least one line"):
        services.invoice_create(customer=make_customer(), lines=[], include_pending_items=True)


def test_a_subscription_renewal_takes_the_pending_items():
    customer = make_customer()
    subscription = services.subscription_create(customer=customer, items=[(make_price("20.00"), 1)])
    item = pending(customer, "5.00")
    with time_machine.travel(timezone.now() + timedelta(days=32), tick=False):
        assert jobs.run_renewals() == 1
    renewal = subscription.invoices.get(billing_reason="subscription_cycle")
    assert renewal.total == Money("25.00", "EUR") and renewal.status == "paid"
    item.refresh_from_db()
    assert item.invoice == renewal


def test_an_accepted_quote_does_not_take_the_pending_items():
    quote = make_quote()
    item = pending(quote.customer)
    accepted = services.quote_accept(quote=quote)
    assert accepted.invoice.total == quote.total
    item.refresh_from_db()
    assert item.invoice is None


def test_an_item_on_a_draft_invoice_is_a_new_line_and_updates_its_total():
    invoice = make_invoice(status="draft", amount="100.00")
    price = make_price("15.00", interval="", name="Extra seat")
    item = services.invoice_item_create(invoice=invoice, item=services.LineItem(price=price, quantity=2))
    invoice.refresh_from_db()
    assert item.invoice == invoice and item.customer == invoice.customer and item.description == "Extra seat"
    assert invoice.total == Money("130.00", "EUR") and invoice.lines.count() == 2
    assert Event.objects.filter(type="invoice.updated", object_id=invoice.public_id).count() == 1


@pytest.mark.parametrize("status", ["open", "paid", "void", "uncollectible"])
def test_an_item_is_refused_on_an_invoice_that_is_no_longer_a_draft(status):
    invoice = make_invoice(status=status)
    with pytest.raises(InvalidTransition, match="draft invoices only"):
        services.invoice_item_create(
            invoice=invoice, item=services.LineItem(unit_amount=Money(1, "EUR"), description="x")
        )
    assert not InvoiceItem.objects.exists()


def test_an_item_is_refused_on_another_customers_invoice_or_in_another_currency():
    invoice = make_invoice(status="draft")
    with pytest.raises(BillingError, match="another customer"):
        services.invoice_item_create(
            customer=make_customer(), invoice=invoice,
            item=services.LineItem(unit_amount=Money(1, "EUR"), description="x"),
        )  # fmt: skip
    with pytest.raises(BillingError, match="is in USD"):
        services.invoice_item_create(
            invoice=invoice, item=services.LineItem(unit_amount=Money(1, "USD"), description="x")
        )
    assert not InvoiceItem.objects.exists()
