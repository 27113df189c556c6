"""Objects on a test clock carry its badge on every billing list and detail page, at no query per row."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing.services.test_clocks import clock_create
from tests.factories import make_customer, make_invoice, make_price, make_quote, make_subscription

pytestmark = pytest.mark.django_db

START = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
BADGE = "Test clock: Rehearsal"


def _clock(name: str = "Rehearsal"):
    return clock_create(name=name, frozen_time=START)


def _objects(customer):
    price = make_price()
    return {
        "customer": customer,
        "invoice": make_invoice(customer=customer),
        "subscription": make_subscription(customer=customer, price=price),
        "quote": make_quote(customer=customer),
    }


def _clock_url(test_clock) -> str:
    return reverse("test_clock_detail", args=[test_clock.public_id])


def test_each_list_shows_the_badge_on_the_rows_of_clock_customers_only(viewer_client):
    test_clock = _clock()
    _objects(make_customer(name="Clocked Ltd", test_clock=test_clock))
    _objects(make_customer(name="Real Ltd"))
    for name in ["customers", "invoices", "subscriptions", "quotes"]:
        response = viewer_client.get(reverse(name))
        assert response.status_code == 200
        rows = response.text.split("<tr")
        clocked = [row for row in rows if "Clocked Ltd" in row]
        real = [row for row in rows if "Real Ltd" in row]
        assert clocked and all(BADGE in row for row in clocked), name
        assert real and not any("Test clock:" in row for row in real), name


@pytest.mark.parametrize("kind", ["customer", "invoice", "subscription", "quote"])
def test_each_detail_page_of_a_clock_object_shows_the_badge_linking_to_its_clock(viewer_client, kind):
    test_clock = _clock()
    obj = _objects(make_customer(test_clock=test_clock))[kind]
    response = viewer_client.get(reverse(f"{kind}_detail", args=[obj.public_id]))
    assert response.status_code == 200
    assert BADGE in response.text
    assert f'href="{_clock_url(test_clock)}"' in response.text


@pytest.mark.parametrize("kind", ["customer", "invoice", "subscription", "quote"])
def test_a_detail_page_of_a_real_time_object_has_no_badge(viewer_client, kind):
    obj = _objects(make_customer())[kind]
    response = viewer_client.get(reverse(f"{kind}_detail", args=[obj.public_id]))
    assert "Test clock:" not in response.text


def test_the_badge_links_to_the_clock_page(viewer_client):
    test_clock = _clock()
    customer = make_customer(test_clock=test_clock)
    url = _clock_url(test_clock)
    assert url == f"/test-clocks/{test_clock.public_id}/"
    response = viewer_client.get(reverse("customers"))
    assert f'<a class="badge badge-test-clock" href="{url}">{BADGE}</a>' in response.text
    assert BADGE in viewer_client.get(reverse("customer_detail", args=[customer.public_id])).text


def _queries(client, name: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse(name))
    assert response.status_code == 200
    return len(queries.captured_queries)


@pytest.mark.parametrize("name", ["customers", "invoices", "subscriptions", "quotes"])
def test_a_list_of_rows_on_many_clocks_takes_as_many_queries_as_one_without_clocks(viewer_client, name):
    for _ in range(3):
        _objects(make_customer())
    without = _queries(viewer_client, name)
    for n in range(12):
        _objects(make_customer(test_clock=_clock(f"Rehearsal {n}")))
    response = viewer_client.get(reverse(name))
    assert response.text.count("Test clock: Rehearsal") >= 12
    assert _queries(viewer_client, name) == without
