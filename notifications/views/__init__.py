"""Settings → Webhooks (editors only) and Settings → Email log (everyone may look)."""

from notifications.views.emails import email_detail, email_html, email_list, email_resend
from notifications.views.webhooks import (
    delivery_detail,
    delivery_resend,
    webhook_add,
    webhook_delete,
    webhook_detail,
    webhook_edit,
    webhook_list,
    webhook_roll_secret,
    webhook_set_enabled,
)

__all__ = [
    "delivery_detail",
    "delivery_resend",
    "email_detail",
    "email_html",
    "email_list",
    "email_resend",
    "webhook_add",
    "webhook_delete",
    "webhook_detail",
    "webhook_edit",
    "webhook_list",
    "webhook_roll_secret",
    "webhook_set_enabled",
]
