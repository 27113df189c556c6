"""The hosted invoice page's links: signed, expiring, carrying the invoice's public id (no login).

A link is `<base URL>/pay/<token>/`, the token a TimestampSigner signature of the public id with
its own salt and the link's lifetime inside it, so a link made to last 30 days cannot be
stretched by the reader.
"""

from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.urls import reverse

from billing.errors import DomainError
from billing.models import Invoice

SALT = "relance.billing.hosted_invoice"
DEFAULT_LIFETIME = timedelta(days=30)
DEFAULT_BASE_URL = "http://127.0.0.1:8000"


class PaymentLinkError(DomainError):
    """A payment link that cannot be used; `expired` tells an old link from a forged one."""

    def __init__(self, message: str, *, expired: bool = False):
        super().__init__(message)
        self.expired = expired


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=SALT)


def hosted_invoice_path(invoice: Invoice, *, expires_in: timedelta = DEFAULT_LIFETIME) -> str:
    seconds = int(expires_in.total_seconds())
    token = _signer().sign_object({"i": invoice.public_id, "s": seconds})
    return reverse("hosted_invoice", args=[token])


def hosted_invoice_url(invoice: Invoice, *, expires_in: timedelta = DEFAULT_LIFETIME) -> str:
    """The absolute address of the invoice's payment page, valid for `expires_in`."""
    base = (getattr(settings, "RELANCE_BASE_URL", "") or DEFAULT_BASE_URL).rstrip("/")
    return base + hosted_invoice_path(invoice, expires_in=expires_in)


def invoice_from_token(token: str) -> Invoice:
    """The invoice a link is for; PaymentLinkError when the link is expired, altered or unknown."""
    signer = _signer()
    try:
        data = signer.unsign_object(token)
    except signing.BadSignature as exc:  # SignatureExpired is not raised without max_age
        raise PaymentLinkError("This payment link is not valid.") from exc
    if not isinstance(data, dict) or not isinstance(data.get("i"), str) or not isinstance(data.get("s"), int):
        raise PaymentLinkError("This payment link is not valid.")
    try:
        signer.unsign_object(token, max_age=data["s"])
    except signing.SignatureExpired as exc:
        raise PaymentLinkError("This payment link has expired.", expired=True) from exc
    invoice = Invoice.objects.select_related("customer").filter(public_id=data["i"]).first()
    if invoice is None:
        raise PaymentLinkError("This payment link is not valid.")
    return invoice
