"""The test clock admin and the clock on the customer admin: creations and deletions go through
the clock services, their refusals come back as messages, never as server errors."""

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from billing import services
from billing.models import (
    ClockAdvance,
    Customer,
    Event,
    Invoice,
    Subscription,
    TestClock,
)
from billing.models import TestClockStatus as ClockStatus
from billing.services.test_clocks import MAX_CUSTOMERS, clock_create
from tests.billing.test_admin import add_url, change_url, changelist, form_data, messages_of
from tests.factories import make_customer, make_invoice, make_price, make_subscription

pytestmark = pytest.mark.django_db

START = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


def _clock(name: str = "Rehearsal", **fields) -> TestClock:
    test_clock = clock_create(name=name, frozen_time=START)
    if fields:
        TestClock.objects.filter(pk=test_clock.pk).update(**fields)
        test_clock.refresh_from_db()
    return test_clock


def _clock_with_objects() -> TestClock:
    test_clock = _clock()
    customer = services.customer_create(name="Clocked Ltd", email="billing@clocked.example", test_clock=test_clock)
    subscription = make_subscription(customer=customer, price=make_price())
    make_invoice(customer=customer, subscription=subscription)
    return test_clock


# --- The clock admin --------------------------------------------------------------------------


def test_the_clock_list_shows_name_time_status_and_customers(admin_client):
    test_clock = _clock_with_objects()
    _clock("Empty clock")
    response = admin_client.get(changelist("testclock"))
    assert response.status_code == 200
    text = response.text
    assert "Rehearsal" in text and "Empty clock" in text
    assert f'?test_clock={test_clock.public_id}">1 of {MAX_CUSTOMERS}</a>' in text
    assert f"0 of {MAX_CUSTOMERS}</a>" in text
    assert "Ready" in text


def test_the_clock_page_shows_its_advances_read_only_and_links_to_the_dashboard(admin_client):
    test_clock = _clock()
    ClockAdvance.objects.create(test_clock=test_clock, from_time=START, to_time=START.replace(month=2))
    response = admin_client.get(change_url(test_clock))
    assert response.status_code == 200
    assert "2025-02-06" in response.text or "Feb. 6, 2025" in response.text
    assert response.context["inline_admin_formsets"][0].has_add_permission is False
    assert "Advance the clock from its page in the dashboard." in response.text
    assert 'name="_save"' not in response.text  # nothing to edit
    assert reverse("admin:billing_testclock_delete", args=[test_clock.pk]) in response.text
    assert f'href="/test-clocks/{test_clock.public_id}/"' in response.text


def test_adding_a_clock_goes_through_clock_create(admin_client):
    assert admin_client.get(add_url("testclock")).status_code == 200
    response = admin_client.post(
        add_url("testclock"), {"name": "  Rehearsal  ", "frozen_time": "2025-01-06T09:00", "_save": "Save"}
    )
    assert response.status_code == 302
    test_clock = TestClock.objects.get()
    assert test_clock.name == "Rehearsal"  # stripped by the service
    assert test_clock.public_id.startswith("clock_")
    assert test_clock.status == ClockStatus.READY


def test_a_clock_without_a_name_is_refused_with_the_reason(admin_client):
    response = admin_client.post(
        add_url("testclock"), {"name": "   ", "frozen_time": "2025-01-06T09:00", "_save": "Save"}
    )
    assert response.status_code == 200
    assert not TestClock.objects.exists()


def test_deleting_a_clock_deletes_everything_of_its_customers_through_clock_delete(admin_client):
    test_clock = _clock_with_objects()
    real = make_invoice()
    delete_url = reverse("admin:billing_testclock_delete", args=[test_clock.pk])
    page = admin_client.get(delete_url)
    assert page.status_code == 200
    assert "with its customers" in page.text
    assert page.context["protected"] == []

    response = admin_client.post(delete_url, {"post": "yes"})

    assert response.status_code == 302
    assert not TestClock.objects.exists()
    assert not Customer.objects.filter(test_clock__isnull=False).exists()
    assert not Subscription.objects.exists()
    assert list(Invoice.objects.all()) == [real]
    assert not Event.objects.filter(test_clock__isnull=False).exists()


def test_an_advancing_clock_is_not_deleted_and_the_admin_says_why(admin_client):
    test_clock = _clock_with_objects()
    TestClock.objects.filter(pk=test_clock.pk).update(status=ClockStatus.ADVANCING)
    delete_url = reverse("admin:billing_testclock_delete", args=[test_clock.pk])

    response = admin_client.post(delete_url, {"post": "yes"})

    assert response.status_code == 302
    assert response.url == change_url(test_clock)
    assert ("error", "Test clock “Rehearsal” is advancing; delete it once it is ready.") in messages_of(response)
    assert Customer.objects.filter(test_clock=test_clock).count() == 1


