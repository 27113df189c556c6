"""Detail pages: fields, lines, payment attempts and the object's events."""

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from moneyed import Money

from billing.events import record_event
from billing.models import PaymentAttempt
from tests.factories import make_customer, make_invoice, make_quote, make_subscription

pytestmark = pytest.mark.django_db


def _record(obj, type: str):
    with transaction.atomic():
        return record_event(type=type, obj=obj)


def test_the_invoice_page_shows_fields_lines_and_payment_attempts(viewer_client):
    invoice = make_invoice(amount="120.00", description="Annual support")
    PaymentAttempt.objects.create(
        invoice=invoice,
        created=timezone.now(),
        attempt_number=1,
        amount=Money("120.00", "EUR"),
        payment_method="4000000000000002",
        outcome="failed",
        failure_code="card_declined",
        decline_type="hard",
    )
    response = viewer_client.get(reverse("invoice_detail", args=[invoice.public_id]))
    assert response.status_code == 200
    for text in [invoice.number, "Annual support", "Consulting", "€120.00", "card_declined", "…0002"]:
        assert text in response.text, text
    assert invoice.customer.name in response.text


def test_the_subscription_page_shows_items_and_invoices(viewer_client):
    subscription = make_subscription()
    invoice = make_invoice(customer=subscription.customer, subscription=subscription)
    response = viewer_client.get(reverse("subscription_detail", args=[subscription.public_id]))
    assert response.status_code == 200
    assert "Pro plan" in response.text
    assert invoice.number in response.text


def test_the_quote_page_shows_its_lines(viewer_client):
    quote = make_quote(description="Rollout")
    response = viewer_client.get(reverse("quote_detail", args=[quote.public_id]))
    assert response.status_code == 200
    assert "Rollout" in response.text
    assert "Implementation" in response.text


def test_the_customer_page_lists_their_subscriptions_invoices_and_quotes(viewer_client):
    customer = make_customer(name="Ada Lovelace")
    subscription = make_subscription(customer=customer)
    invoice = make_invoice(customer=customer)
    quote = make_quote(customer=customer)
    response = viewer_client.get(reverse("customer_detail", args=[customer.public_id]))
    assert response.status_code == 200
    for text in ["Ada Lovelace", subscription.public_id, invoice.number, quote.public_id]:
        assert text in response.text, text


def test_a_detail_page_lists_the_objects_events_newest_first_with_their_payload(viewer_client):
    invoice = make_invoice()
    _record(invoice, "invoice.finalized")
    _record(invoice, "invoice.payment_failed")
    _record(make_invoice(), "invoice.voided")
    response = viewer_client.get(reverse("invoice_detail", args=[invoice.public_id]))
    text = response.text
    assert text.index("invoice.payment_failed") < text.index("invoice.finalized")
    assert "invoice.voided" not in text
    assert "<details>" in text
    assert "&quot;object&quot;: &quot;event&quot;" in text


def test_a_page_without_events_says_so(viewer_client):
    quote = make_quote()
    response = viewer_client.get(reverse("quote_detail", args=[quote.public_id]))
    assert "No events recorded for this object yet." in response.text


@pytest.mark.parametrize("name", ["customer_detail", "invoice_detail", "subscription_detail", "quote_detail"])
def test_an_unknown_public_id_is_a_404(viewer_client, name):
    assert viewer_client.get(reverse(name, args=["nope_123"])).status_code == 404


def test_a_detail_page_has_no_admin_link_for_non_staff(viewer_client):
    invoice = make_invoice()
    response = viewer_client.get(reverse("invoice_detail", args=[invoice.public_id]))
    assert "Open in admin" not in response.text


def test_staff_get_an_admin_link_when_the_admin_manages_the_object(client, admin_user):
    # The link only appears when billing's admin registers the model.
    from django.contrib import admin

    from billing.models import Invoice

    invoice = make_invoice()
    client.force_login(admin_user)
    response = client.get(reverse("invoice_detail", args=[invoice.public_id]))
    assert response.status_code == 200
    assert ("Open in admin" in response.text) == admin.site.is_registered(Invoice)
    assert 'href="/admin/"' in response.text


def _count_queries(client, url: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries.captured_queries)


def _handled(event, name: str, run=None):
    from automations.models import MatchingRecord

    checks = [{"automation": "", "name": name, "matched": False, "filter": "Product", "expected": "a", "found": "b"}]
    MatchingRecord.objects.create(
        event=event,
        trigger="invoice.overdue",
        handled_at=timezone.now(),
        checks=checks,
        outcome="no automation matched",
    )


@pytest.mark.parametrize("client_name", ["viewer_client", "editor_client"])
def test_an_invoice_page_takes_the_same_queries_for_40_events_with_records_as_for_one(request, client_name):
    client = request.getfixturevalue(client_name)
    invoice = make_invoice()
    url = reverse("invoice_detail", args=[invoice.public_id])
    _handled(_record(invoice, "invoice.overdue"), "First")
    one = _count_queries(client, url)
    for n in range(39):
        _handled(_record(invoice, "invoice.overdue"), f"Check {n}")
    response = client.get(url)
    assert response.text.count("checked 'Check") == 39
    assert _count_queries(client, url) == one


@pytest.mark.parametrize("name", ["subscription_detail", "quote_detail", "customer_detail"])
def test_other_detail_pages_stay_bounded_with_many_events(editor_client, name):
    obj = {"subscription_detail": make_subscription, "quote_detail": make_quote, "customer_detail": make_customer}[
        name
    ]()
    url = reverse(name, args=[obj.public_id])
    _record(obj, "customer.updated")
    one = _count_queries(editor_client, url)
    for _ in range(30):
        _record(obj, "customer.updated")
    assert _count_queries(editor_client, url) == one
