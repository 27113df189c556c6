from django.db import models
from django.db.models import Q
from djmoney.models.fields import MoneyField

from billing.models.catalog import Price, Product
from billing.models.customers import Customer
from billing.models.fields import PublicIdField
from billing.models.invoices import Invoice


class QuoteStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    OPEN = "open", "Open"
    ACCEPTED = "accepted", "Accepted"
    CANCELED = "canceled", "Canceled"


class Quote(models.Model):
    public_id = PublicIdField(prefix="qt")
    number = models.CharField(max_length=32, blank=True, db_index=True)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="quotes")
    status = models.CharField(max_length=10, choices=QuoteStatus, default=QuoteStatus.DRAFT)
    description = models.CharField(max_length=500, blank=True)
    total = MoneyField(max_digits=14, decimal_places=2)
    expires_at = models.DateTimeField(null=True, blank=True)
    invoice = models.OneToOneField(Invoice, on_delete=models.PROTECT, null=True, blank=True, related_name="quote")
    cancellation_reason = models.CharField(max_length=40, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(db_index=True)
    finalized_at = models.DateTimeField(null=True, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    canceled_at = models.DateTimeField(null=True, blank=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["expires_at"], name="quote_expiry_due", condition=Q(status="open"))]

    def __str__(self) -> str:
        return self.number or self.public_id

    @property
    def currency(self) -> str:
        return str(self.total.currency)


class QuoteLine(models.Model):
    quote = models.ForeignKey(Quote, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    price = models.ForeignKey(Price, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    description = models.CharField(max_length=300)
    quantity = models.PositiveIntegerField(default=1)
    unit_amount = MoneyField(max_digits=14, decimal_places=2)
    amount = MoneyField(max_digits=14, decimal_places=2)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.description
