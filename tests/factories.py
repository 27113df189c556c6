"""Billing objects for tests, in any status (set directly, bypassing the services)."""

from datetime import timedelta

from django.utils import timezone
from moneyed import Money

from billing.models import (
    Customer,
    Invoice,
    InvoiceLine,
    Price,
    Product,
    Quote,
    QuoteLine,
    Subscription,
    SubscriptionItem,
)

GOOD_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"
INSUFFICIENT_FUNDS_CARD = "4000000000009995"
EXPIRED_CARD = "4000000000000069"
FAILS_ONCE_CARD = "4000000000000341"


def make_customer(**fields) -> Customer:
    n = Customer.objects.count() + 1
    defaults = {
        "name": f"Customer {n}",
        "email": f"customer{n}@example.com",
        "currency": "EUR",
        "default_payment_method": GOOD_CARD,
        "metadata": {},
        "created": timezone.now(),
    }
    return Customer.objects.create(**{**defaults, **fields})


def make_price(amount="20.00", currency="EUR", interval="month", product=None, name="Pro plan") -> Price:
    product = product or Product.objects.create(name=name)
    return Price.objects.create(product=product, unit_amount=Money(amount, currency), interval=interval)


def make_invoice(status="open", amount="100.00", currency="EUR", customer=None, **fields) -> Invoice:
    customer = customer or make_customer(currency=currency)
    now = timezone.now()
    defaults = {
        "customer": customer,
        "status": status,
        "total": Money(amount, currency),
        "amount_paid": Money(0, currency),
        "created": now,
    }
    if status != "draft":
        defaults["finalized_at"] = now
    invoice = Invoice.objects.create(**{**defaults, **fields})
    if status != "draft" and not invoice.number:
        invoice.number = f"RL-{invoice.pk:06d}"
        invoice.save(update_fields=["number"])
    InvoiceLine.objects.create(
        invoice=invoice,
        description="Consulting",
        quantity=1,
        unit_amount=Money(amount, currency),
        amount=Money(amount, currency),
    )
    return invoice


def make_subscription(status="active", customer=None, price=None, **fields) -> Subscription:
    customer = customer or make_customer()
    price = price or make_price()
    now = timezone.now()
    defaults = {
        "customer": customer,
        "status": status,
        "currency": str(price.unit_amount.currency),
        "current_period_start": now - timedelta(days=10),
        "current_period_end": now + timedelta(days=20),
        "created": now - timedelta(days=10),
    }
    subscription = Subscription.objects.create(**{**defaults, **fields})
    SubscriptionItem.objects.create(subscription=subscription, price=price, quantity=1)
    return subscription


def make_quote(status="open", amount="500.00", currency="EUR", customer=None, **fields) -> Quote:
    customer = customer or make_customer(currency=currency)
    now = timezone.now()
    defaults = {
        "customer": customer,
        "status": status,
        "total": Money(amount, currency),
        "expires_at": now + timedelta(days=14),
        "created": now,
    }
    quote = Quote.objects.create(**{**defaults, **fields})
    QuoteLine.objects.create(
        quote=quote,
        description="Implementation",
        quantity=1,
        unit_amount=Money(amount, currency),
        amount=Money(amount, currency),
    )
    return quote
