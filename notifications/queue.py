"""Queueing the notifications' django-q2 tasks (`notifications.tasks`), named by dotted path.

A task is queued only once the transaction that recorded its work commits: a worker then finds
the rows, and a rollback queues nothing.
"""

from django.db import transaction
from django_q.tasks import async_task

DELIVER_WEBHOOKS = "notifications.tasks.deliver_webhooks"
SEND_EMAIL = "notifications.tasks.send_email"


def enqueue_deliveries(delivery_ids: list[int]) -> None:
    """Start sending once the transaction that queued the deliveries commits: one task for all of them."""
    ids = list(delivery_ids)
    transaction.on_commit(lambda: async_task(DELIVER_WEBHOOKS, ids))


def enqueue_delivery(delivery_id: int) -> None:
    enqueue_deliveries([delivery_id])


def enqueue_email(email_id: int) -> None:
    transaction.on_commit(lambda: async_task(SEND_EMAIL, email_id))
