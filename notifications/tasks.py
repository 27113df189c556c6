"""django-q2 entry points for webhooks and email. Each takes ids and calls a service."""

from django.db import transaction
from django_q.tasks import async_task


def deliver_webhooks(delivery_ids: list[int]) -> int:
    """Send these deliveries, then whatever else is due (for a few seconds), many at once."""
    from notifications.delivery import deliver_many

    return deliver_many(delivery_ids)


def deliver_webhook(delivery_id: int) -> None:
    """One delivery (a resend; also tasks queued before deliveries were sent in batches)."""
    deliver_webhooks([delivery_id])


def send_email(email_id: int) -> None:
    from notifications.email import send

    send(email_id)


def run_sweep() -> int:
    """Send whatever is due: deliveries and emails to retry, or left behind by a dead worker."""
    from notifications.delivery import deliver_due
    from notifications.email import send_due

    return deliver_due() + send_due()


def enqueue_deliveries(delivery_ids: list[int]) -> None:
    """Start sending once the transaction that queued the deliveries commits: one task for all of them."""
    ids = list(delivery_ids)
    transaction.on_commit(lambda: async_task("notifications.tasks.deliver_webhooks", ids))


def enqueue_delivery(delivery_id: int) -> None:
    enqueue_deliveries([delivery_id])


def enqueue_email(email_id: int) -> None:
    transaction.on_commit(lambda: async_task("notifications.tasks.send_email", email_id))
