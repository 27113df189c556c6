"""Invoice services: each checks the transition, saves, and records one event."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from moneyed import Money

import audit
from billing import clock
from billing.errors import BillingError, InvalidTransition
from billing.events import record_event, record_events
from billing.models import (
    AccountSettings,
    BillingReason,
    CollectionMethod,
    Customer,
    EventType,
    Invoice,
    InvoiceItem,
    InvoiceLine,
    InvoiceStatus,
    PaymentAttempt,
    PaymentOutcome,
    Price,
    Product,
    RetryPolicy,
    Subscription,
)
from billing.models.payments import DeclineType
from billing.serializers import snapshot
from billing.services.common import UNSET, check_metadata, lock, round_money
from billing.transitions import check_transition


@dataclass
class LineItem:
    """One invoice or quote line: a price (amount from it) or a description with an amount."""

    price: Price | None = None
    quantity: int = 1
    description: str = ""
    unit_amount: Money | None = None
    product: Product | None = None
    period_start: datetime | None = None
    period_end: datetime | None = None

    def resolve(self) -> tuple[str, Money, Product | None]:
        if self.quantity < 1:
            raise BillingError("Quantity must be at least 1.")
        if self.price is not None:
            unit = self.price.unit_amount
            product = self.product or self.price.product
            description = self.description or product.name
        elif self.unit_amount is not None:
            unit, product, description = self.unit_amount, self.product, self.description
            if not description:
                raise BillingError("A line without a price needs a description.")
        else:
            raise BillingError("A line needs a price or an amount.")
        if unit.amount < 0:
            raise BillingError("Line amounts cannot be negative.")
        return description, round_money(unit), product


def build_lines(lines: list[LineItem], currency: str, model, parent_field: str, parent) -> Money:
    if not lines:
        raise BillingError("Add at least one line.")
    total = Money(0, currency)
    rows = []
    for item in lines:
        description, unit, product = item.resolve()
        if str(unit.currency) != currency:
            raise BillingError(f"Line '{description}' is in {unit.currency}, but the document is in {currency}.")
        amount = unit * item.quantity
        total += amount
        row = model(
            **{parent_field: parent},
            price=item.price,
            product=product,
            description=description,
            quantity=item.quantity,
            unit_amount=unit,
            amount=amount,
        )
        if hasattr(row, "period_start"):
            row.period_start, row.period_end = item.period_start, item.period_end
        rows.append(row)
    model.objects.bulk_create(rows)
    return total


def invoice_create(
    *,
    customer: Customer,
    lines: list[LineItem],
    subscription: Subscription | None = None,
    currency: str | None = None,
    collection_method: str = CollectionMethod.CHARGE_AUTOMATICALLY,
    days_until_due: int | None = None,
    due_date: datetime | None = None,
    auto_advance: bool = True,
    description: str = "",
    metadata: dict | None = None,
    billing_reason: str = BillingReason.MANUAL,
    period_start: datetime | None = None,
    period_end: datetime | None = None,
    retry_policy: RetryPolicy | None = None,
    include_pending_items: bool = False,
) -> Invoice:
    """Create a draft invoice with its lines (`invoice.created`); with `include_pending_items`,
    the customer's pending invoice items in its currency become lines too."""
    currency = (currency or customer.currency).upper()
    if collection_method == CollectionMethod.SEND_INVOICE and days_until_due is None and due_date is None:
        days_until_due = 30
    with transaction.atomic():
        now = clock.now(customer=customer)
        invoice = Invoice.objects.create(
            customer=customer,
            subscription=subscription,
            status=InvoiceStatus.DRAFT,
            billing_reason=billing_reason,
            description=description,
            total=Money(0, currency),
            amount_paid=Money(0, currency),
            collection_method=collection_method,
            days_until_due=days_until_due,
            due_date=due_date,
            auto_advance=auto_advance,
            metadata=check_metadata(metadata),
            retry_policy=retry_policy,
            period_start=period_start,
            period_end=period_end,
            created=now,
        )
        pending = list(pending_items(customer, currency).select_for_update()) if include_pending_items else []
        # Without pending items, build_lines refuses an invoice with no line at all.
        total = build_lines(lines, currency, InvoiceLine, "invoice", invoice) if lines or not pending else None
        invoice.total = put_items_on(invoice, pending, total or Money(0, currency))
        invoice.save(update_fields=["total"])
        record_event(type=EventType.INVOICE_CREATED, obj=invoice)
        audit.record(
            "invoice.created",
            invoice,
            summary=f"Draft of {invoice.total} for {customer.name}.",
            after=audit.fields(invoice, "status", "total", "customer", "collection_method"),
        )
    return invoice


