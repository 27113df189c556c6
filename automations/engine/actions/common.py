"""Helpers the actions share (not an action): the run's subscription, the trigger's details
for emails, links to the dashboard, and sending an email or webhook once per step."""

from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy

from billing import clock
from billing.models import InvoiceStatus, SubscriptionStatus
from billing.models.fields import public_id_for

DEFAULT_BASE_URL = "http://127.0.0.1:8000"

INVOICE_STATES = {
    InvoiceStatus.DRAFT: "invoice is a draft",
    InvoiceStatus.OPEN: "invoice is open",
    InvoiceStatus.PAID: "invoice is paid",
    InvoiceStatus.VOID: "invoice is void",
    InvoiceStatus.UNCOLLECTIBLE: "invoice is uncollectible",
}


def invoice_state(invoice) -> str:
    """The invoice's status as a skip reason, e.g. "invoice is void"."""
    return INVOICE_STATES.get(invoice.status, f"invoice is {invoice.status}")


_batch: ContextVar[dict | None] = ContextVar("batch_lookups", default=None)


@contextmanager
def batch_lookups():
    """Within it (one batch of steps, a few seconds), `batch_memo` answers a lookup once."""
    token = _batch.set({})
    try:
        yield
    finally:
        _batch.reset(token)


def in_batch() -> bool:
    return _batch.get() is not None


def batch_memo(key, compute):
    """`compute()`, or the answer it gave earlier in this batch of steps."""
    memo = _batch.get()
    if memo is None:
        return compute()
    if key not in memo:
        memo[key] = compute()
    return memo[key]


DONE_EARLIER = "done by an earlier attempt"


def done_earlier(step, changed_at) -> bool:
    """Whether the object reached the action's target state through an earlier attempt of this
    step (its worker stopped after the change, before the step was recorded): the step is a
    retry, and the change happened at or after the step was due."""
    return step.attempts > 1 and changed_at is not None and changed_at >= step.scheduled_at


def kind_of(obj) -> str:
    return obj._meta.model_name  # "invoice", "quote" or "subscription"


def subscription_of(obj):
    """The subscription a run is about: the object itself, or an invoice's subscription."""
    if kind_of(obj) == "subscription":
        return obj
    return getattr(obj, "subscription", None)


def base_url() -> str:
    return getattr(settings, "RELANCE_BASE_URL", DEFAULT_BASE_URL).rstrip("/")


def object_link(obj) -> str:
    """The dashboard page of an invoice, quote or subscription, as an absolute URL."""
    return base_url() + reverse(f"{kind_of(obj)}_detail", args=[obj.public_id])


def number_of(obj) -> str:
    return getattr(obj, "number", "") or obj.public_id


def format_date(value) -> str:
    return formats.date_format(timezone.localtime(value), "j M Y") if value else ""


def format_datetime(value) -> str:
    return formats.date_format(timezone.localtime(value), "j M Y, H:i T") if value else ""


# A price's interval as a customer reads it (in their language: customer-facing emails render
# inside translation.override).
PER_INTERVAL = {"month": gettext_lazy("month"), "year": gettext_lazy("year")}


def per_interval(interval: str) -> str:
    return f" / {PER_INTERVAL.get(interval, interval)}" if interval else ""


def subscription_items(subscription) -> list[dict]:
    """Each item as a line a person reads: product, quantity, price per interval."""
    rows = []
    for item in subscription.items.select_related("price__product"):
        price = item.price
        per = per_interval(price.interval)
        rows.append({"product": price.product.name, "quantity": item.quantity, "price": f"{price.unit_amount}{per}"})
    return rows


def subscription_amount(subscription) -> str:
    """What the subscription costs per period, e.g. "€40.00 / month"."""
    items = list(subscription.items.select_related("price"))
    if not items:
        return ""
    total = items[0].price.unit_amount * items[0].quantity
    for item in items[1:]:
        total += item.price.unit_amount * item.quantity
    interval = items[0].price.interval
    return f"{total}{per_interval(interval)}" if interval else str(total)


def days_overdue(obj) -> int:
    due = getattr(obj, "due_date", None) if kind_of(obj) == "invoice" else None
    if due is None or obj.status != InvoiceStatus.OPEN:
        return 0
    late = clock.now(customer=obj.customer) - due
    return max(late.days, 0)


