"""Account-level settings: one row."""

from django.conf import settings
from django.core.validators import RegexValidator, URLValidator
from django.db import models

from billing.models.retries import RetrySchedule


def _default_currency() -> str:
    return settings.DEFAULT_CURRENCY


DEFAULT_ACCENT_COLOR = "#1f5fbf"  # the dashboard's own accent (static/css/relance.css)

validate_accent_color = RegexValidator(
    r"^#[0-9a-fA-F]{6}\Z", "Enter the colour as # and six hexadecimal digits, e.g. #1f5fbf.", code="hex_color"
)
# Its own code: a model error coded "invalid" would show the form field's generic message.
validate_logo_url = URLValidator(
    schemes=["https"], code="https_url",
    message="Enter the logo's full https:// address, e.g. https://example.com/logo.png.",
)  # fmt: skip


class AccountSettings(RetrySchedule):
    """The account's defaults; the retry fields are the default retry settings."""

    default_currency = models.CharField(max_length=3, default=_default_currency)
    team_email_domains = models.JSONField(
        default=list, blank=True, help_text="Company email domains that team emails may go to, e.g. ['acme.com']."
    )
    # Branding, as Stripe's: what customers see in their emails and on the payment page
    # (billing.branding reads it, with fallbacks for the blank ones).
    business_name = models.CharField(
        max_length=100, blank=True, help_text="The name customers know you by, e.g. Acme Inc."
    )
    support_email = models.EmailField(
        blank=True, help_text="Where customers can write with questions about a payment, e.g. support@acme.com."
    )
    logo_url = models.URLField(
        max_length=500, blank=True, validators=[validate_logo_url],
        help_text="Optional: an https:// address of your logo image, shown at the top of the payment page.",
    )  # fmt: skip
    accent_color = models.CharField(
        max_length=7, default=DEFAULT_ACCENT_COLOR, validators=[validate_accent_color],
        help_text="The colour of buttons and links customers see, as #rrggbb.",
    )  # fmt: skip
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "account settings"
        verbose_name_plural = "account settings"

    def __str__(self) -> str:
        return "Account settings"

    @classmethod
    def load(cls) -> "AccountSettings":
        obj, _ = cls.objects.get_or_create(pk=1)
        return obj