def pending_items(customer: Customer, currency: str):
    """The customer's invoice items waiting for their next invoice in `currency`, oldest first."""
    return InvoiceItem.objects.filter(customer=customer, invoice__isnull=True, amount_currency=currency).order_by("id")


def put_items_on(invoice: Invoice, items: list[InvoiceItem], total: Money) -> Money:
    """Make each invoice item a line of `invoice` (a draft, locked by the caller); returns `total`
    plus their amounts."""
    for item in items:
        if item.currency != invoice.currency:
            raise BillingError(
                f"Invoice item '{item.description}' is in {item.currency}, the invoice in {invoice.currency}."
            )
        item.line = InvoiceLine.objects.create(
            invoice=invoice,
            product=item.product,
            price=item.price,
            description=item.description,
            quantity=item.quantity,
            unit_amount=item.unit_amount,
            amount=item.amount,
        )
        item.invoice = invoice
        item.save(update_fields=["invoice", "line"])
        total += item.amount
    return total


def invoice_item_create(
    *,
    item: LineItem,
    customer: Customer | None = None,
    invoice: Invoice | None = None,
    metadata: dict | None = None,
) -> InvoiceItem:
    """An invoice item (Stripe's): on `invoice`, a draft, as a new line (`invoice.updated` with the
    new total); without an invoice, pending until the customer's next invoice picks it up."""
    description, unit, product = item.resolve()
    with transaction.atomic():
        if invoice is not None:
            invoice = lock(invoice)
            if customer is not None and invoice.customer_id != customer.pk:
                raise BillingError(f"Invoice {invoice} belongs to another customer.")
            if invoice.status != InvoiceStatus.DRAFT:
                raise InvalidTransition(
                    f"Invoice {invoice} is {invoice.status}; invoice items can be added to draft invoices only."
                )
            customer = invoice.customer
        if customer is None:
            raise BillingError("An invoice item needs a customer or a draft invoice.")
        created = InvoiceItem.objects.create(
            customer=customer,
            product=product,
            price=item.price,
            description=description,
            quantity=item.quantity,
            unit_amount=unit,
            amount=unit * item.quantity,
            metadata=check_metadata(metadata),
            created=clock.now(customer=customer),
        )
        if invoice is not None:
            put_items_on(invoice, [created], invoice.total)
            recalculate_total(invoice, event_type=EventType.INVOICE_UPDATED)
        audit.record(
            "invoice_item.created",
            created,
            summary=f"{created.amount} for {customer.name}" + (f", on invoice {invoice}." if invoice else ", pending."),
            after=audit.fields(created, "description", "quantity", "amount", "customer", "invoice"),
        )
    return created


def recalculate_total(document, *, event_type: str):
    """Recompute a draft invoice's or quote's line amounts and total after its lines were edited.

    Records `event_type` when the total changed. Runs inside the caller's transaction.
    """
    document = lock(document)
    kind = document._meta.verbose_name
    if document.status != "draft":
        raise InvalidTransition(f"{kind.capitalize()} {document} is {document.status}; only drafts can change lines.")
    lines = list(document.lines.all())
    if not lines:
        raise BillingError(f"A {kind} needs at least one line.")
    before = snapshot(document)
    total = Money(0, document.currency)
    for line in lines:
        if str(line.unit_amount.currency) != document.currency:
            raise BillingError(f"Line '{line.description}' is not in {document.currency}.")
        expected = line.unit_amount * line.quantity
        if line.amount != expected:
            line.amount = expected
            line.save(update_fields=["amount", "amount_currency"])
        total += expected
    if total != document.total:
        document.total = total
        document.save(update_fields=["total", "total_currency", "updated"])
        record_event(type=event_type, obj=document, before=before)
    return document


