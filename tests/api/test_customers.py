"""Customers through the official stripe SDK: create, retrieve, update (metadata merged as
Stripe's), delete, list by email, test payment methods and test clocks."""

from datetime import UTC, datetime

import pytest
import stripe

from billing.models import Customer, EventType
from billing.services.test_clocks import clock_create
from tests.api.conftest import API
from tests.factories import make_invoice

pytestmark = API


def test_it_creates_and_retrieves_a_customer(stripe_client):
    created = stripe_client.v1.customers.create(
        {"name": "Ada Lovelace", "email": "ada@example.com", "currency": "usd", "metadata": {"plan": "gold"}}
    )
    assert created.id.startswith("cus_") and created.object == "customer"
    assert (created.name, created.email, created.currency) == ("Ada Lovelace", "ada@example.com", "usd")
    assert created.metadata.to_dict() == {"plan": "gold"} and isinstance(created.created, int)
    assert stripe_client.v1.customers.retrieve(created.id).to_dict() == created.to_dict()


def test_a_new_customer_has_its_event(stripe_client):
    created = stripe_client.v1.customers.create({"email": "ada@example.com"})
    events = stripe_client.v1.events.list({"type": EventType.CUSTOMER_CREATED})
    assert [e.data.object.id for e in events.data] == [created.id]


def test_an_update_merges_metadata_and_an_empty_value_removes_a_key(stripe_client):
    customer = stripe_client.v1.customers.create({"email": "ada@example.com", "metadata": {"plan": "gold", "ref": "x"}})
    updated = stripe_client.v1.customers.update(customer.id, {"name": "Ada", "metadata": {"ref": "", "region": "eu"}})
    assert updated.name == "Ada" and updated.email == "ada@example.com"
    assert updated.metadata.to_dict() == {"plan": "gold", "region": "eu"}
    cleared = stripe_client.v1.customers.update(customer.id, {"metadata": ""})
    assert cleared.metadata.to_dict() == {}


def test_an_update_with_a_bad_email_is_refused_with_its_message(stripe_client):
    customer = stripe_client.v1.customers.create({"email": "ada@example.com"})
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.customers.update(customer.id, {"email": "nope"})
    assert refused.value.http_status == 400 and "nope" in refused.value.user_message


@pytest.mark.parametrize(
    ("payment_method", "card"),
    [
        ("pm_card_visa", "4242424242424242"),
        ("pm_card_chargeDeclined", "4000000000000002"),
        ("pm_card_chargeDeclinedInsufficientFunds", "4000000000009995"),
        ("pm_card_chargeDeclinedExpiredCard", "4000000000000069"),
        ("pm_card_chargeDeclinedOnceThenSucceeds", "4000000000000341"),
    ],
)
def test_stripe_test_payment_methods_map_to_the_test_gateway_cards(stripe_client, payment_method, card):
    customer = stripe_client.v1.customers.create({"email": "ada@example.com", "payment_method": payment_method})
    assert customer.invoice_settings.default_payment_method == payment_method
    assert Customer.objects.get(public_id=customer.id).default_payment_method == card


def test_the_invoice_settings_default_payment_method_is_changed_by_an_update(stripe_client):
    customer = stripe_client.v1.customers.create({"email": "ada@example.com", "payment_method": "pm_card_visa"})
    updated = stripe_client.v1.customers.update(
        customer.id, {"invoice_settings": {"default_payment_method": "pm_card_chargeDeclined"}}
    )
    assert updated.invoice_settings.default_payment_method == "pm_card_chargeDeclined"
    assert updated.default_payment_method == "pm_card_chargeDeclined"


def test_an_unknown_payment_method_is_refused_with_its_param(stripe_client):
    customer = stripe_client.v1.customers.create({"email": "ada@example.com"})
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.customers.update(customer.id, {"invoice_settings": {"default_payment_method": "pm_real"}})
    assert refused.value.param == "invoice_settings[default_payment_method]"
    assert "pm_card_visa" in refused.value.user_message


