"""Webhook endpoints and deliveries, against a real HTTP receiver, verified with Stripe's SDK."""

import json
from datetime import timedelta

import pytest
import stripe
import time_machine
from django.utils import timezone

from billing import services
from notifications import delivery as sending
from notifications.models import DeliveryStatus, WebhookDelivery
from notifications.services.endpoints import (
    EndpointError,
    endpoint_create,
    endpoint_roll_secret,
    endpoint_set_enabled,
)
from notifications.services.events import webhook_event_emit
from tests.factories import make_invoice

pytestmark = pytest.mark.django_db


def _endpoint(receiver, events=("invoice.voided",)):
    return endpoint_create(url=receiver.url, enabled_events=list(events), description="Local receiver")


def _void_an_invoice(django_capture_on_commit_callbacks):
    invoice = make_invoice(status="open")
    with django_capture_on_commit_callbacks(execute=True):
        services.invoice_void(invoice=invoice)
    return invoice


def _verify(request, secret):
    return stripe.Webhook.construct_event(request.body.decode(), request.headers["stripe-signature"], secret)


# --- endpoints --------------------------------------------------------------------------------


def test_a_new_endpoint_gets_a_whsec_secret_shown_once_then_masked(receiver):
    created = _endpoint(receiver)
    assert created.secret.startswith("whsec_") and len(created.secret) > 30
    assert created.endpoint.masked_secret != created.secret
    assert created.endpoint.masked_secret.startswith("whsec_") and "…" in created.endpoint.masked_secret


@pytest.mark.parametrize(
    ("url", "events", "message"),
    [
        ("http://127.0.0.2/hook", ["invoice.paid"], "public"),
        ("ftp://example.com/hook", ["invoice.paid"], "https"),
        ("https://203.0.113.10/hook", ["invoice.exploded"], "Unknown event type"),
        ("https://203.0.113.10/hook", [], "at least one event type"),
    ],
)
def test_an_endpoint_with_a_bad_url_or_bad_events_is_refused_with_a_message(settings, url, events, message):
    settings.WEBHOOK_ALLOWED_HOSTS = ["203.0.113.10"]
    with pytest.raises(EndpointError, match=message):
        endpoint_create(url=url, enabled_events=events)


# --- fan-out ----------------------------------------------------------------------------------


def test_a_billing_event_is_delivered_signed_and_verifiable_with_stripe(receiver, django_capture_on_commit_callbacks):
    created = _endpoint(receiver)
    invoice = _void_an_invoice(django_capture_on_commit_callbacks)

    [request] = receiver.requests
    assert request.headers["content-type"] == "application/json"
    event = _verify(request, created.secret)
    assert event["type"] == "invoice.voided"
    assert event["id"].startswith("evt_")
    assert event["data"]["object"]["id"] == invoice.public_id
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.SUCCEEDED and delivery.event_id == event["id"]
    [attempt] = delivery.attempts.all()
    assert attempt.succeeded and attempt.status_code == 200 and "received" in attempt.response_excerpt


def test_stripe_rejects_a_tampered_body_or_a_wrong_secret(receiver, django_capture_on_commit_callbacks):
    created = _endpoint(receiver)
    _void_an_invoice(django_capture_on_commit_callbacks)
    [request] = receiver.requests
    header = request.headers["stripe-signature"]
    tampered = request.body.decode().replace("invoice.voided", "invoice.paid")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(tampered, header, created.secret)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(request.body.decode(), header, "whsec_not_the_right_one")


def test_deliveries_are_queued_in_the_event_transaction_and_vanish_with_its_rollback(receiver):
    from django.db import transaction

    _endpoint(receiver)
    invoice = make_invoice(status="open")
    with pytest.raises(RuntimeError), transaction.atomic():
        services.invoice_void(invoice=invoice)
        assert WebhookDelivery.objects.count() == 1
        raise RuntimeError("rolled back")
    assert WebhookDelivery.objects.count() == 0
    assert receiver.requests == []


def test_only_enabled_endpoints_subscribed_to_the_type_receive_it(receiver, django_capture_on_commit_callbacks):
    _endpoint(receiver, events=["invoice.paid"])
    off = _endpoint(receiver).endpoint
    endpoint_set_enabled(endpoint=off, enabled=False)
    _void_an_invoice(django_capture_on_commit_callbacks)
    assert WebhookDelivery.objects.count() == 0 and receiver.requests == []


# --- retries ----------------------------------------------------------------------------------


def _run_sweeps_until_done(hours: int = 2):
    """Advance time minute by minute and run the sweep, like the worker would."""
    start = timezone.now()
    for minute in range(1, hours * 60):
        with time_machine.travel(start + timedelta(minutes=minute), tick=False):
            sending.deliver_due()
        if not WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).exists():
            return


