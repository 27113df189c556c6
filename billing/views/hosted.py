"""The hosted invoice page: what a customer opens from an email (a signed, expiring link, no
login). It shows the invoice and, while it is open, a plain form to enter a new card and pay
now; it works without JavaScript.

A POST carries a one-time nonce, claimed in the database (PaymentPageSubmission) in the same
transaction as the card change and its retries: the form posted twice (a double click, back and
resubmit) changes the card and retries the failed invoices once.
"""

import re
import secrets

from django import forms
from django.contrib.auth.decorators import login_not_required
from django.db import IntegrityError, transaction
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.http import require_http_methods

from billing import clock, services
from billing.branding import allow_logo, branding, customer_language
from billing.errors import DomainError
from billing.hosted import PaymentLinkError, invoice_from_token
from billing.models import Invoice, InvoiceStatus, PaymentAttempt, PaymentOutcome, PaymentPageSubmission
from billing.payments.test_gateway import TEST_CARDS

PAGE = "billing/hosted_invoice.html"
NONCE = re.compile(r"[A-Za-z0-9_-]{20,64}")


class CardForm(forms.Form):
    """A test card to choose, or a card number typed in (spaces allowed)."""

    card = forms.ChoiceField(label=gettext_lazy("Test card"), required=False, widget=forms.RadioSelect)
    card_number = forms.CharField(label=gettext_lazy("Or a card number"), required=False, max_length=30)
    nonce = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["card"].choices = [(c.number, f"{c.label} ({c.number[-4:]})") for c in TEST_CARDS.values()]

    def clean_nonce(self) -> str:
        nonce = self.cleaned_data["nonce"]
        if not NONCE.fullmatch(nonce):
            raise forms.ValidationError(gettext("This form is out of date: reload the page and try again."))
        return nonce

    def clean(self):
        data = super().clean()
        typed = re.sub(r"[\s-]", "", data.get("card_number") or "")
        if typed and not re.fullmatch(r"[0-9]{12,19}", typed):
            self.add_error("card_number", gettext("Enter the card number: 12 to 19 digits."))
        elif not typed and not data.get("card"):
            self.add_error("card", gettext("Choose a card, or enter a card number."))
        data["number"] = typed or data.get("card") or ""
        return data


def _refused(request, error: PaymentLinkError):
    status = 410 if error.expired else 403
    brand = branding()
    context = {"branding": brand, "link_error": error, "expired": error.expired}
    return allow_logo(render(request, PAGE, context, status=status), brand)


def _latest_failure(invoice: Invoice) -> PaymentAttempt | None:
    attempt = invoice.payment_attempts.order_by("-created", "-id").first()
    return attempt if attempt is not None and attempt.outcome == PaymentOutcome.FAILED else None


def _page(request, invoice: Invoice, *, form=None, result: str = "", status: int = 200):
    payable = invoice.status == InvoiceStatus.OPEN
    if payable and form is None:
        form = CardForm(initial={"nonce": secrets.token_urlsafe(24)})
    brand = branding()
    context = {
        "branding": brand,
        "invoice": invoice,
        "lines": list(invoice.lines.all()),
        "form": form if payable else None,
        "failure": _latest_failure(invoice) if payable else None,
        "result": result,
    }
    return allow_logo(render(request, PAGE, context, status=status), brand)


def _pay(request, invoice: Invoice):
    """Claim the nonce, change the card and retry the failed open invoices, in one transaction."""
    form = CardForm(request.POST)
    if not form.is_valid():
        return _page(request, invoice, form=form, status=400)
    if invoice.status != InvoiceStatus.OPEN:
        return _page(request, invoice, result="already")
    nonce = form.cleaned_data["nonce"]
    try:
        with transaction.atomic():
            PaymentPageSubmission.objects.create(nonce=nonce, invoice=invoice, created=clock.now())
            services.customer_change_payment_method(customer=invoice.customer, card=form.cleaned_data["number"])
    except IntegrityError:  # this form was posted before: its card change has been made
        invoice.refresh_from_db()
        return _page(request, invoice, result="already")
    except DomainError as exc:
        form.add_error(None, exc.message)
        return _page(request, invoice, form=form, status=400)
    invoice.refresh_from_db()
    return _page(request, invoice, result="paid" if invoice.status == InvoiceStatus.PAID else "declined")


@login_not_required
@require_http_methods(["GET", "HEAD", "POST"])
def hosted_invoice(request, token: str):
    try:
        invoice = invoice_from_token(token)
    except PaymentLinkError as exc:
        return _refused(request, exc)
    with translation.override(customer_language(invoice.customer)):
        if request.method == "POST":
            return _pay(request, invoice)
        return _page(request, invoice)
