"""Two workers never send the same delivery attempt at the same moment (PostgreSQL)."""

import threading
from collections import Counter

import pytest
from django.db import connection

from billing import services
from notifications import delivery as sending
from notifications.models import DeliveryAttempt, DeliveryStatus, WebhookDelivery
from notifications.services.endpoints import endpoint_create
from tests.factories import make_invoice

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _together(work, workers: int = 2) -> None:
    barrier = threading.Barrier(workers)
    errors = []

    def run():
        try:
            barrier.wait()
            work()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors


@pytest.fixture
def no_send_at_commit(monkeypatch):
    """Queue deliveries without sending them at commit: the workers under test do the sending."""
    monkeypatch.setattr("notifications.queue.async_task", lambda *args, **kwargs: None)


def test_two_workers_sweeping_at_once_deliver_each_event_once(receiver, no_send_at_commit):
    receiver.delay = 0.02
    endpoint_create(url=receiver.url, enabled_events=["invoice.voided"])
    for _ in range(40):
        services.invoice_void(invoice=make_invoice(status="open"))
    assert WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).count() == 40
    _together(sending.deliver_due)
    bodies = Counter(r.body for r in receiver.requests)
    assert len(receiver.requests) == 40 and max(bodies.values()) == 1
    assert WebhookDelivery.objects.filter(status=DeliveryStatus.SUCCEEDED, attempt_count=1).count() == 40


def test_the_same_delivery_sent_by_two_workers_at_once_goes_out_once(receiver, no_send_at_commit):
    receiver.delay = 0.2
    endpoint_create(url=receiver.url, enabled_events=["invoice.voided"])
    services.invoice_void(invoice=make_invoice(status="open"))
    delivery = WebhookDelivery.objects.get()
    _together(lambda: sending.deliver(delivery.pk))
    assert len(receiver.requests) == 1
    delivery.refresh_from_db()
    assert delivery.attempt_count == 1 and delivery.attempts.count() == 1


def test_three_workers_draining_batches_at_once_record_exactly_one_attempt_per_delivery(receiver, no_send_at_commit):
    receiver.delay = 0.05
    for n in range(4):
        endpoint_create(url=f"{receiver.url}/{n}", enabled_events=["invoice.voided"])
    for _ in range(50):
        services.invoice_void(invoice=make_invoice(status="open"))
    assert WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).count() == 200
    _together(sending.deliver_many, workers=3)
    sent = Counter((r.path, r.body) for r in receiver.requests)
    assert len(receiver.requests) == 200 and max(sent.values()) == 1
    assert WebhookDelivery.objects.filter(status=DeliveryStatus.SUCCEEDED, attempt_count=1).count() == 200
    assert DeliveryAttempt.objects.count() == 200
