"""The builder's preview of an "Email the customer" step: its subject and body for a real
invoice, in the invoice's customer's language, before saving. Nothing is sent.

The step's "Preview" button posts the builder form here (htmx swaps the answer under the step;
without JavaScript the preview is a page of its own)."""

import re

from django.db.models import Q
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import translation
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_POST

from automations.engine.actions.base import InvalidParams
from automations.engine.actions.email_customer import PURPOSES, EmailCustomer, render_message
from billing.branding import customer_language
from billing.hosted import hosted_invoice_url
from billing.models import Invoice, InvoiceStatus
from frame.htmx import HtmxHttpRequest, wants_fragment
from frame.permissions import editor_required

PAGE = "automations/email_preview.html"
INDEX = re.compile(r"[0-9]{1,4}")
MAX_QUERY = 64


def _find_invoice(text: str) -> Invoice | None:
    if not text or len(text) > MAX_QUERY:
        return None
    return (
        Invoice.objects.select_related("customer")
        .filter(Q(public_id=text) | Q(number=text))
        .exclude(status=InvoiceStatus.DRAFT)
        .order_by("-created")
        .first()
    )


def _preview(data) -> dict:
    """The preview's context: subject and body, or the error to show instead."""
    index = data.get("preview_step", "")
    if not INDEX.fullmatch(index):
        return {"error": "Choose the step to preview."}
    prefix = f"step-{index}-"
    trigger = data.get("trigger", "")
    if trigger not in PURPOSES:
        return {"error": "Choose a trigger that emails the customer: payment failed, invoice overdue, "
                "due date upcoming or invoice finalized."}  # fmt: skip
    try:
        params = EmailCustomer().clean(
            {"subject": data.get(prefix + "subject", ""), "body": data.get(prefix + "body", "")}
        )
    except InvalidParams as exc:
        return {"error": " ".join(exc.errors.values())}
    query = data.get(prefix + "preview_invoice", "").strip()
    if not query:
        return {"error": "Enter the id or number of an invoice to preview the email with."}
    invoice = _find_invoice(query)
    if invoice is None:
        return {"error": f"No finalized invoice has the id or number “{query[:MAX_QUERY]}”."}
    customer = invoice.customer
    with translation.override(customer_language(customer)):
        subject, body = render_message(
            trigger=trigger, params=params, invoice=invoice, pay_link=hosted_invoice_url(invoice)
        )
    return {"invoice": invoice, "to": customer.email, "subject": subject, "body": body, "prefix": prefix}


@editor_required
@require_POST
def email_customer_preview(request: HtmxHttpRequest) -> HttpResponse:
    context = _preview(request.POST)
    template = PAGE + "#preview" if wants_fragment(request) else PAGE
    response = render(request, template, context, status=400 if "error" in context else 200)
    patch_vary_headers(response, ["HX-Request"])
    return response