def invoice_recalculate(*, invoice: Invoice) -> Invoice:
    """Recompute a draft invoice's total from its lines (`invoice.updated` when it changed)."""
    with transaction.atomic():
        return recalculate_total(invoice, event_type=EventType.INVOICE_UPDATED)


def invoice_finalize(*, invoice: Invoice) -> Invoice:
    """draft → open (`invoice.finalized`): numbered; a 'send invoice' invoice gets its due date."""
    with transaction.atomic():
        invoice = lock(invoice)
        check_transition(invoice, InvoiceStatus.OPEN)
        now = clock.now(customer=invoice.customer)
        invoice.status = InvoiceStatus.OPEN
        invoice.finalized_at = now
        invoice.number = f"RL-{invoice.pk:06d}"
        if invoice.collection_method == CollectionMethod.SEND_INVOICE and invoice.due_date is None:
            invoice.due_date = now + timedelta(days=invoice.days_until_due or 30)
        invoice.save(update_fields=["status", "finalized_at", "number", "due_date", "updated"])
        record_event(type=EventType.INVOICE_FINALIZED, obj=invoice)
        audit.record(
            "invoice.finalized",
            invoice,
            before={"status": InvoiceStatus.DRAFT, "number": None},
            after=audit.fields(invoice, "status", "number", "due_date"),
        )
    return invoice


def invoice_record_paid(*, invoice: Invoice, paid_out_of_band: bool = True) -> Invoice:
    """open/uncollectible → paid (`invoice.paid`): the invoice's side of `invoice_mark_paid`."""
    with transaction.atomic():
        invoice = lock(invoice)
        check_transition(invoice, InvoiceStatus.PAID)
        before = audit.fields(invoice, "status", "amount_paid")
        invoice.status = InvoiceStatus.PAID
        invoice.paid_at = clock.now(customer=invoice.customer)
        invoice.amount_paid = invoice.total
        invoice.paid_out_of_band = paid_out_of_band
        invoice.next_payment_attempt = None
        invoice.save(
            update_fields=[
                "status",
                "paid_at",
                "amount_paid",
                "amount_paid_currency",
                "paid_out_of_band",
                "next_payment_attempt",
                "updated",
            ]
        )
        record_event(type=EventType.INVOICE_PAID, obj=invoice)
        audit.record(
            "invoice.paid",
            invoice,
            summary="Marked paid out of band." if paid_out_of_band else "Paid by a payment attempt.",
            before=before,
            after=audit.fields(invoice, "status", "amount_paid"),
        )
    return invoice


def _close(invoice: Invoice, target: str, stamp: str, event_type: str) -> Invoice:
    """Move an invoice to a closing status, stamp the time, stop its retries, record the event."""
    with transaction.atomic():
        invoice = lock(invoice)
        check_transition(invoice, target)
        before = invoice.status
        invoice.status = target
        setattr(invoice, stamp, clock.now(customer=invoice.customer))
        invoice.next_payment_attempt = None
        invoice.save(update_fields=["status", stamp, "next_payment_attempt", "updated"])
        record_event(type=event_type, obj=invoice)
        audit.record(event_type, invoice, before={"status": before}, after={"status": target})
    return invoice


def invoice_void(*, invoice: Invoice) -> Invoice:
    """open/uncollectible → void (`invoice.voided`)."""
    return _close(invoice, InvoiceStatus.VOID, "voided_at", EventType.INVOICE_VOIDED)


def invoice_mark_uncollectible(*, invoice: Invoice) -> Invoice:
    """open → uncollectible (`invoice.marked_uncollectible`): bad debt, no more retries."""
    return _close(
        invoice, InvoiceStatus.UNCOLLECTIBLE, "marked_uncollectible_at", EventType.INVOICE_MARKED_UNCOLLECTIBLE
    )


