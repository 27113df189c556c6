"""django-q2 entry points for webhooks and email. Each takes ids and calls a service
(`notifications.queue` queues them)."""

from notifications.delivery import deliver_due, deliver_many
from notifications.email import send, send_due


def deliver_webhooks(delivery_ids: list[int]) -> int:
    """Send these deliveries, then whatever else is due (for a few seconds), many at once."""
    return deliver_many(delivery_ids)


def deliver_webhook(delivery_id: int) -> None:
    """One delivery (a resend; also tasks queued before deliveries were sent in batches)."""
    deliver_webhooks([delivery_id])


def send_email(email_id: int) -> None:
    send(email_id)


def run_sweep() -> int:
    """Send whatever is due: deliveries and emails to retry, or left behind by a dead worker."""
    return deliver_due() + send_due()
