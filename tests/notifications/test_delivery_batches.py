"""A worker sends due deliveries many at a time: each attempt is still claimed, checked, signed
and recorded exactly once, and failures still back off."""

import socket
from datetime import timedelta

import pytest
import stripe
from django.db import transaction
from django.utils import timezone

from billing import clock
from notifications import delivery as sending
from notifications.models import DeliveryAttempt, DeliveryStatus, WebhookDelivery
from notifications.services.endpoints import endpoint_create
from notifications.services.events import queue_deliveries

pytestmark = pytest.mark.django_db


@pytest.fixture
def tasks(monkeypatch):
    """The tasks queued after commit, instead of running them: the tests send by hand."""
    queued = []
    monkeypatch.setattr("notifications.queue.async_task", lambda *args, **kwargs: queued.append(args))
    return queued


def _events(count: int, event_type: str = "invoice.voided") -> list[str]:
    ids = []
    for n in range(count):
        with transaction.atomic():
            event_id = f"evt_batch_{n}"
            queue_deliveries(event_id=event_id, event_type=event_type, payload={"id": event_id, "n": n})
            ids.append(event_id)
    return ids


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/nobody-listens"


def test_a_worker_sends_many_deliveries_at_once_and_records_one_attempt_each(receiver, tasks):
    receiver.delay = 0.2
    created = endpoint_create(url=receiver.url, enabled_events=["invoice.voided"])
    _events(40)

    assert sending.deliver_many() == 40

    assert receiver.max_in_flight >= 8  # concurrently, not one after another (that would take 8 s)
    assert len(receiver.requests) == len({r.body for r in receiver.requests}) == 40
    for request in receiver.requests:
        stripe.Webhook.construct_event(request.body.decode(), request.headers["stripe-signature"], created.secret)
    assert WebhookDelivery.objects.filter(status=DeliveryStatus.SUCCEEDED, attempt_count=1).count() == 40
    assert DeliveryAttempt.objects.count() == 40
    assert not WebhookDelivery.objects.filter(claimed_until__isnull=False).exists()


def test_failures_in_a_batch_back_off_while_the_successes_beside_them_are_done(receiver, settings, tasks):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    good = endpoint_create(url=receiver.url, enabled_events=["invoice.voided"]).endpoint
    down = endpoint_create(url=_closed_port_url(), enabled_events=["invoice.voided"]).endpoint
    _events(10)
    before = timezone.now()

    assert sending.deliver_many() == 20

    assert WebhookDelivery.objects.filter(endpoint=good, status=DeliveryStatus.SUCCEEDED).count() == 10
    for delivery in WebhookDelivery.objects.filter(endpoint=down):
        assert delivery.status == DeliveryStatus.PENDING and delivery.claimed_until is None
        assert delivery.attempt_count == 1 and delivery.attempts.count() == 1
        assert "ConnectError" in delivery.last_error
        assert before + timedelta(seconds=23) < delivery.next_attempt_at < timezone.now() + timedelta(seconds=37)
    assert sending.deliver_many() == 0  # nothing due until the backoff has passed
    with clock.travel(timezone.now() + timedelta(minutes=1)):
        assert sending.deliver_many() == 10
    assert DeliveryAttempt.objects.filter(delivery__endpoint=down).count() == 20


def test_an_unexpected_error_while_sending_is_recorded_as_a_failed_attempt(receiver, monkeypatch, tasks):
    endpoint_create(url=receiver.url, enabled_events=["invoice.voided"])
    _events(3)

    def broken(url, **kwargs):
        raise RuntimeError("resolver exploded")

    monkeypatch.setattr("notifications.delivery.check_url", broken)
    assert sending.deliver_many() == 3
    assert set(WebhookDelivery.objects.values_list("status", "last_error")) == {
        (DeliveryStatus.PENDING, "RuntimeError: resolver exploded")
    }
    assert DeliveryAttempt.objects.count() == 3 and receiver.requests == []


def test_given_deliveries_are_sent_without_the_rest_when_not_draining(receiver, tasks):
    endpoint_create(url=receiver.url, enabled_events=["invoice.voided"])
    _events(5)
    first, second, *_ = WebhookDelivery.objects.order_by("pk").values_list("pk", flat=True)
    assert sending.deliver_many([first, second], drain=False) == 2
    assert set(WebhookDelivery.objects.filter(status=DeliveryStatus.SUCCEEDED).values_list("pk", flat=True)) == {
        first,
        second,
    }


def test_the_sending_threads_see_the_billing_clock_of_the_worker(receiver, tasks):
    endpoint_create(url=receiver.url, enabled_events=["invoice.voided"])
    _events(2)
    moment = timezone.now() + timedelta(hours=1)
    with clock.travel(moment):
        sending.deliver_many()
    assert set(DeliveryAttempt.objects.values_list("started_at", flat=True)) == {moment}


def test_an_event_for_many_endpoints_queues_one_task_after_commit(receiver, tasks, django_capture_on_commit_callbacks):
    for n in range(3):
        endpoint_create(url=f"{receiver.url}/{n}", enabled_events=["invoice.voided"])
    endpoint_create(url=receiver.url, enabled_events=["invoice.paid"])
    with django_capture_on_commit_callbacks(execute=True):
        _events(1)
    [(name, ids)] = tasks
    assert name == "notifications.tasks.deliver_webhooks"
    assert sorted(ids) == sorted(WebhookDelivery.objects.values_list("pk", flat=True)) and len(ids) == 3


def test_a_repeated_event_queues_no_task(receiver, tasks, django_capture_on_commit_callbacks):
    endpoint_create(url=receiver.url, enabled_events=["invoice.voided"])
    with django_capture_on_commit_callbacks(execute=True):
        _events(1)
        _events(1)
    assert len(tasks) == 1 and WebhookDelivery.objects.count() == 1
