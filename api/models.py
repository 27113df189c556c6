"""API keys (Stripe's secret `sk_…` and restricted read-only `rk_…` keys, stored hashed) and the
responses remembered for `Idempotency-Key` requests."""

from django.conf import settings
from django.db import models

from billing.models.fields import PublicIdField


class KeyKind(models.TextChoices):
    SECRET = "secret", "Secret (full access)"
    RESTRICTED = "restricted", "Restricted (read only)"


class ApiKey(models.Model):
    """A key: shown once when created, kept as its SHA-256 (`hashed`) and its last four characters."""

    public_id = PublicIdField(prefix="key")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=KeyKind, default=KeyKind.SECRET)
    hashed = models.CharField(max_length=64, unique=True, editable=False)
    last4 = models.CharField(max_length=4, editable=False)
    created = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.redacted})"

    @property
    def read_only(self) -> bool:
        return self.kind == KeyKind.RESTRICTED

    @property
    def redacted(self) -> str:
        prefix = "rk" if self.read_only else "sk"
        return f"{prefix}_…{self.last4}"


class IdempotentRequest(models.Model):
    """The first response to a POST with an `Idempotency-Key`: a repeat with the same parameters
    gets it again; other parameters are refused. Forgotten after 24 hours."""

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the request's parameters.")
    status = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Empty while the first is running.")
    body = models.TextField(blank=True)
    created = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["api_key", "key"], name="one_request_per_idempotency_key")]

    def __str__(self) -> str:
        return f"{self.method} {self.path} ({self.key})"
