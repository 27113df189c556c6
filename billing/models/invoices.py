from django.db import models
from django.db.models import Q
from djmoney.models.fields import MoneyField

from billing.models.catalog import Price, Product
from billing.models.customers import Customer
from billing.models.fields import PublicIdField
from billing.models.retries import RetryPolicy
from billing.models.subscriptions import CollectionMethod, Subscription


class InvoiceStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    OPEN = "open", "Open"
    PAID = "paid", "Paid"
    VOID = "void", "Void"
    UNCOLLECTIBLE = "uncollectible", "Uncollectible"


class BillingReason(models.TextChoices):
    MANUAL = "manual", "Manual"
    SUBSCRIPTION_CREATE = "subscription_create", "Subscription created"
    SUBSCRIPTION_CYCLE = "subscription_cycle", "Subscription renewal"
    QUOTE_ACCEPT = "quote_accept", "Quote accepted"


class Invoice(models.Model):
    public_id = PublicIdField(prefix="in")
    number = models.CharField(max_length=32, blank=True, db_index=True)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="invoices")
    subscription = models.ForeignKey(
        Subscription, on_delete=models.PROTECT, null=True, blank=True, related_name="invoices"
    )
    status = models.CharField(max_length=13, choices=InvoiceStatus, default=InvoiceStatus.DRAFT)
    billing_reason = models.CharField(max_length=24, choices=BillingReason, default=BillingReason.MANUAL)
    description = models.CharField(max_length=500, blank=True)
    total = MoneyField(max_digits=14, decimal_places=2)
    amount_paid = MoneyField(max_digits=14, decimal_places=2)
    collection_method = models.CharField(
        max_length=24, choices=CollectionMethod, default=CollectionMethod.CHARGE_AUTOMATICALLY
    )
    days_until_due = models.PositiveSmallIntegerField(null=True, blank=True)
    due_date = models.DateTimeField(null=True, blank=True)
    auto_advance = models.BooleanField(default=True)
    attempt_count = models.PositiveSmallIntegerField(default=0)
    next_payment_attempt = models.DateTimeField(null=True, blank=True)
    first_failed_at = models.DateTimeField(null=True, blank=True)
    retry_policy = models.ForeignKey(
        RetryPolicy, on_delete=models.PROTECT, null=True, blank=True, related_name="invoices"
    )
    paid_out_of_band = models.BooleanField(default=False)
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(db_index=True)
    finalized_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    marked_uncollectible_at = models.DateTimeField(null=True, blank=True)
    overdue_at = models.DateTimeField(null=True, blank=True, help_text="When the invoice was found overdue.")
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [
            models.Index(fields=["status", "-created"], name="invoice_status_created"),
            models.Index(  # (due_date, id): the sweep's order, ties included, read straight off the index
                fields=["due_date", "id"],
                name="invoice_overdue_due",
                condition=Q(status="open", overdue_at__isnull=True, due_date__isnull=False),
            ),
            models.Index(
                fields=["next_payment_attempt"],
                name="invoice_retry_due",
                condition=Q(status="open", next_payment_attempt__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return self.number or self.public_id

    @property
    def currency(self) -> str:
        return str(self.total.currency)

    @property
    def amount_remaining(self):
        return self.total - self.amount_paid


class InvoiceLine(models.Model):
    public_id = PublicIdField(prefix="il")
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    price = models.ForeignKey(Price, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    description = models.CharField(max_length=300)
    quantity = models.PositiveIntegerField(default=1)
    unit_amount = MoneyField(max_digits=14, decimal_places=2)
    amount = MoneyField(max_digits=14, decimal_places=2)
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.description


class InvoiceItem(models.Model):
    """Stripe's invoice item: an amount for a customer, pending until their next invoice picks it
    up, or put straight on a draft invoice. Once invoiced it is one of the invoice's lines."""

    public_id = PublicIdField(prefix="ii")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="invoice_items")
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, null=True, blank=True, related_name="invoice_items")
    line = models.OneToOneField(
        InvoiceLine, on_delete=models.SET_NULL, null=True, blank=True, related_name="invoice_item"
    )
    product = models.ForeignKey(Product, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    price = models.ForeignKey(Price, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    description = models.CharField(max_length=300)
    quantity = models.PositiveIntegerField(default=1)
    unit_amount = MoneyField(max_digits=14, decimal_places=2)
    amount = MoneyField(max_digits=14, decimal_places=2)
    metadata = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [
            models.Index(fields=["customer", "id"], name="invoiceitem_pending", condition=Q(invoice__isnull=True))
        ]

    def __str__(self) -> str:
        return self.description

    @property
    def currency(self) -> str:
        return str(self.amount.currency)
