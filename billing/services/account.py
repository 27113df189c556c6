"""The account's settings: default currency, default retry settings, team email domains and branding."""

from django.db import transaction

import audit
from billing.models import AccountSettings

AUDITED = (
    "default_currency",
    "schedule_kind",
    "max_retries",
    "within_days",
    "day_offsets",
    "end_behavior",
    "team_email_domains",
    "business_name",
    "support_email",
    "logo_url",
    "accent_color",
)


def account_settings_save(*, account: AccountSettings) -> AccountSettings:
    """Save settings that a form has checked and set on `account` (the dashboard's or the
    admin's), recording what changed in the audit log."""
    with transaction.atomic():
        stored = AccountSettings.objects.select_for_update().filter(pk=account.pk).first()
        before = audit.fields(stored, *AUDITED) if stored is not None else None
        account.save()
        audit.record("account.updated", account, before=before, after=audit.fields(account, *AUDITED))
    return account
