"""Webhook endpoints and their deliveries; outbound emails. The tables are the source of truth
for what still has to be sent: a worker that dies leaves a row that the sweep picks up again."""

from django.db import models
from django.db.models import Q

from billing.models.fields import PublicIdField


class WebhookEndpoint(models.Model):
    public_id = PublicIdField(prefix="we")
    url = models.URLField(max_length=2048)
    description = models.CharField(max_length=300, blank=True)
    enabled_events = models.JSONField(default=list, help_text="Event types sent to this endpoint.")
    enabled = models.BooleanField(default=True)
    secret = models.CharField(max_length=80)
    previous_secret = models.CharField(max_length=80, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return self.url

    @property
    def masked_secret(self) -> str:
        return f"{self.secret[:10]}…{self.secret[-4:]}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class WebhookDelivery(models.Model):
    """One event for one endpoint; retried until a 2xx answer or for up to 3 days."""

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.CharField(max_length=40, help_text="The evt_ id, the same on every attempt.")
    event_type = models.CharField(max_length=60)
    body = models.TextField(help_text="The JSON payload, byte for byte the same on every attempt.")
    status = models.CharField(max_length=10, choices=DeliveryStatus, default=DeliveryStatus.PENDING)
    attempt_count = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(
        null=True, blank=True, help_text="A worker holds this delivery until then; past it, another may retry."
    )
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    retry_until = models.DateTimeField(help_text="Failed attempts are retried until then (3 days; reset by a resend).")
    created = models.DateTimeField(db_index=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event_id"], name="one_delivery_per_event_and_endpoint")
        ]
        indexes = [
            models.Index(fields=["next_attempt_at"], name="delivery_due", condition=Q(status="pending")),
        ]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id} → {self.endpoint}"


class DeliveryAttempt(models.Model):
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_excerpt = models.CharField(max_length=500, blank=True)
    error = models.CharField(max_length=500, blank=True)
    succeeded = models.BooleanField(default=False)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"attempt {self.number}: {self.status_code or self.error}"


class EmailStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    SIMULATED = "simulated", "Simulated (test clock)"


class OutboundEmail(models.Model):
    """An email as rendered once; retried with backoff on SMTP errors, never silently lost."""

    public_id = PublicIdField(prefix="em")
    idempotency_key = models.CharField(max_length=200, null=True, blank=True, unique=True)
    source = models.CharField(max_length=200, blank=True, help_text="What sent it, e.g. an automation run step.")
    template = models.CharField(max_length=200)
    from_email = models.CharField(max_length=300)
    recipients = models.JSONField()
    subject = models.CharField(max_length=300)
    text_body = models.TextField()
    html_body = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=EmailStatus, default=EmailStatus.QUEUED)
    attempt_count = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created = models.DateTimeField(db_index=True)
    # An email about an object on a test clock is recorded, never sent over SMTP.
    test_clock = models.ForeignKey(
        "billing.TestClock", to_field="public_id", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["next_attempt_at"], name="email_due", condition=Q(status="queued"))]

    def __str__(self) -> str:
        return f"{self.subject} → {', '.join(self.recipients)}"
