"""Account-level settings: one row."""

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import models

from billing.models.retries import RetrySchedule


def _default_currency() -> str:
    return settings.DEFAULT_CURRENCY


DEFAULT_ACCENT_COLOR = "#1f5fbf"  # the dashboard's own accent (static/css/relance.css)

HEX_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
MIN_CONTRAST = 4.5  # WCAG AA for text: links in the accent colour, white text on its buttons


def contrast_with_white(color: str) -> float:
    """WCAG's contrast ratio between `#rrggbb` and white (1 to 21)."""

    def channel(hex_pair: str) -> float:
        c = int(hex_pair, 16) / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(color[i : i + 2]) for i in (1, 3, 5))
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return 1.05 / (luminance + 0.05)


def validate_accent_color(value: str) -> None:
    """`#rrggbb`, dark enough for customers to read links in it and white text on it."""
    if not isinstance(value, str) or not HEX_COLOR.fullmatch(value):
        raise ValidationError("Enter the colour as # and six hexadecimal digits, e.g. #1f5fbf.", code="hex_color")
    if (ratio := contrast_with_white(value)) < MIN_CONTRAST:
        raise ValidationError(
            f"{value} is too light for customers to read links in it or white text on it (contrast "
            f"{ratio:.1f}:1 with white, at least {MIN_CONTRAST}:1 needed): choose a darker colour.",
            code="low_contrast",
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
