"""Queueing the notifications' django-q2 tasks (`notifications.tasks`), named by dotted path.

A task is queued only once the transaction that recorded its work commits: a worker then finds
the rows, and a rollback queues nothing.
"""

from contextlib import contextmanager

from django.conf import settings
from django.db import connection, transaction
from django_q.tasks import async_task

DELIVER_WEBHOOKS = "notifications.tasks.deliver_webhooks"
SEND_EMAIL = "notifications.tasks.send_email"


@contextmanager
def unflushed():
    """Queue the tasks of the block without waiting for the disk: with django-q2's ORM broker on
    PostgreSQL, outside a transaction, each queued task is a commit, and a commit waits for its
    flush (milliseconds, several per request). The broker is not what says what is still to do:
    a task a database crash forgets is made up for by the sweeps (events not handled, steps whose
    lease ran out, queued emails and deliveries)."""
    if connection.vendor != "postgresql" or "orm" not in settings.Q_CLUSTER or connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
        yield


def _deliver(ids: list[int]) -> None:
    with unflushed():
        async_task(DELIVER_WEBHOOKS, ids)


def _send(email_id: int) -> None:
    with unflushed():
        async_task(SEND_EMAIL, email_id)


def enqueue_deliveries(delivery_ids: list[int]) -> None:
    """Start sending once the transaction that queued the deliveries commits: one task for all of them."""
    ids = list(delivery_ids)
    transaction.on_commit(lambda: _deliver(ids))


def enqueue_delivery(delivery_id: int) -> None:
    enqueue_deliveries([delivery_id])


def enqueue_email(email_id: int) -> None:
    transaction.on_commit(lambda: _send(email_id))
