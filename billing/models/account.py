"""Account-level settings: one row."""

from django.conf import settings
from django.db import models

from billing.models.retries import RetrySchedule


def _default_currency() -> str:
    return settings.DEFAULT_CURRENCY


class AccountSettings(RetrySchedule):
    """The account's defaults; the retry fields are the default retry settings."""

    default_currency = models.CharField(max_length=3, default=_default_currency)
    team_email_domains = models.JSONField(
        default=list, blank=True, help_text="Company email domains that team emails may go to, e.g. ['acme.com']."
    )
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