def object_details(obj) -> dict:
    """What an email says about the trigger's object: the placeholders' values and a list of
    (label, value) rows describing the customer, the object, its amount, dates and status."""
    kind = kind_of(obj)
    customer = obj.customer
    number = number_of(obj)
    rows = [("Customer", f"{customer.name} <{customer.email}>")]
    if kind == "invoice":
        amount = str(obj.amount_remaining)
        rows += [
            ("Invoice", number),
            ("Status", obj.get_status_display()),
            ("Total", str(obj.total)),
            ("Amount due", amount),
        ]
        if obj.due_date:
            rows.append(("Due date", format_date(obj.due_date)))
        if (late := days_overdue(obj)) > 0:
            rows.append(("Days overdue", str(late)))
        if obj.attempt_count:
            rows.append(("Payment attempts", str(obj.attempt_count)))
        if obj.subscription_id:
            rows.append(("Subscription", obj.subscription.public_id))
    elif kind == "quote":
        amount = str(obj.total)
        rows += [("Quote", number), ("Status", obj.get_status_display()), ("Total", amount)]
        if obj.expires_at:
            rows.append(("Expires", format_date(obj.expires_at)))
    else:
        amount = subscription_amount(obj)
        rows += [("Subscription", number), ("Status", obj.get_status_display())]
        products = ", ".join(f"{i['quantity']} × {i['product']}" for i in subscription_items(obj))
        if products:
            rows.append(("Products", products))
        if amount:
            rows.append(("Price", amount))
        if obj.cancel_at and obj.status != SubscriptionStatus.CANCELED:
            rows.append(("Cancels on", format_date(obj.cancel_at)))
        if obj.canceled_at:
            rows.append(("Canceled on", format_date(obj.canceled_at)))
        if obj.pause_starts_at and obj.status != SubscriptionStatus.CANCELED:
            rows.append(("Collection pauses on", format_date(obj.pause_starts_at)))
        if obj.pause_resumes_at and obj.status != SubscriptionStatus.CANCELED:
            rows.append(("Collection resumes on", format_date(obj.pause_resumes_at)))
    link = object_link(obj)
    return {
        "kind": kind,
        "number": number,
        "customer_name": customer.name,
        "customer_email": customer.email,
        "amount": amount,
        "days_overdue": days_overdue(obj),
        "link": link,
        "rows": rows,
    }


def step_source(step) -> str:
    run = step.run
    return f"automation {run.automation.name}, run {run.public_id}, step {step.position}"


def send_step_email(step, *, to: list[str], template: str, context: dict):
    """Send the step's email once: a repeat (or a concurrent twin) returns the first message."""
    from notifications.email import send_templated_email
    from notifications.models import OutboundEmail

    key = step.idempotency_key
    try:
        with transaction.atomic():
            return send_templated_email(
                to=to, template=template, context=context, source=step_source(step), idempotency_key=key,
                test_clock=step.run.test_clock_id,
            )  # fmt: skip
    except IntegrityError:  # another execution of this step recorded it first
        return OutboundEmail.objects.get(idempotency_key=key)


def send_step_emails(emails: list[tuple]) -> dict[int, object]:
    """Send the emails of a set of steps, one `(step, to, template, context)` each, once per
    step (`send_step_email` for many: rendered and recorded together); by step pk."""
    from notifications.email import Message, send_templated_emails

    messages = [
        Message(
            to=to,
            template=template,
            context=context,
            source=step_source(step),
            idempotency_key=step.idempotency_key,
            test_clock=step.run.test_clock_id,
        )  # fmt: skip
        for step, to, template, context in emails
    ]
    sent = send_templated_emails(messages)
    return {step.pk: email for (step, *_), email in zip(emails, sent, strict=True)}


def webhook_event_id(step) -> str:
    """The same `evt_` id on every execution of one step, so a repeat queues nothing new; shaped
    like every other event id."""
    return public_id_for("evt", step.idempotency_key)


def emit_step_webhook(step, *, type: str, obj, data: dict | None = None) -> dict:
    from notifications.services.events import webhook_event_emit

    event_id = webhook_event_emit(type=type, obj=obj, data=data, event_id=webhook_event_id(step))
    return {"event_id": event_id, "type": type}
