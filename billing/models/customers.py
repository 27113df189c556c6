from django.conf import settings
from django.db import models

from billing.models.fields import PublicIdField


def _default_currency() -> str:
    return settings.DEFAULT_CURRENCY


class Locale(models.TextChoices):
    """The languages customer-facing emails and the payment page speak (settings.LANGUAGES)."""

    DEFAULT = "", "Account default"
    EN = "en", "English"
    FR = "fr", "Français"


class Customer(models.Model):
    public_id = PublicIdField(prefix="cus")
    name = models.CharField(max_length=200)
    email = models.EmailField()
    currency = models.CharField(max_length=3, default=_default_currency)
    metadata = models.JSONField(default=dict, blank=True)
    default_payment_method = models.CharField(
        max_length=32, blank=True, help_text="A test card number, e.g. 4242424242424242."
    )
    # Stripe's `test_clock`: the customer and everything of theirs live at the clock's time.
    # Keyed by the clock's public id, so snapshots name it without a join.
    test_clock = models.ForeignKey(
        "billing.TestClock", to_field="public_id", on_delete=models.CASCADE, null=True, blank=True,
        related_name="customers",
    )  # fmt: skip
    # Stripe's `preferred_locales` is a list; we keep the first: the language of the customer's
    # emails and payment page (billing.branding.customer_language).
    preferred_locale = models.CharField(max_length=5, choices=Locale.choices, default="", blank=True)
    created = models.DateTimeField(db_index=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["email"])]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"
