"""Quote services: create, finalize, accept (which drafts an invoice), cancel, expire."""

from datetime import datetime, timedelta

from django.db import transaction
from moneyed import Money

import audit
from billing import clock
from billing.errors import BillingError, InvalidTransition
from billing.events import record_event
from billing.models import BillingReason, Customer, EventType, Quote, QuoteLine, QuoteStatus
from billing.serializers import snapshot
from billing.services.common import UNSET, check_metadata, lock
from billing.services.invoices import LineItem, build_lines, invoice_create, recalculate_total
from billing.transitions import check_transition

DEFAULT_QUOTE_DAYS = 30


def quote_create(
    *,
    customer: Customer,
    lines: list[LineItem],
    expires_at: datetime | None = None,
    description: str = "",
    currency: str | None = None,
    metadata: dict | None = None,
) -> Quote:
    """Create a draft quote (`quote.created`)."""
    currency = (currency or customer.currency).upper()
    with transaction.atomic():
        quote = Quote.objects.create(
            customer=customer,
            status=QuoteStatus.DRAFT,
            description=description,
            total=Money(0, currency),
            expires_at=expires_at,
            metadata=check_metadata(metadata),
            created=clock.now(customer=customer),
        )
        quote.total = build_lines(lines, currency, QuoteLine, "quote", quote)
        quote.save(update_fields=["total"])
        record_event(type=EventType.QUOTE_CREATED, obj=quote)
        audit.record(
            "quote.created",
            quote,
            summary=f"Draft of {quote.total} for {customer.name}.",
            after=audit.fields(quote, "status", "total", "customer", "expires_at"),
        )
    return quote


def quote_recalculate(*, quote: Quote) -> Quote:
    """Recompute a draft quote's total from its lines (`quote.updated` when it changed)."""
    with transaction.atomic():
        return recalculate_total(quote, event_type=EventType.QUOTE_UPDATED)


def quote_finalize(*, quote: Quote) -> Quote:
    """draft → open (`quote.finalized`): numbered, with an expiry date (30 days by default)."""
    with transaction.atomic():
        quote = lock(quote)
        check_transition(quote, QuoteStatus.OPEN)
        now = clock.now(customer=quote.customer)
        if quote.expires_at is None:
            quote.expires_at = now + timedelta(days=DEFAULT_QUOTE_DAYS)
        elif quote.expires_at <= now:
            raise BillingError("The quote's expiry date has passed; choose a later one before finalizing.")
        quote.status = QuoteStatus.OPEN
        quote.finalized_at = now
        quote.number = f"QT-{quote.pk:06d}"
        quote.save(update_fields=["status", "expires_at", "finalized_at", "number", "updated"])
        record_event(type=EventType.QUOTE_FINALIZED, obj=quote)
        audit.record(
            "quote.finalized",
            quote,
            before={"status": QuoteStatus.DRAFT, "number": None},
            after=audit.fields(quote, "status", "number", "expires_at"),
        )
    return quote


def quote_accept(*, quote: Quote) -> Quote:
    """open → accepted (`quote.accepted`), drafting an invoice with the quote's lines."""
    with transaction.atomic():
        quote = lock(quote)
        check_transition(quote, QuoteStatus.ACCEPTED)
        now = clock.now(customer=quote.customer)
        if quote.expires_at and quote.expires_at <= now:
            raise InvalidTransition(f"Quote {quote} expired on {quote.expires_at:%Y-%m-%d}; it cannot be accepted.")
        invoice = invoice_create(
            customer=quote.customer,
            currency=quote.currency,
            billing_reason=BillingReason.QUOTE_ACCEPT,
            description=f"Quote {quote.number}",
            lines=[
                LineItem(
                    price=line.price,
                    product=line.product,
                    description=line.description,
                    quantity=line.quantity,
                    unit_amount=line.unit_amount,
                )
                for line in quote.lines.all()
            ],
        )
        quote.status = QuoteStatus.ACCEPTED
        quote.accepted_at = now
        quote.invoice = invoice
        quote.save(update_fields=["status", "accepted_at", "invoice", "updated"])
        record_event(type=EventType.QUOTE_ACCEPTED, obj=quote)
        audit.record(
            "quote.accepted",
            quote,
            summary=f"Drafted invoice {invoice.public_id}.",
            before={"status": QuoteStatus.OPEN, "invoice": None},
            after=audit.fields(quote, "status", "invoice"),
        )
    return quote


def quote_cancel(*, quote: Quote, reason: str = "canceled") -> Quote:
    """draft/open → canceled (`quote.canceled`); `reason` is "expired" when it ran out."""
    with transaction.atomic():
        quote = lock(quote)
        check_transition(quote, QuoteStatus.CANCELED)
        before = quote.status
        quote.status = QuoteStatus.CANCELED
        quote.canceled_at = clock.now(customer=quote.customer)
        quote.cancellation_reason = reason
        quote.save(update_fields=["status", "canceled_at", "cancellation_reason", "updated"])
        record_event(type=EventType.QUOTE_CANCELED, obj=quote)
        audit.record("quote.canceled", quote, before={"status": before}, after={"status": quote.status})
    return quote


def quote_expire_if_due(*, quote: Quote) -> Quote | None:
    """Cancel an open quote whose expiry date has passed (safe to call twice)."""
    with transaction.atomic():
        quote = lock(quote)
        now = clock.now(customer=quote.customer)
        if quote.status != QuoteStatus.OPEN or quote.expires_at is None or quote.expires_at > now:
            return None
        return quote_cancel(quote=quote, reason="expired")


def quote_update(*, quote: Quote, expires_at=UNSET, description=UNSET, metadata=UNSET) -> Quote:
    """Change a draft or open quote (`quote.updated`): a new expiry date moves its reminders."""
    with transaction.atomic():
        quote = lock(quote)
        before = snapshot(quote)
        changes = {"expires_at": expires_at, "description": description}
        if metadata is not UNSET:
            changes["metadata"] = check_metadata(metadata)
        changes = {k: v for k, v in changes.items() if v is not UNSET and getattr(quote, k) != v}
        if not changes:
            return quote
        if quote.status not in (QuoteStatus.DRAFT, QuoteStatus.OPEN):
            raise InvalidTransition(f"Quote {quote} is {quote.status}; it can no longer change.")
        if changes.get("expires_at") is not None and changes["expires_at"] <= clock.now(customer=quote.customer):
            raise BillingError("The expiry date must be in the future.")
        if "expires_at" in changes and changes["expires_at"] is None and quote.status == QuoteStatus.OPEN:
            raise BillingError("An open quote needs an expiry date.")
        audited = audit.fields(quote, *changes)
        for field, value in changes.items():
            setattr(quote, field, value)
        quote.save(update_fields=[*changes, "updated"])
        record_event(type=EventType.QUOTE_UPDATED, obj=quote, before=before)
        audit.record("quote.updated", quote, before=audited, after=audit.fields(quote, *changes))
    return quote
