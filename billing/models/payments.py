from django.db import models
from djmoney.models.fields import MoneyField

from billing.models.fields import PublicIdField
from billing.models.invoices import Invoice


class PaymentOutcome(models.TextChoices):
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class DeclineType(models.TextChoices):
    HARD = "hard", "Hard decline"
    SOFT = "soft", "Soft decline"


class PaymentAttempt(models.Model):
    public_id = PublicIdField(prefix="pa")
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="payment_attempts")
    created = models.DateTimeField(db_index=True)
    attempt_number = models.PositiveSmallIntegerField()
    amount = MoneyField(max_digits=14, decimal_places=2)
    payment_method = models.CharField(max_length=32, blank=True)
    outcome = models.CharField(max_length=10, choices=PaymentOutcome)
    failure_code = models.CharField(max_length=40, blank=True)
    decline_type = models.CharField(max_length=4, choices=DeclineType, blank=True)
    message = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"{self.invoice} attempt {self.attempt_number}: {self.outcome}"
