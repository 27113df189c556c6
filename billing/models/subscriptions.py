from django.db import models
from django.db.models import Q

from billing.models.catalog import Price
from billing.models.customers import Customer
from billing.models.fields import PublicIdField


class SubscriptionStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    PAST_DUE = "past_due", "Past due"
    UNPAID = "unpaid", "Unpaid"
    CANCELED = "canceled", "Canceled"
    PAUSED = "paused", "Paused"


class CollectionMethod(models.TextChoices):
    CHARGE_AUTOMATICALLY = "charge_automatically", "Charge automatically"
    SEND_INVOICE = "send_invoice", "Send invoice"


class PauseBehavior(models.TextChoices):
    KEEP_AS_DRAFT = "keep_as_draft", "Keep invoices as drafts"
    MARK_UNCOLLECTIBLE = "mark_uncollectible", "Mark invoices uncollectible"
    VOID = "void", "Void invoices"


class Subscription(models.Model):
    public_id = PublicIdField(prefix="sub")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="subscriptions")
    status = models.CharField(max_length=10, choices=SubscriptionStatus, default=SubscriptionStatus.ACTIVE)
    currency = models.CharField(max_length=3)
    current_period_start = models.DateTimeField()
    current_period_end = models.DateTimeField()
    collection_method = models.CharField(
        max_length=24, choices=CollectionMethod, default=CollectionMethod.CHARGE_AUTOMATICALLY
    )
    days_until_due = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="For 'send invoice' subscriptions: days from finalization to due date."
    )
    cancel_at = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    canceled_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    cancellation_reason = models.CharField(max_length=40, blank=True)
    pause_behavior = models.CharField(max_length=20, choices=PauseBehavior, blank=True)
    pause_starts_at = models.DateTimeField(null=True, blank=True)
    pause_resumes_at = models.DateTimeField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(db_index=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [
            # Each periodic job finds what is due through its own partial index.
            models.Index(
                fields=["current_period_end"],
                name="sub_renewal_due",
                condition=Q(status__in=["active", "past_due", "unpaid", "paused"]),
            ),
            models.Index(fields=["cancel_at"], name="sub_cancel_due", condition=~Q(status="canceled")),
            models.Index(
                fields=["pause_starts_at"], name="sub_pause_due", condition=Q(status__in=["active", "past_due"])
            ),
            models.Index(fields=["pause_resumes_at"], name="sub_resume_due", condition=Q(status="paused")),
        ]

    def __str__(self) -> str:
        return self.public_id

    @property
    def interval(self) -> str | None:
        item = next(iter(self.items.all()), None)
        return item.price.interval if item else None


class SubscriptionItem(models.Model):
    public_id = PublicIdField(prefix="si")
    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="items")
    price = models.ForeignKey(Price, on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.price}"
