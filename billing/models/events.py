from django.db import models

from billing.models.fields import DocumentField, PublicIdField


class EventType(models.TextChoices):
    CUSTOMER_CREATED = "customer.created"
    CUSTOMER_UPDATED = "customer.updated"
    INVOICE_CREATED = "invoice.created"
    INVOICE_FINALIZED = "invoice.finalized"
    INVOICE_PAYMENT_FAILED = "invoice.payment_failed"
    INVOICE_PAID = "invoice.paid"
    INVOICE_VOIDED = "invoice.voided"
    INVOICE_MARKED_UNCOLLECTIBLE = "invoice.marked_uncollectible"
    INVOICE_OVERDUE = "invoice.overdue"
    INVOICE_UPDATED = "invoice.updated"
    SUBSCRIPTION_CREATED = "customer.subscription.created"
    SUBSCRIPTION_UPDATED = "customer.subscription.updated"
    SUBSCRIPTION_DELETED = "customer.subscription.deleted"
    QUOTE_CREATED = "quote.created"
    QUOTE_UPDATED = "quote.updated"
    QUOTE_FINALIZED = "quote.finalized"
    QUOTE_ACCEPTED = "quote.accepted"
    QUOTE_CANCELED = "quote.canceled"


class Event(models.Model):
    """A billing state change, with the object's snapshot at that moment (Stripe's event shape)."""

    public_id = PublicIdField(prefix="evt")
    type = models.CharField(max_length=60, choices=EventType, db_index=True)
    created = models.DateTimeField(db_index=True)
    object_type = models.CharField(max_length=30)
    object_id = models.CharField(max_length=40, db_index=True, help_text="Public id of the object.")
    customer_id = models.CharField(max_length=40, blank=True, db_index=True)
    test_clock = models.ForeignKey(
        "billing.TestClock", to_field="public_id", on_delete=models.CASCADE, null=True, blank=True, related_name="+",
        help_text="The test clock of the event's customer: it happened in simulated time.",
    )  # fmt: skip
    data_object = DocumentField()
    previous_attributes = DocumentField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [
            # The admin's list of one type, newest first (migration 0010).
            models.Index(fields=["type", "-created", "-id"], name="event_type_created"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.object_id}"

    def as_payload(self) -> dict:
        """The event as Stripe would send it."""
        data: dict = {"object": self.data_object}
        if self.previous_attributes is not None:
            data["previous_attributes"] = self.previous_attributes
        return {
            "id": self.public_id,
            "object": "event",
            "type": self.type,
            "created": int(self.created.timestamp()),
            "livemode": False,
            "data": data,
        }