def test_a_receiver_that_fails_twice_gets_the_same_event_three_times_then_success(
    receiver, django_capture_on_commit_callbacks
):
    created = _endpoint(receiver)
    receiver.answers = [500, 503]
    _void_an_invoice(django_capture_on_commit_callbacks)
    _run_sweeps_until_done()

    assert len(receiver.requests) == 3
    ids = {_verify(r, created.secret)["id"] for r in receiver.requests}
    assert len(ids) == 1
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.SUCCEEDED and delivery.attempt_count == 3
    log = list(delivery.attempts.order_by("number").values_list("number", "status_code", "succeeded"))
    assert log == [(1, 500, False), (2, 503, False), (3, 200, True)]
    first, second, third = delivery.attempts.order_by("number")
    assert second.started_at - first.started_at >= timedelta(seconds=24)  # 30 s minus jitter
    assert third.started_at - second.started_at >= timedelta(seconds=48)  # backoff doubled


def test_a_redirect_is_not_followed_and_counts_as_a_failure(receiver, django_capture_on_commit_callbacks):
    _endpoint(receiver)
    receiver.answers = [302]
    _void_an_invoice(django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    assert len(receiver.requests) == 1
    assert delivery.status == DeliveryStatus.PENDING and delivery.next_attempt_at is not None
    assert "redirects are not followed" in delivery.last_error


def test_a_slow_receiver_times_out_and_is_retried(receiver, settings, django_capture_on_commit_callbacks):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.3
    receiver.delay = 1.0
    _endpoint(receiver)
    _void_an_invoice(django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.attempts.get().error == "Timed out"


def test_a_delivery_failing_for_three_days_is_marked_failed(receiver, django_capture_on_commit_callbacks):
    _endpoint(receiver)
    receiver.answers = [500] * 100
    _void_an_invoice(django_capture_on_commit_callbacks)
    start = timezone.now()
    for hour in range(1, 80):
        with time_machine.travel(start + timedelta(hours=hour), tick=False):
            sending.deliver_due()
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.FAILED and delivery.failed_at is not None
    assert timedelta(days=2) < delivery.failed_at - delivery.created <= timedelta(days=3, hours=1)
    assert delivery.attempts.count() == delivery.attempt_count == len(receiver.requests)


def test_an_attempt_claimed_by_a_worker_that_died_is_taken_again_after_its_lease(receiver):
    _endpoint(receiver)
    invoice = make_invoice(status="open")
    services.invoice_void(invoice=invoice)  # on_commit never runs here: nothing sent yet
    delivery = WebhookDelivery.objects.get()
    now = timezone.now()
    assert sending.claim(delivery.pk, now)  # a worker takes it … and dies
    assert not sending.claim(delivery.pk, now + timedelta(seconds=5))
    assert sending.deliver_due() == 0
    with time_machine.travel(now + sending.LEASE + timedelta(seconds=1), tick=False):
        assert sending.deliver_due() == 1
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED and len(receiver.requests) == 1


def test_resend_delivers_the_same_event_again(receiver, django_capture_on_commit_callbacks):
    created = _endpoint(receiver)
    _void_an_invoice(django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        sending.resend(delivery)
    assert len(receiver.requests) == 2
    assert len({_verify(r, created.secret)["id"] for r in receiver.requests}) == 1
    assert delivery.attempts.count() == 2


def test_a_url_refused_at_delivery_time_is_not_contacted(receiver, settings, django_capture_on_commit_callbacks):
    _endpoint(receiver)
    settings.WEBHOOK_ALLOWED_HOSTS = []  # e.g. the allow-list changed since the endpoint was saved
    _void_an_invoice(django_capture_on_commit_callbacks)
    assert receiver.requests == []
    assert WebhookDelivery.objects.get().attempts.get().error.startswith("Refused:")


# --- secrets ----------------------------------------------------------------------------------


def test_a_rolled_secret_signs_alongside_the_old_one_during_the_grace_period(
    receiver, django_capture_on_commit_callbacks
):
    old = _endpoint(receiver)
    new = endpoint_roll_secret(endpoint=old.endpoint, grace=timedelta(hours=24))
    _void_an_invoice(django_capture_on_commit_callbacks)
    [request] = receiver.requests
    assert request.headers["stripe-signature"].count("v1=") == 2
    _verify(request, old.secret)
    _verify(request, new.secret)
    with time_machine.travel(timezone.now() + timedelta(hours=25), tick=False):
        invoice = make_invoice(status="open")
        with django_capture_on_commit_callbacks(execute=True):
            services.invoice_void(invoice=invoice)
    later = receiver.requests[1]
    assert later.headers["stripe-signature"].count("v1=") == 1
    with pytest.raises(stripe.SignatureVerificationError):
        _verify(later, old.secret)


def test_a_grace_period_longer_than_a_week_is_refused(receiver):
    with pytest.raises(EndpointError, match="7 days"):
        endpoint_roll_secret(endpoint=_endpoint(receiver).endpoint, grace=timedelta(days=8))


# --- automation webhooks ------------------------------------------------------------------------


def test_an_automation_webhook_has_the_stripe_event_shape_and_is_sent_once_per_event_id(
    receiver, django_capture_on_commit_callbacks
):
    created = _endpoint(receiver, events=["customer.subscription.custom_event"])
    from tests.factories import make_subscription

    subscription = make_subscription()
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            webhook_event_emit(
                type="customer.subscription.custom_event", obj=subscription, data={"label": "win-back"},
                event_id="evt_step_42",
            )  # fmt: skip
    [request] = receiver.requests
    event = _verify(request, created.secret)
    assert event["id"] == "evt_step_42" and event["type"] == "customer.subscription.custom_event"
    assert event["data"]["object"]["id"] == subscription.public_id and event["data"]["label"] == "win-back"
    assert isinstance(json.loads(request.body)["created"], int)


def test_only_the_three_automation_webhooks_can_be_emitted():
    with pytest.raises(ValueError):
        webhook_event_emit(type="invoice.paid", obj=make_invoice())


def test_the_request_goes_to_the_checked_address_without_a_second_dns_lookup(
    receiver, settings, monkeypatch, django_capture_on_commit_callbacks
):
    """`hooks.relance.test` exists only in our checking resolver: the HTTP client never looks it up."""
    port = receiver.url.split(":")[2].split("/")[0]
    lookups = []

    def resolver(host, port):
        lookups.append(host)
        return ["127.0.0.1"]

    monkeypatch.setattr("notifications.ssrf.resolve_host", resolver)
    settings.WEBHOOK_ALLOWED_HOSTS = ["hooks.relance.test"]
    endpoint_create(url=f"http://hooks.relance.test:{port}/hooks/relance", enabled_events=["invoice.voided"])
    lookups.clear()
    _void_an_invoice(django_capture_on_commit_callbacks)
    [request] = receiver.requests
    assert request.headers["host"] == f"hooks.relance.test:{port}"
    assert request.path == "/hooks/relance"
    assert lookups == ["hooks.relance.test"]  # checked once at delivery, connected to that address


def test_deliveries_to_a_disabled_endpoint_wait_until_it_is_enabled_again(receiver, django_capture_on_commit_callbacks):
    endpoint = _endpoint(receiver).endpoint
    invoice = make_invoice(status="open")
    services.invoice_void(invoice=invoice)  # queued; not sent yet (no commit here)
    endpoint_set_enabled(endpoint=endpoint, enabled=False)
    assert sending.deliver_due() == 0 and receiver.requests == []
    endpoint_set_enabled(endpoint=endpoint, enabled=True)
    assert sending.deliver_due() == 1 and len(receiver.requests) == 1


def test_a_resend_while_an_attempt_is_in_progress_waits_for_it(receiver, django_capture_on_commit_callbacks):
    _endpoint(receiver)
    services.invoice_void(invoice=make_invoice(status="open"))
    delivery = WebhookDelivery.objects.get()
    now = timezone.now()
    assert sending.claim(delivery.pk, now)  # a worker is sending it right now
    with django_capture_on_commit_callbacks(execute=True):
        sending.resend(delivery)
    assert receiver.requests == []  # not sent beside the attempt in progress
    with time_machine.travel(now + sending.LEASE + timedelta(seconds=1), tick=False):
        assert sending.deliver_due() == 1


def test_a_resent_old_delivery_gets_a_new_three_day_window(receiver, django_capture_on_commit_callbacks):
    _endpoint(receiver)
    receiver.answers = [500, 500]
    _void_an_invoice(django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    with time_machine.travel(timezone.now() + timedelta(days=10), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            sending.resend(delivery)
        delivery.refresh_from_db()
        assert delivery.status == DeliveryStatus.PENDING  # failed again, but retried, not given up
        assert delivery.retry_until > timezone.now() + timedelta(days=2)


def test_a_description_longer_than_300_characters_is_refused(receiver):
    with pytest.raises(EndpointError, match="300 characters"):
        endpoint_create(url=receiver.url, enabled_events=["invoice.paid"], description="x" * 301)
