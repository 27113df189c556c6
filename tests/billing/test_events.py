"""Events carry Stripe's JSON shape: a snapshot of the object, previous attributes on updates."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from moneyed import Money

from billing import services
from billing.events import event_committed
from billing.models import Event, Price, Product
from tests.factories import GOOD_CARD

pytestmark = pytest.mark.django_db


def _customer():
    return services.customer_create(
        name="Ada Lovelace", email="ada@example.com", currency="EUR", metadata={"segment": "enterprise"},
        default_payment_method=GOOD_CARD,
    )  # fmt: skip


def test_a_created_customer_records_an_event_with_its_snapshot():
    customer = _customer()
    event = Event.objects.get(object_id=customer.public_id)
    payload = event.as_payload()
    assert payload["id"].startswith("evt_") and payload["object"] == "event"
    assert payload["type"] == "customer.created"
    assert isinstance(payload["created"], int)
    assert payload["data"]["object"]["id"] == customer.public_id
    assert payload["data"]["object"]["metadata"] == {"segment": "enterprise"}
    assert "previous_attributes" not in payload["data"]


def test_an_update_event_carries_only_the_changed_attributes_with_their_previous_values():
    customer = _customer()
    services.customer_update(customer=customer, email="ada@analytical.example", metadata={"segment": "smb"})
    event = Event.objects.get(object_id=customer.public_id, type="customer.updated")
    assert event.previous_attributes == {"email": "ada@example.com", "metadata": {"segment": "enterprise"}}
    assert event.data_object["email"] == "ada@analytical.example"


def test_an_update_that_changes_nothing_records_no_event():
    customer = _customer()
    services.customer_update(customer=customer, name="Ada Lovelace")
    assert not Event.objects.filter(type="customer.updated").exists()


def test_an_invoice_snapshot_has_amounts_in_minor_units_and_its_lines():
    customer = _customer()
    price = Price.objects.create(product=Product.objects.create(name="Pro"), unit_amount=Money("19.99", "EUR"))
    invoice = services.invoice_create(customer=customer, lines=[services.LineItem(price=price, quantity=3)])
    invoice = services.invoice_finalize(invoice=invoice)
    data = Event.objects.get(object_id=invoice.public_id, type="invoice.finalized").data_object
    assert data["id"].startswith("in_") and data["object"] == "invoice"
    assert data["status"] == "open" and data["number"] == invoice.number
    assert data["total"] == 5997 and data["amount_remaining"] == 5997 and data["currency"] == "eur"
    assert data["customer"] == customer.public_id
    assert data["lines"]["data"][0]["quantity"] == 3
    assert data["status_transitions"]["finalized_at"] == int(invoice.finalized_at.timestamp())


def test_moving_a_due_date_records_invoice_updated_with_the_old_date():
    customer = _customer()
    due = timezone.now() + timedelta(days=10)
    invoice = services.invoice_create(
        customer=customer, collection_method="send_invoice", due_date=due,
        lines=[services.LineItem(description="Audit", unit_amount=Money(500, "EUR"))],
    )  # fmt: skip
    services.invoice_update(invoice=invoice, due_date=due + timedelta(days=5))
    event = Event.objects.get(object_id=invoice.public_id, type="invoice.updated")
    assert event.previous_attributes == {"due_date": int(due.timestamp())}


def test_subscribers_hear_of_an_event_only_after_its_transaction_commits(django_capture_on_commit_callbacks):
    heard = []

    def listener(sender, event, **kwargs):
        heard.append(event.type)

    event_committed.connect(listener)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            _customer()
            assert heard == []
        assert heard == ["customer.created"]
        with pytest.raises(RuntimeError), django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            _customer()
            raise RuntimeError("rolled back")
        assert heard == ["customer.created"]
    finally:
        event_committed.disconnect(listener)


@pytest.mark.django_db(transaction=True)
def test_events_must_be_recorded_inside_the_changing_transaction():
    from billing.events import record_event

    customer = _customer()
    with pytest.raises(RuntimeError, match="inside the transaction"):
        record_event(type="customer.updated", obj=customer)


def test_recalculating_a_draft_after_its_lines_changed_updates_the_total_and_records_it():
    from billing.models import QuoteLine

    customer = _customer()
    quote = services.quote_create(
        customer=customer, lines=[services.LineItem(description="Audit", unit_amount=Money(100, "EUR"))]
    )
    QuoteLine.objects.filter(quote=quote).update(quantity=3)
    quote = services.quote_recalculate(quote=quote)
    assert quote.total == Money(300, "EUR")
    event = Event.objects.get(object_id=quote.public_id, type="quote.updated")
    assert event.previous_attributes["amount_total"] == 10000
    services.quote_recalculate(quote=quote)
    assert Event.objects.filter(object_id=quote.public_id, type="quote.updated").count() == 1


def test_an_open_document_cannot_have_its_lines_recalculated():
    from billing.errors import InvalidTransition
    from tests.factories import make_invoice

    with pytest.raises(InvalidTransition, match="only drafts can change lines"):
        services.invoice_recalculate(invoice=make_invoice(status="open"))


def test_a_new_customer_gets_the_account_default_currency_unless_told_otherwise():
    from billing.models import AccountSettings

    account = AccountSettings.load()
    account.default_currency = "GBP"
    account.save()
    assert services.customer_create(name="B", email="b@example.com").currency == "GBP"
    assert services.customer_create(name="C", email="c@example.com", currency="usd").currency == "USD"


def test_an_unsupported_currency_is_refused_with_a_message():
    from billing.errors import BillingError

    with pytest.raises(BillingError, match="not supported"):
        services.customer_create(name="D", email="d@example.com", currency="XXX")


@pytest.mark.parametrize(("name", "email"), [("", "x@example.com"), ("X", "not-an-email"), ("X", "")])
def test_a_customer_without_a_name_or_a_valid_email_is_refused(name, email):
    from billing.errors import BillingError

    with pytest.raises(BillingError):
        services.customer_create(name=name, email=email)