def test_a_customer_is_created_on_a_test_clock_at_its_time(stripe_client):
    clock = clock_create(name="Rehearsal", frozen_time=datetime(2030, 1, 1, tzinfo=UTC))
    customer = stripe_client.v1.customers.create({"email": "ada@example.com", "test_clock": clock.public_id})
    assert customer.test_clock == clock.public_id
    assert customer.created == int(datetime(2030, 1, 1, tzinfo=UTC).timestamp())
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.customers.create({"email": "ada@example.com", "test_clock": "clock_nope"})
    assert refused.value.param == "test_clock" and refused.value.http_status == 404


def test_it_deletes_a_customer_without_billing_history(stripe_client):
    customer = stripe_client.v1.customers.create({"email": "ada@example.com"})
    deleted = stripe_client.v1.customers.delete(customer.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (customer.id, "customer", True)
    with pytest.raises(stripe.InvalidRequestError) as gone:
        stripe_client.v1.customers.retrieve(customer.id)
    assert gone.value.http_status == 404


def test_it_refuses_to_delete_a_customer_with_invoices(stripe_client):
    invoice = make_invoice()
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.customers.delete(invoice.customer.public_id)
    assert refused.value.http_status == 400 and "invoices" in refused.value.user_message
    assert Customer.objects.filter(pk=invoice.customer.pk).exists()


def test_it_lists_customers_by_email(stripe_client):
    ada = stripe_client.v1.customers.create({"email": "ada@example.com"})
    stripe_client.v1.customers.create({"email": "bob@example.com"})
    again = stripe_client.v1.customers.create({"email": "ada@example.com", "name": "Ada again"})
    found = stripe_client.v1.customers.list({"email": "ada@example.com"})
    assert [c.id for c in found.data] == [again.id, ada.id] and not found.has_more
    assert len(stripe_client.v1.customers.list().data) == 3


def test_a_parameter_relance_does_not_take_is_refused_by_name(stripe_client):
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.customers.create({"email": "ada@example.com", "phone": "+33 1 23 45 67 89"})
    assert refused.value.param == "phone" and refused.value.user_message == "Received unknown parameter: phone"
    customer = stripe_client.v1.customers.create({"email": "ada@example.com"})
    with pytest.raises(stripe.InvalidRequestError) as nested:
        stripe_client.v1.customers.update(customer.id, {"invoice_settings": {"footer": "Thanks"}})
    assert nested.value.param == "invoice_settings[footer]"


def test_it_lists_the_customers_of_a_test_clock(stripe_client):
    clock = clock_create(name="Rehearsal", frozen_time=datetime(2030, 1, 1, tzinfo=UTC))
    on_clock = stripe_client.v1.customers.create({"email": "ada@example.com", "test_clock": clock.public_id})
    stripe_client.v1.customers.create({"email": "bob@example.com"})
    assert [c.id for c in stripe_client.v1.customers.list({"test_clock": clock.public_id}).data] == [on_clock.id]


def test_the_preferred_locale_is_set_read_changed_and_cleared(stripe_client):
    created = stripe_client.v1.customers.create({"email": "ada@example.com", "preferred_locales": ["fr-FR", "en"]})
    assert created.preferred_locales == ["fr"]
    assert Customer.objects.get(public_id=created.id).preferred_locale == "fr"
    assert stripe_client.v1.customers.update(created.id, {"preferred_locales": ["de", "en"]}).preferred_locales == [
        "en"
    ]
    assert stripe_client.v1.customers.update(created.id, {"preferred_locales": ""}).preferred_locales == []
    assert stripe_client.v1.customers.create({"email": "bob@example.com"}).preferred_locales == []


def test_a_preferred_locale_customer_emails_cannot_speak_is_refused_with_its_param(stripe_client):
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.customers.create({"email": "ada@example.com", "preferred_locales": ["de"]})
    assert refused.value.http_status == 400 and refused.value.param == "preferred_locales"
    assert "en and fr" in refused.value.user_message
