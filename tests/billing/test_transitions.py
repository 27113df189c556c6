"""The full transition tables: every allowed pair works and records its event, every other raises."""

from datetime import timedelta

import pytest
from django.utils import timezone

from billing import services
from billing.errors import InvalidTransition
from billing.models import Event, InvoiceStatus, QuoteStatus, SubscriptionStatus
from billing.transitions import INVOICE_TRANSITIONS, QUOTE_TRANSITIONS, SUBSCRIPTION_TRANSITIONS
from tests.factories import make_invoice, make_quote, make_subscription

pytestmark = pytest.mark.django_db

INVOICE_SERVICES = {
    InvoiceStatus.OPEN: (services.invoice_finalize, "invoice.finalized"),
    InvoiceStatus.PAID: (services.invoice_mark_paid, "invoice.paid"),
    InvoiceStatus.VOID: (services.invoice_void, "invoice.voided"),
    InvoiceStatus.UNCOLLECTIBLE: (services.invoice_mark_uncollectible, "invoice.marked_uncollectible"),
}
SUBSCRIPTION_SERVICES = {
    SubscriptionStatus.ACTIVE: (services.subscription_mark_active, "customer.subscription.updated"),
    SubscriptionStatus.PAST_DUE: (services.subscription_mark_past_due, "customer.subscription.updated"),
    SubscriptionStatus.UNPAID: (services.subscription_mark_unpaid, "customer.subscription.updated"),
    SubscriptionStatus.CANCELED: (services.subscription_cancel, "customer.subscription.deleted"),
    SubscriptionStatus.PAUSED: (services.subscription_pause_collection, "customer.subscription.updated"),
}
QUOTE_SERVICES = {
    QuoteStatus.OPEN: (services.quote_finalize, "quote.finalized"),
    QuoteStatus.ACCEPTED: (services.quote_accept, "quote.accepted"),
    QuoteStatus.CANCELED: (services.quote_cancel, "quote.canceled"),
}


def _pairs(statuses, table, targets):
    return [(src, dst, dst in table[src]) for src in statuses for dst in targets]


def _assert_transition(obj, target, service, event_type, allowed, kind):
    before_events = Event.objects.count()
    if allowed:
        result = service(**{kind: obj})
        result.refresh_from_db()
        assert result.status == target
        assert Event.objects.filter(object_id=obj.public_id, type=event_type).exists()
    else:
        with pytest.raises(InvalidTransition):
            service(**{kind: obj})
        obj.refresh_from_db()
        assert Event.objects.count() == before_events


@pytest.mark.parametrize(
    ("source", "target", "allowed"), _pairs(InvoiceStatus.values, INVOICE_TRANSITIONS, INVOICE_SERVICES)
)
def test_invoice_transition_table(source, target, allowed):
    invoice = make_invoice(status=source)
    service, event_type = INVOICE_SERVICES[target]
    _assert_transition(invoice, target, service, event_type, allowed, "invoice")


@pytest.mark.parametrize(
    ("source", "target", "allowed"),
    _pairs(SubscriptionStatus.values, SUBSCRIPTION_TRANSITIONS, SUBSCRIPTION_SERVICES),
)
def test_subscription_transition_table(source, target, allowed):
    subscription = make_subscription(status=source)
    service, event_type = SUBSCRIPTION_SERVICES[target]
    _assert_transition(subscription, target, service, event_type, allowed, "subscription")


@pytest.mark.parametrize(("source", "target", "allowed"), _pairs(QuoteStatus.values, QUOTE_TRANSITIONS, QUOTE_SERVICES))
def test_quote_transition_table(source, target, allowed):
    quote = make_quote(status=source)
    service, event_type = QUOTE_SERVICES[target]
    _assert_transition(quote, target, service, event_type, allowed, "quote")


def test_every_allowed_transition_records_exactly_one_event_of_its_type():
    invoice = make_invoice(status="open")
    services.invoice_void(invoice=invoice)
    assert list(Event.objects.filter(object_id=invoice.public_id).values_list("type", flat=True)) == ["invoice.voided"]


def test_a_transition_that_rolls_back_leaves_no_event():
    from django.db import transaction

    invoice = make_invoice(status="open")
    with pytest.raises(RuntimeError), transaction.atomic():
        services.invoice_void(invoice=invoice)
        assert Event.objects.filter(object_id=invoice.public_id).count() == 1
        raise RuntimeError("something after the transition failed")
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.OPEN
    assert not Event.objects.filter(object_id=invoice.public_id).exists()


def test_an_invalid_transition_says_what_is_wrong_in_plain_words():
    invoice = make_invoice(status="paid")
    with pytest.raises(InvalidTransition, match=r"is paid; it cannot become void"):
        services.invoice_void(invoice=invoice)


def test_an_expired_quote_cannot_be_accepted():
    quote = make_quote(status="open", expires_at=timezone.now() - timedelta(minutes=1))
    with pytest.raises(InvalidTransition, match="expired"):
        services.quote_accept(quote=quote)