CLOSINGS = {
    InvoiceStatus.VOID: ("voided_at", EventType.INVOICE_VOIDED),
    InvoiceStatus.UNCOLLECTIBLE: ("marked_uncollectible_at", EventType.INVOICE_MARKED_UNCOLLECTIBLE),
}


def invoices_close(*, invoices: list[Invoice], target: str) -> tuple[list[Invoice], dict[int, str]]:
    """Void many invoices, or mark them uncollectible, at once: what `invoice_void` /
    `invoice_mark_uncollectible` do one by one, as a set (one update, one insert of events).

    For a batch of automation steps: the caller holds the invoices' row locks (read with
    `select_for_update` in this transaction, with their customer, subscription and
    `lines_prefetch`, so that the events' snapshots need no query per invoice). Returns the
    closed invoices, and for each one left out (its status forbids it) why, by invoice pk.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("invoices_close needs the transaction that holds the invoices' locks")
    stamp, event_type = CLOSINGS[target]
    closing, refused = [], {}
    for invoice in invoices:
        try:
            check_transition(invoice, target)
        except InvalidTransition as exc:
            refused[invoice.pk] = exc.message
            continue
        closing.append(invoice)
    updated, now = timezone.now(), clock.now()
    at: dict[datetime, list[Invoice]] = {}  # one moment for real time, and one per test clock
    for invoice in closing:
        moment = clock.now(customer=invoice.customer) if invoice.customer.test_clock_id else now
        at.setdefault(moment, []).append(invoice)
    for moment, group in at.items():
        Invoice.objects.filter(pk__in=[invoice.pk for invoice in group]).update(
            **{"status": target, stamp: moment, "next_payment_attempt": None, "updated": updated}
        )
        for invoice in group:
            before = invoice.status
            invoice.status, invoice.next_payment_attempt, invoice.updated = target, None, updated
            setattr(invoice, stamp, moment)
            audit.record(event_type, invoice, before={"status": before}, after={"status": target})
    record_events([(event_type, invoice) for invoice in closing])
    return closing, refused


def invoice_mark_overdue(*, invoice: Invoice) -> Invoice:
    """Flag an open invoice past its due date (`invoice.overdue`), once per invoice."""
    with transaction.atomic():
        invoice = lock(invoice)
        now = clock.now(customer=invoice.customer)
        if invoice.status != InvoiceStatus.OPEN:
            raise InvalidTransition(f"Invoice {invoice} is {invoice.status}; only open invoices become overdue.")
        if invoice.overdue_at is not None:
            raise InvalidTransition(f"Invoice {invoice} was already found overdue.")
        if invoice.due_date is None or invoice.due_date > now:
            raise InvalidTransition(f"Invoice {invoice} is not past its due date.")
        invoice.overdue_at = now
        invoice.save(update_fields=["overdue_at", "updated"])
        record_event(type=EventType.INVOICE_OVERDUE, obj=invoice)
    return invoice


def invoices_mark_overdue(*, invoices: list[Invoice]) -> list[Invoice]:
    """Flag many open invoices past their due date at once (one `invoice.overdue` each).

    For the overdue sweep: the caller holds the invoices' row locks (its SKIP LOCKED claim, in
    this transaction) and loaded them with their customer and lines. Invoices that are no longer
    eligible are left out; the flagged ones are returned.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("invoices_mark_overdue needs the transaction that holds the invoices' locks")
    now, updated = clock.now(), timezone.now()  # one moment for the whole batch
    done = [
        invoice
        for invoice in invoices
        if invoice.status == InvoiceStatus.OPEN
        and invoice.overdue_at is None
        and invoice.due_date is not None
        and invoice.due_date <= now
    ]
    Invoice.objects.filter(pk__in=[invoice.pk for invoice in done]).update(overdue_at=now, updated=updated)
    for invoice in done:
        invoice.overdue_at, invoice.updated = now, updated
    record_events([(EventType.INVOICE_OVERDUE, invoice) for invoice in done])
    return done


