"""The transitions an editor can make from a billing object's page: each names its button, when
it is offered (from billing.transitions' tables and the object's dates), the service it calls,
the form it takes and the message it leaves. Destructive ones ask for confirmation first.

A plain registry (like the admin's actions): adding a transition is adding a row.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from billing import clock, services
from billing.forms import InvoiceDueDateForm, PauseCollectionForm, ScheduleCancellationForm, TransitionForm
from billing.models import InvoiceStatus, PaymentOutcome, QuoteStatus, SubscriptionStatus
from billing.transitions import INVOICE_TRANSITIONS, QUOTE_TRANSITIONS, SUBSCRIPTION_TRANSITIONS
from frame.permissions import is_editor

Report = tuple[int, str]


def _when(moment) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M}" if moment else "—"


def _done(template: str) -> Callable[[Any, Any], Report]:
    """A success message naming the object as the service returned it: '{obj}' in `template`."""
    return lambda obj, result: (messages.SUCCESS, template.format(obj=result))


@dataclass(frozen=True)
class Transition:
    name: str  # in the URL
    label: str  # the button that offers it
    offered: Callable[[Any], bool]  # valid for the object's current state
    call: Callable[..., Any]  # call(obj, **form kwargs): the billing service
    report: Callable[[Any, Any], Report]  # (obj, service result) → message level and text
    confirm: str = ""  # destructive: the question its confirmation dialog asks
    form_class: type[TransitionForm] | None = None
    submit: str = ""  # the dialog's submit button (defaults to the label)
    title: str = ""  # the dialog's heading (defaults to the label)

    @property
    def destructive(self) -> bool:
        return bool(self.confirm)

    @property
    def needs_dialog(self) -> bool:
        return self.destructive or self.form_class is not None

    @property
    def submit_label(self) -> str:
        return self.submit or self.label


def _allowed(table: dict[str, set[str]], target: str) -> Callable[[Any], bool]:
    return lambda obj: target in table[obj.status]


# --- Invoices ---------------------------------------------------------------------------------


def _payment_report(invoice, attempt) -> Report:
    if attempt.outcome == PaymentOutcome.SUCCEEDED:
        return messages.SUCCESS, f"Payment of {attempt.amount} succeeded: invoice {invoice} is paid."
    reason = attempt.failure_code or "declined"
    if attempt.message:
        reason = f"{reason} ({attempt.message})"
    return messages.WARNING, f"Payment of {attempt.amount} failed: {reason}."


def _can_be_flagged_overdue(invoice) -> bool:
    return (
        invoice.status == InvoiceStatus.OPEN
        and invoice.overdue_at is None
        and invoice.due_date is not None
        and invoice.due_date <= clock.now(customer=invoice.customer)
    )


INVOICE: dict[str, Transition] = {
    t.name: t
    for t in [
        Transition(
            "finalize", "Finalize", _allowed(INVOICE_TRANSITIONS, InvoiceStatus.OPEN),
            lambda invoice: services.invoice_finalize(invoice=invoice), _done("Invoice {obj} finalized."),
        ),
        Transition(
            "attempt-payment", "Attempt payment", _allowed(INVOICE_TRANSITIONS, InvoiceStatus.PAID),
            lambda invoice: services.invoice_attempt_payment(invoice=invoice), _payment_report,
        ),
        Transition(
            "mark-paid", "Mark paid", _allowed(INVOICE_TRANSITIONS, InvoiceStatus.PAID),
            lambda invoice: services.invoice_mark_paid(invoice=invoice, paid_out_of_band=True),
            _done("Invoice {obj} marked paid (paid out of band)."),
        ),
        Transition(
            "change-due-date", "Change due date", lambda i: i.status in (InvoiceStatus.DRAFT, InvoiceStatus.OPEN),
            lambda invoice, due_date: services.invoice_update(invoice=invoice, due_date=due_date),
            lambda invoice, result: (
                messages.SUCCESS, f"Invoice {result} is now due {_when(result.due_date)}.",
            ),
            form_class=InvoiceDueDateForm, submit="Save due date",
        ),
        Transition(
            "mark-overdue", "Mark overdue", _can_be_flagged_overdue,
            lambda invoice: services.invoice_mark_overdue(invoice=invoice), _done("Invoice {obj} marked overdue."),
        ),
        Transition(
            "mark-uncollectible", "Mark uncollectible", _allowed(INVOICE_TRANSITIONS, InvoiceStatus.UNCOLLECTIBLE),
            lambda invoice: services.invoice_mark_uncollectible(invoice=invoice),
            _done("Invoice {obj} marked uncollectible."),
            confirm="Mark this invoice uncollectible? It is written off as bad debt and no more payments are attempted.",
        ),
        Transition(
            "void", "Void invoice", _allowed(INVOICE_TRANSITIONS, InvoiceStatus.VOID),
            lambda invoice: services.invoice_void(invoice=invoice), _done("Invoice {obj} voided."),
            confirm="Void this invoice? Nothing more is owed on it, and this cannot be undone.",
        ),
    ]
}  # fmt: skip


# --- Subscriptions ----------------------------------------------------------------------------


def _pause_report(subscription, result) -> Report:
    if result.status == SubscriptionStatus.PAUSED:
        return messages.SUCCESS, f"Payment collection of subscription {result} paused."
    return messages.SUCCESS, f"Payment collection of subscription {result} pauses {_when(result.pause_starts_at)}."


def _not_canceled(subscription) -> bool:
    return subscription.status != SubscriptionStatus.CANCELED


SUBSCRIPTION: dict[str, Transition] = {
    t.name: t
    for t in [
        Transition(
            "schedule-cancellation", "Schedule cancellation", _not_canceled,
            lambda sub, **when: services.subscription_schedule_cancel(subscription=sub, **when),
            lambda sub, result: (
                messages.SUCCESS, f"Subscription {result} will be canceled {_when(result.cancel_at)}.",
            ),
            form_class=ScheduleCancellationForm,
        ),
        Transition(
            "unschedule-cancellation", "Unschedule cancellation", lambda s: _not_canceled(s) and bool(s.cancel_at),
            lambda sub: services.subscription_unschedule_cancel(subscription=sub),
            _done("Subscription {obj} will no longer be canceled."),
        ),
        Transition(
            "pause-collection", "Pause collection",
            lambda s: SubscriptionStatus.PAUSED in SUBSCRIPTION_TRANSITIONS[s.status] and not s.pause_starts_at,
            lambda sub, **pause: services.subscription_pause_collection(
                subscription=sub, behavior=pause["behavior"], starts_at=pause.get("starts_at"),
                resumes_at=pause.get("resumes_at"),
            ),
            _pause_report, form_class=PauseCollectionForm,
        ),
        Transition(
            "resume-collection", "Resume collection",
            lambda s: s.status == SubscriptionStatus.PAUSED or (_not_canceled(s) and bool(s.pause_starts_at)),
            lambda sub: services.subscription_resume_collection(subscription=sub),
            _done("Payment collection of subscription {obj} resumed."),
        ),
        Transition(
            "cancel", "Cancel subscription", _allowed(SUBSCRIPTION_TRANSITIONS, SubscriptionStatus.CANCELED),
            lambda sub: services.subscription_cancel(subscription=sub), _done("Subscription {obj} canceled."),
            confirm="Cancel this subscription now? It stops invoicing at once, its open invoices are no longer "
            "collected automatically, and this cannot be undone.",
        ),
    ]
}  # fmt: skip


# --- Quotes -----------------------------------------------------------------------------------

QUOTE: dict[str, Transition] = {
    t.name: t
    for t in [
        Transition(
            "finalize", "Finalize", _allowed(QUOTE_TRANSITIONS, QuoteStatus.OPEN),
            lambda quote: services.quote_finalize(quote=quote), _done("Quote {obj} finalized."),
        ),
        Transition(
            "accept", "Accept", _allowed(QUOTE_TRANSITIONS, QuoteStatus.ACCEPTED),
            lambda quote: services.quote_accept(quote=quote),
            lambda quote, result: (
                messages.SUCCESS, f"Quote {result} accepted: draft invoice {result.invoice} created.",
            ),
        ),
        Transition(
            "cancel", "Cancel quote", _allowed(QUOTE_TRANSITIONS, QuoteStatus.CANCELED),
            lambda quote: services.quote_cancel(quote=quote), _done("Quote {obj} canceled."),
            confirm="Cancel this quote? The customer can no longer accept it, and this cannot be undone.",
        ),
    ]
}  # fmt: skip

TRANSITIONS: dict[str, dict[str, Transition]] = {"invoice": INVOICE, "subscription": SUBSCRIPTION, "quote": QUOTE}


def find(kind: str, name: str) -> Transition | None:
    return TRANSITIONS.get(kind, {}).get(name)


def transition_url(obj, transition: Transition, *, confirm: bool = False) -> str:
    kind = obj._meta.model_name
    url_name = f"{kind}_transition_confirm" if confirm else f"{kind}_transition"
    return reverse(url_name, args=[obj.public_id, transition.name])


@dataclass
class Control:
    """One transition as the page offers it: its URLs, its dialog, its form (bound after an error)."""

    transition: Transition
    url: str
    confirm_url: str
    dialog_id: str
    form: TransitionForm | None = None
    reopen: bool = False  # the last attempt failed: show its dialog again, with the errors


def controls(request: HttpRequest, obj, *, failed: str = "", bound_form: TransitionForm | None = None) -> list[Control]:
    """The transitions valid for `obj`'s current state, for editors only (viewers get none)."""
    if not is_editor(request.user):
        return []
    offered = []
    for transition in TRANSITIONS.get(obj._meta.model_name, {}).values():
        if not transition.offered(obj):
            continue
        form = None
        if transition.form_class is not None:
            form = bound_form if failed == transition.name and bound_form else transition.form_class(obj=obj)
        offered.append(
            Control(
                transition,
                url=transition_url(obj, transition),
                confirm_url=transition_url(obj, transition, confirm=True),
                dialog_id=f"transition-{transition.name}",
                form=form,
                reopen=failed == transition.name and transition.needs_dialog,
            )
        )
    return offered
