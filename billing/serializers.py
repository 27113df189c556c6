"""Stripe-shaped JSON snapshots of billing objects, used in event payloads."""

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Prefetch
from moneyed import Money

from billing.models import Customer, Invoice, PaymentOutcome, Quote, Subscription


def to_minor_units(money: Money) -> int:
    """Money as an integer count of the currency's smallest unit (cents), as Stripe sends it."""
    sub_unit = money.currency.sub_unit or 1
    return int((money.amount * sub_unit).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _ts(value: datetime | None) -> int | None:
    return int(value.timestamp()) if value else None


def serialize_customer(customer: Customer) -> dict:
    return {
        "id": customer.public_id,
        "object": "customer",
        "name": customer.name,
        "email": customer.email,
        "currency": customer.currency.lower(),
        "metadata": dict(customer.metadata),
        "default_payment_method": customer.default_payment_method or None,
        "created": _ts(customer.created),
        "test_clock": customer.test_clock_id,
    }


def serialize_subscription(subscription: Subscription) -> dict:
    items = list(subscription.items.select_related("price__product"))
    pause = None
    if subscription.pause_behavior:
        pause = {
            "behavior": subscription.pause_behavior,
            "starts_at": _ts(subscription.pause_starts_at),
            "resumes_at": _ts(subscription.pause_resumes_at),
        }
    return {
        "id": subscription.public_id,
        "object": "subscription",
        "customer": subscription.customer.public_id,
        "status": subscription.status,
        "currency": subscription.currency.lower(),
        "collection_method": subscription.collection_method,
        "days_until_due": subscription.days_until_due,
        "current_period_start": _ts(subscription.current_period_start),
        "current_period_end": _ts(subscription.current_period_end),
        "cancel_at": _ts(subscription.cancel_at),
        "cancel_at_period_end": subscription.cancel_at_period_end,
        "canceled_at": _ts(subscription.canceled_at),
        "ended_at": _ts(subscription.ended_at),
        "cancellation_details": {"reason": subscription.cancellation_reason or None},
        "pause_collection": pause,
        "items": {
            "object": "list",
            "data": [
                {
                    "id": item.public_id,
                    "object": "subscription_item",
                    "quantity": item.quantity,
                    "price": {
                        "id": item.price.public_id,
                        "object": "price",
                        "product": item.price.product.public_id,
                        "unit_amount": to_minor_units(item.price.unit_amount),
                        "currency": str(item.price.unit_amount.currency).lower(),
                        "recurring": {"interval": item.price.interval} if item.price.interval else None,
                    },
                }
                for item in items
            ],
        },
        "metadata": dict(subscription.metadata),
        "created": _ts(subscription.created),
        "test_clock": subscription.customer.test_clock_id,
    }


BATCH_LINES = "batch_lines"


def lines_prefetch(model) -> Prefetch:
    """For a batch of invoices or quotes to serialize: their lines with product and price in one
    query, kept as a plain list (`to_attr`). A prefetch into the related manager would make a
    queryset per document, which django-money's manager makes costly (bench: billing_sweep)."""
    lines = model.lines.field.model  # InvoiceLine or QuoteLine
    return Prefetch("lines", queryset=lines.objects.select_related("product", "price"), to_attr=BATCH_LINES)


def _lines(document) -> list:
    """The document's lines with their product and price: prefetched ones when a batch loaded them."""
    if (batch := getattr(document, BATCH_LINES, None)) is not None:
        return batch
    prefetched = getattr(document, "_prefetched_objects_cache", {})
    if "lines" in prefetched:
        return list(prefetched["lines"])  # not `document.lines.all()`: a manager per call is costly in a batch
    return list(document.lines.select_related("product", "price"))


def last_payment_error(invoice: Invoice) -> dict | None:
    """The invoice's latest failed payment attempt (as Stripe's `last_payment_error`, with our
    decline type), or None when no attempt has failed: what the payment-failed filters read."""
    if not invoice.attempt_count:
        return None  # never attempted: no query
    failed = (
        invoice.payment_attempts.filter(outcome=PaymentOutcome.FAILED)
        .order_by("-created", "-id")
        .values("failure_code", "decline_type", "message")
        .first()
    )
    if failed is None:
        return None
    return {"code": failed["failure_code"], "decline_type": failed["decline_type"], "message": failed["message"]}


def serialize_invoice(invoice: Invoice) -> dict:
    lines = _lines(invoice)
    return {
        "id": invoice.public_id,
        "object": "invoice",
        "number": invoice.number or None,
        "customer": invoice.customer.public_id,
        "customer_email": invoice.customer.email,
        "customer_name": invoice.customer.name,
        "subscription": invoice.subscription.public_id if invoice.subscription_id else None,
        "status": invoice.status,
        "billing_reason": invoice.billing_reason,
        "description": invoice.description or None,
        "currency": invoice.currency.lower(),
        "total": to_minor_units(invoice.total),
        "amount_due": to_minor_units(invoice.total),
        "amount_paid": to_minor_units(invoice.amount_paid),
        "amount_remaining": to_minor_units(invoice.amount_remaining),
        "collection_method": invoice.collection_method,
        "due_date": _ts(invoice.due_date),
        "auto_advance": invoice.auto_advance,
        "attempt_count": invoice.attempt_count,
        "attempted": invoice.attempt_count > 0,
        "next_payment_attempt": _ts(invoice.next_payment_attempt),
        "last_payment_error": last_payment_error(invoice),
        "retry_policy": invoice.retry_policy.name if invoice.retry_policy_id else None,
        "paid_out_of_band": invoice.paid_out_of_band,
        "period_start": _ts(invoice.period_start),
        "period_end": _ts(invoice.period_end),
        "lines": {
            "object": "list",
            "data": [
                {
                    "id": line.public_id,
                    "object": "line_item",
                    "description": line.description,
                    "quantity": line.quantity,
                    "amount": to_minor_units(line.amount),
                    "currency": str(line.amount.currency).lower(),
                    "product": line.product.public_id if line.product_id else None,
                    "price": line.price.public_id if line.price_id else None,
                    "period": {"start": _ts(line.period_start), "end": _ts(line.period_end)},
                }
                for line in lines
            ],
        },
        "status_transitions": {
            "finalized_at": _ts(invoice.finalized_at),
            "paid_at": _ts(invoice.paid_at),
            "voided_at": _ts(invoice.voided_at),
            "marked_uncollectible_at": _ts(invoice.marked_uncollectible_at),
        },
        "metadata": dict(invoice.metadata),
        "created": _ts(invoice.created),
        "test_clock": invoice.customer.test_clock_id,
    }


def serialize_quote(quote: Quote) -> dict:
    lines = _lines(quote)
    return {
        "id": quote.public_id,
        "object": "quote",
        "number": quote.number or None,
        "customer": quote.customer.public_id,
        "status": quote.status,
        "description": quote.description or None,
        "currency": quote.currency.lower(),
        "amount_total": to_minor_units(quote.total),
        "expires_at": _ts(quote.expires_at),
        "invoice": quote.invoice.public_id if quote.invoice_id else None,
        "line_items": {
            "object": "list",
            "data": [
                {
                    "description": line.description,
                    "quantity": line.quantity,
                    "amount_total": to_minor_units(line.amount),
                    "product": line.product.public_id if line.product_id else None,
                    "price": line.price.public_id if line.price_id else None,
                }
                for line in lines
            ],
        },
        "status_transitions": {
            "finalized_at": _ts(quote.finalized_at),
            "accepted_at": _ts(quote.accepted_at),
            "canceled_at": _ts(quote.canceled_at),
        },
        "cancellation_reason": quote.cancellation_reason or None,
        "metadata": dict(quote.metadata),
        "created": _ts(quote.created),
        "test_clock": quote.customer.test_clock_id,
    }


SERIALIZERS = {
    "customer": serialize_customer,
    "subscription": serialize_subscription,
    "invoice": serialize_invoice,
    "quote": serialize_quote,
}


def snapshot(obj) -> dict:
    """The Stripe-shaped snapshot of a customer, subscription, invoice or quote."""
    return SERIALIZERS[obj._meta.model_name](obj)