def invoice_update_fields(
    *,
    invoice: Invoice,
    due_date=UNSET,
    auto_advance=UNSET,
    description=UNSET,
    metadata=UNSET,
    retry_policy=UNSET,
) -> Invoice:
    """Change an invoice's editable fields (`invoice.updated` with the previous values).

    A new retry policy replans the next retry; when it leaves none, `invoice_update` applies
    the policy's end behaviour.
    """
    with transaction.atomic():
        invoice = lock(invoice)
        before = snapshot(invoice)
        changes = {
            "due_date": due_date,
            "auto_advance": auto_advance,
            "description": description,
            "retry_policy": retry_policy,
        }
        if metadata is not UNSET:
            changes["metadata"] = check_metadata(metadata)
        changes = {k: v for k, v in changes.items() if v is not UNSET and getattr(invoice, k) != v}
        if not changes:
            return invoice
        if set(changes) - {"metadata"} and invoice.status not in (InvoiceStatus.DRAFT, InvoiceStatus.OPEN):
            raise InvalidTransition(f"Invoice {invoice} is {invoice.status}; only its metadata can change.")
        audited = audit.fields(invoice, *changes)
        for field, value in changes.items():
            setattr(invoice, field, value)
        fields = list(changes)
        if "auto_advance" in changes and not invoice.auto_advance:
            invoice.next_payment_attempt = None
            fields.append("next_payment_attempt")
        replanned = "retry_policy" in changes and invoice.first_failed_at and invoice.status == InvoiceStatus.OPEN
        if replanned:
            invoice.next_payment_attempt = next_retry_time(invoice)
            fields.append("next_payment_attempt")
        invoice.save(update_fields=[*fields, "updated"])
        record_event(type=EventType.INVOICE_UPDATED, obj=invoice, before=before)
        audit.record("invoice.updated", invoice, before=audited, after=audit.fields(invoice, *changes))
    return invoice


def scheduled_retry_time(invoice: Invoice) -> datetime | None:
    """When the retry schedule has the next retry of a failed invoice, or None when retries are
    exhausted (or off), whatever the last decline was.

    The schedule is the invoice's retry policy, else the account's default retry settings;
    offsets count from the first failed attempt.
    """
    if not invoice.auto_advance or invoice.first_failed_at is None:
        return None
    offsets = _retry_offsets(invoice)
    retries_done = max(invoice.attempt_count - 1, 0)
    if retries_done >= len(offsets):
        return None
    return max(invoice.first_failed_at + offsets[retries_done], clock.now(customer=invoice.customer))


def next_retry_time(invoice: Invoice) -> datetime | None:
    """When the next automatic retry is due: the schedule's, except after a hard decline with the
    card the customer still has (retrying it cannot succeed: None until the card changes)."""
    if retry_hold(invoice) is not None:
        return None
    return scheduled_retry_time(invoice)


def retry_hold(invoice: Invoice) -> PaymentAttempt | None:
    """The hard-declined attempt that holds automatic retries: the invoice's latest attempt, when
    it failed with a hard decline and the customer still has the card it used."""
    latest = invoice.payment_attempts.order_by("-created", "-id").first()
    if latest is None or latest.outcome != PaymentOutcome.FAILED or latest.decline_type != DeclineType.HARD:
        return None
    if latest.payment_method != invoice.customer.default_payment_method:
        return None
    return latest


def retry_window_end(invoice: Invoice) -> datetime | None:
    """When the retry schedule's last retry falls (from the first failure), None before a failure."""
    if invoice.first_failed_at is None:
        return None
    offsets = _retry_offsets(invoice)
    return invoice.first_failed_at + (offsets[-1] if offsets else timedelta(0))


def _retry_offsets(invoice: Invoice) -> list[timedelta]:
    schedule = invoice.retry_policy or AccountSettings.load()
    return schedule.retry_offsets()


def retry_end_behavior(invoice: Invoice) -> str:
    schedule = invoice.retry_policy or AccountSettings.load()
    return schedule.end_behavior
