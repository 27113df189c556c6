"""Email the customer: a message per purpose (payment failed, overdue, due soon, new invoice) with
a link to the hosted invoice page, where the customer can pay or change their card.

The subject and body are the step's parameters, with {placeholders}; left empty, the purpose's
default is used, in the customer's language. Sent once per step (its idempotency key), logged in
the email log like every email.
"""

import re
from dataclasses import dataclass

from django.utils import translation
from django.utils.translation import gettext, gettext_noop

from automations.engine.actions.base import Action, ActionSkipped, InvalidParams, register, run_object
from automations.engine.actions.common import days_overdue, format_date, number_of, send_step_email
from automations.engine.actions.send_team_email import render_memo
from billing.branding import branding, customer_language
from billing.hosted import hosted_invoice_url
from billing.models import InvoiceStatus

TEMPLATE = "notifications/customer/invoice_email"
MAX_SUBJECT = 200
MAX_BODY = 5000
PLACEHOLDERS = ("customer", "number", "amount", "due_date", "days_overdue", "pay_link", "business_name")
_BRACED = re.compile(r"\{([^{}]*)\}")


@dataclass(frozen=True)
class Purpose:
    key: str
    label: str
    subject: str  # English; translated when the email is rendered, in the customer's language
    body: str

    def default_subject(self) -> str:
        return gettext(self.subject)

    def default_body(self) -> str:
        return gettext(self.body)


PURPOSES = {
    "subscription.payment_failed": Purpose(
        "payment_failed",
        "Payment failed",
        gettext_noop("Your payment for invoice {number} failed"),
        gettext_noop(
            "Hello {customer},\n\nWe could not collect the payment of {amount} for invoice {number}. "
            "Please update your card and pay the invoice here: {pay_link}\n\nThank you,\n{business_name}"
        ),
    ),
    "invoice.overdue": Purpose(
        "overdue",
        "Invoice overdue",
        gettext_noop("Invoice {number} is overdue"),
        gettext_noop(
            "Hello {customer},\n\nInvoice {number} of {amount} was due on {due_date} and is now "
            "{days_overdue} days overdue. You can pay it here: {pay_link}\n\nThank you,\n{business_name}"
        ),
    ),
    "invoice.due_date_upcoming": Purpose(
        "due_soon",
        "Invoice due soon",
        gettext_noop("Invoice {number} is due on {due_date}"),
        gettext_noop(
            "Hello {customer},\n\nA reminder that invoice {number} of {amount} is due on {due_date}. "
            "You can pay it here: {pay_link}\n\nThank you,\n{business_name}"
        ),
    ),
    "invoice.finalized": Purpose(
        "new_invoice",
        "New invoice",
        gettext_noop("Your new invoice {number}"),
        gettext_noop(
            "Hello {customer},\n\nYour invoice {number} of {amount} is ready"
            " and due on {due_date}. You can see and pay it here: {pay_link}\n\nThank you,\n{business_name}"
        ),
    ),
}


def placeholder_problem(text: str) -> str | None:
    """Why `text` cannot be sent (an unknown {placeholder}), or None."""
    unknown = [m.group(0) for m in _BRACED.finditer(text) if m.group(1).strip() not in PLACEHOLDERS]
    if not unknown:
        return None
    known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
    return f"Unknown placeholder {', '.join(dict.fromkeys(unknown))}: use {known}."


def placeholder_values(invoice, *, pay_link: str, business_name: str) -> dict:
    return {
        "customer": invoice.customer.name,
        "number": number_of(invoice),
        "amount": str(invoice.amount_remaining),
        "due_date": format_date(invoice.due_date),
        "days_overdue": days_overdue(invoice),
        "pay_link": pay_link,
        "business_name": business_name,
    }


def render_message(*, trigger: str, params: dict, invoice, pay_link: str, brand=None) -> tuple[str, str]:
    """The subject and body for `invoice`, in the active language: the step's own texts, or the
    purpose's defaults, with the placeholders filled in."""
    purpose = PURPOSES[trigger]
    values = placeholder_values(invoice, pay_link=pay_link, business_name=(brand or branding()).name)
    subject = params.get("subject") or purpose.default_subject()
    body = params.get("body") or purpose.default_body()
    return " ".join(render_memo(subject, values).split()), render_memo(body, values)


def email_context(*, trigger: str, params: dict, invoice, pay_link: str) -> dict:
    brand = branding()
    subject, body = render_message(trigger=trigger, params=params, invoice=invoice, pay_link=pay_link, brand=brand)
    return {
        "subject": subject,
        "body": body,
        "pay_link": pay_link,
        "number": number_of(invoice),
        "amount": str(invoice.amount_remaining),
        "due_date": format_date(invoice.due_date),
        "business_name": brand.name,
        "branding": brand,
        "customer_name": invoice.customer.name,
        "lang": translation.get_language(),
    }


@register
class EmailCustomer(Action):
    key = "email_customer"
    label = "Email the customer"
    allowed_triggers = set(PURPOSES)

    def clean(self, params: dict) -> dict:
        params = params or {}
        errors: dict[str, str] = {}
        cleaned = {}
        for name, limit in (("subject", MAX_SUBJECT), ("body", MAX_BODY)):
            value = params.get(name) or ""
            if not isinstance(value, str):
                errors[name] = f"Write the {name} as text."
                continue
            value = value.strip()
            if len(value) > limit:
                errors[name] = f"The {name} can be at most {limit} characters (it has {len(value)})."
            elif problem := placeholder_problem(value):
                errors[name] = problem
            cleaned[name] = value
        unknown = set(params) - {"subject", "body"}
        if unknown and not errors:
            errors["params"] = f"{self.label} takes only a subject and a body."
        if errors:
            raise InvalidParams(errors)
        return cleaned

    def describe(self, params: dict) -> str:
        return "email the customer" + (" (own text)" if params.get("subject") or params.get("body") else "")

    def execute(self, step) -> dict:
        invoice = run_object(step)
        if invoice.status != InvoiceStatus.OPEN:
            raise ActionSkipped(f"invoice is {invoice.get_status_display().lower()}")
        customer = invoice.customer
        if not customer.email:
            raise ActionSkipped("the customer has no email address")
        with translation.override(customer_language(customer)):
            context = email_context(
                trigger=step.run.trigger, params=step.params, invoice=invoice, pay_link=hosted_invoice_url(invoice)
            )
            email = send_step_email(step, to=[customer.email], template=TEMPLATE, context=context)
        return {"email": email.public_id, "to": customer.email}