def test_deleting_selected_clocks_goes_through_clock_delete(admin_client):
    first, second = _clock_with_objects(), _clock("Second")
    response = admin_client.post(
        changelist("testclock"),
        {"action": "delete_selected", "post": "yes", "_selected_action": [first.pk, second.pk]},
    )
    assert response.status_code == 302
    assert not TestClock.objects.exists()
    assert not Invoice.objects.exists()


def test_deleting_selected_clocks_deletes_none_when_one_is_advancing(admin_client):
    first, second = _clock_with_objects(), _clock("Second", status=ClockStatus.ADVANCING)
    response = admin_client.post(
        changelist("testclock"),
        {"action": "delete_selected", "post": "yes", "_selected_action": [first.pk, second.pk]},
    )
    assert response.status_code == 302
    assert TestClock.objects.count() == 2
    assert Invoice.objects.count() == 1
    assert (
        "error",
        "Nothing deleted: Test clock “Second” is advancing; delete it once it is ready.",
    ) in messages_of(response)


# --- The customer admin -----------------------------------------------------------------------


def _customer_post(test_clock: TestClock, email: str = "grace@navy.example") -> dict:
    return {
        "name": "Grace Hopper",
        "email": email,
        "currency": "EUR",
        "default_payment_method": "4000000000000002",
        "metadata": "{}",
        "test_clock": test_clock.public_id,
        "_save": "Save",
    }


def test_a_customer_is_added_on_a_clock_at_the_clocks_time(admin_client):
    test_clock = _clock()
    page = admin_client.get(add_url("customer"))
    assert test_clock.public_id in page.text  # offered in the clock choice

    response = admin_client.post(add_url("customer"), _customer_post(test_clock))

    assert response.status_code == 302
    customer = Customer.objects.get(email="grace@navy.example")
    assert customer.test_clock_id == test_clock.public_id
    assert customer.created == START
    assert (
        Event.objects.get(type="customer.created", object_id=customer.public_id).test_clock_id == test_clock.public_id
    )


def test_a_full_clock_refuses_the_customer_with_the_reason(admin_client):
    test_clock = _clock()
    for n in range(MAX_CUSTOMERS):
        make_customer(test_clock=test_clock, email=f"c{n}@example.com")

    response = admin_client.post(add_url("customer"), _customer_post(test_clock))

    assert response.status_code == 200
    expected = f"A test clock holds at most {MAX_CUSTOMERS} customers; “Rehearsal” is full."
    assert expected in response.text
    assert not Customer.objects.filter(email="grace@navy.example").exists()


def test_an_advancing_clock_refuses_the_customer_with_the_reason(admin_client):
    test_clock = _clock(status=ClockStatus.ADVANCING)
    response = admin_client.post(add_url("customer"), _customer_post(test_clock))
    assert response.status_code == 200
    assert "Test clock “Rehearsal” is advancing; add customers once it is ready." in response.text
    assert not Customer.objects.filter(email="grace@navy.example").exists()


def test_the_clock_of_a_customer_is_shown_but_cannot_change(admin_client):
    test_clock, other = _clock(), _clock("Other")
    customer = make_customer(test_clock=test_clock, name="Old name")
    page = admin_client.get(change_url(customer))
    assert "Rehearsal" in page.text
    data = form_data(page, "customer_form")
    assert "test_clock" not in data
    data.update(name=["New name"], test_clock=[other.public_id], _save=["Save"])

    response = admin_client.post(change_url(customer), data)

    assert response.status_code == 302
    customer.refresh_from_db()
    assert (customer.name, customer.test_clock_id) == ("New name", test_clock.public_id)


def test_customers_can_be_filtered_by_being_on_a_test_clock(admin_client):
    test_clock = _clock()
    clocked = make_customer(test_clock=test_clock, name="Clocked Ltd")
    real = make_customer(name="Real Ltd")
    other = make_customer(test_clock=_clock("Other"), name="Other Ltd")

    def listed(**params):
        response = admin_client.get(changelist("customer"), params)
        assert response.status_code == 200
        return set(response.context["cl"].result_list)

    assert listed(test_clock="any") == {clocked, other}
    assert listed(test_clock="none") == {real}
    assert listed(test_clock=test_clock.public_id) == {clocked}
    assert "on a test clock" in admin_client.get(changelist("customer")).text
