"""django-q2 entry points for webhooks and email. Each takes an id and calls a service."""

from django.db import transaction
from django_q.tasks import async_task


def deliver_webhook(delivery_id: int) -> None:
    from notifications.delivery import deliver

    deliver(delivery_id)


def send_email(email_id: int) -> None:
    from notifications.email import send

    send(email_id)


def run_sweep() -> int:
    """Send whatever is due: deliveries and emails to retry, or left behind by a dead worker."""
    from notifications.delivery import deliver_due
    from notifications.email import send_due

    return deliver_due() + send_due()


def enqueue_delivery(delivery_id: int) -> None:
    """Start sending once the transaction that queued the delivery commits."""
    transaction.on_commit(lambda: async_task("notifications.tasks.deliver_webhook", delivery_id))


def enqueue_email(email_id: int) -> None:
    transaction.on_commit(lambda: async_task("notifications.tasks.send_email", email_id))
