from django.db import models

from billing.models.invoices import Invoice


class PaymentPageSubmission(models.Model):
    """A card posted on the hosted invoice page, claimed by the form's one-time nonce: the form
    posted twice (a double click, back and resubmit) changes the card and retries once."""

    nonce = models.CharField(max_length=64, unique=True)
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="payment_page_submissions")
    created = models.DateTimeField()

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"{self.invoice} payment page submission"
