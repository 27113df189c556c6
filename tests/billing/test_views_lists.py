"""The billing lists: search, status filter, pagination, htmx fragments and bounded queries."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.factories import make_customer, make_invoice, make_price, make_quote, make_subscription

pytestmark = pytest.mark.django_db

LISTS = ["customers", "invoices", "subscriptions", "quotes"]


def _rows(name: str, count: int) -> None:
    price = make_price()
    for _ in range(count):
        if name == "customers":
            make_customer()
        elif name == "invoices":
            make_invoice()
        elif name == "subscriptions":
            make_subscription(price=price)
        else:
            make_quote()


def _list(client, name: str, **params):
    return client.get(reverse(name), params)


def test_each_list_shows_its_objects_to_a_viewer(viewer_client):
    invoice = make_invoice(customer=make_customer(name="Ada Lovelace"))
    subscription = make_subscription(customer=invoice.customer)
    quote = make_quote(customer=invoice.customer)
    expected = {
        "customers": ["Ada Lovelace", invoice.customer.public_id],
        "invoices": [invoice.number, "Ada Lovelace"],
        "subscriptions": [subscription.public_id, "Pro plan"],
        "quotes": [quote.public_id, "Ada Lovelace"],
    }
    for name, texts in expected.items():
        response = _list(viewer_client, name)
        assert response.status_code == 200
        for text in texts:
            assert text in response.text, (name, text)


@pytest.mark.parametrize("name", LISTS)
def test_an_empty_list_explains_itself(viewer_client, name):
    response = _list(viewer_client, name)
    assert response.status_code == 200
    assert f"No {name} yet." in response.text


def test_search_narrows_invoices_by_customer_name_email_number_and_id(viewer_client):
    ada = make_invoice(customer=make_customer(name="Ada Lovelace", email="ada@engine.example"))
    bob = make_invoice(customer=make_customer(name="Bob Babbage", email="bob@mill.example"))
    for q in ["lovelace", "ADA@engine", ada.number, ada.public_id]:
        response = _list(viewer_client, "invoices", q=q)
        assert ada.public_id in response.text, q
        assert bob.public_id not in response.text, q


def test_search_narrows_customers_subscriptions_and_quotes(viewer_client):
    ada, bob = make_customer(name="Ada Lovelace"), make_customer(name="Bob Babbage")
    sub_ada, sub_bob = make_subscription(customer=ada), make_subscription(customer=bob)
    quote_ada, quote_bob = make_quote(customer=ada), make_quote(customer=bob)
    cases = {"customers": (ada, bob), "subscriptions": (sub_ada, sub_bob), "quotes": (quote_ada, quote_bob)}
    for name, (found, other) in cases.items():
        response = _list(viewer_client, name, q="lovelace")
        assert found.public_id in response.text, name
        assert other.public_id not in response.text, name


def test_a_search_without_matches_offers_to_clear_it(viewer_client):
    make_invoice()
    response = _list(viewer_client, "invoices", q="nobody-by-that-name")
    assert "No invoices match this search." in response.text
    assert "Clear the filters" in response.text


def test_status_filter_narrows_each_list(viewer_client):
    paid, open_ = make_invoice(status="paid"), make_invoice(status="open")
    past_due, active = make_subscription(status="past_due"), make_subscription(status="active")
    accepted, draft = make_quote(status="accepted"), make_quote(status="draft")
    cases = {"invoices": ("paid", paid, open_), "subscriptions": ("past_due", past_due, active)}
    cases["quotes"] = ("accepted", accepted, draft)
    for name, (status, found, other) in cases.items():
        response = _list(viewer_client, name, status=status)
        assert found.public_id in response.text, name
        assert other.public_id not in response.text, name


def test_the_overdue_filter_lists_open_invoices_past_their_due_date(viewer_client):
    now = timezone.now()
    overdue = make_invoice(status="open", due_date=now - timedelta(days=1))
    not_due = make_invoice(status="open", due_date=now + timedelta(days=1))
    paid_late = make_invoice(status="paid", due_date=now - timedelta(days=1))
    response = _list(viewer_client, "invoices", status="overdue")
    assert overdue.public_id in response.text
    assert not_due.public_id not in response.text
    assert paid_late.public_id not in response.text


def test_the_expiring_filter_lists_open_quotes_expiring_within_a_week(viewer_client):
    now = timezone.now()
    soon = make_quote(status="open", expires_at=now + timedelta(days=3))
    later = make_quote(status="open", expires_at=now + timedelta(days=30))
    expired = make_quote(status="open", expires_at=now - timedelta(days=1))
    response = _list(viewer_client, "quotes", status="expiring")
    assert soon.public_id in response.text
    assert later.public_id not in response.text
    assert expired.public_id not in response.text


def test_the_customer_filter_finds_customers_with_open_invoices_or_past_due_subscriptions(viewer_client):
    owes = make_invoice(status="open").customer
    late = make_subscription(status="past_due").customer
    settled = make_invoice(status="paid").customer
    response = _list(viewer_client, "customers", status="open_invoices")
    assert owes.public_id in response.text
    assert late.public_id not in response.text
    response = _list(viewer_client, "customers", status="past_due")
    assert late.public_id in response.text
    assert settled.public_id not in response.text


def test_an_unknown_status_is_ignored_with_a_message(viewer_client):
    invoice = make_invoice()
    response = _list(viewer_client, "invoices", status="bogus")
    assert response.status_code == 200
    assert "The filter was ignored." in response.text
    assert invoice.public_id in response.text


def test_the_filter_form_updates_the_results_with_htmx_and_a_bookmarkable_url(viewer_client):
    response = _list(viewer_client, "invoices")
    assert 'hx-get="/invoices/"' in response.text
    assert 'hx-target="#results"' in response.text
    assert 'hx-push-url="true"' in response.text
    assert 'id="results"' in response.text


@pytest.mark.parametrize("name", LISTS)
def test_an_htmx_request_gets_only_the_results_fragment(viewer_client, name):
    _rows(name, 2)
    response = viewer_client.get(reverse(name), headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "<html" not in response.text
    assert '<nav class="main-nav"' not in response.text
    assert response.text.lstrip().startswith('<section id="results"')
    assert "HX-Request" in response["Vary"]


def test_an_htmx_history_restore_gets_the_whole_page(viewer_client):
    headers = {"HX-Request": "true", "HX-History-Restore-Request": "true"}
    response = viewer_client.get(reverse("invoices"), headers=headers)
    assert "<html" in response.text


@pytest.mark.parametrize("name", LISTS)
def test_lists_show_25_rows_a_page(viewer_client, name):
    _rows(name, 60)
    first = _list(viewer_client, name)
    last = _list(viewer_client, name, page=3)
    assert len(first.context["page_obj"].object_list) == 25
    assert len(last.context["page_obj"].object_list) == 10
    assert f"60 {name} · page 1 of 3" in first.text


def test_a_bad_page_number_gives_the_first_or_last_page(viewer_client):
    _rows("invoices", 60)
    assert _list(viewer_client, "invoices", page="abc").context["page_obj"].number == 1
    assert _list(viewer_client, "invoices", page="99").context["page_obj"].number == 3
    assert _list(viewer_client, "invoices", page="-1").context["page_obj"].number == 3


def test_page_links_keep_the_search_and_filter(viewer_client):
    for _ in range(30):
        make_invoice(status="paid", customer=make_customer(name="Ada"))
    response = _list(viewer_client, "invoices", q="ada", status="paid", page=2)
    assert response.context["page_obj"].number == 2
    assert 'href="?q=ada&amp;status=paid&amp;page=1"' in response.text


def test_page_links_drop_an_unknown_status(viewer_client):
    _rows("invoices", 30)
    response = _list(viewer_client, "invoices", status="bogus")
    assert 'href="?page=2"' in response.text


@pytest.mark.parametrize("name", LISTS)
def test_a_list_of_60_rows_takes_a_bounded_number_of_queries(viewer_client, django_assert_max_num_queries, name):
    _rows(name, 60)
    # session, user, role, count, rows (+ one prefetch for subscription items)
    with django_assert_max_num_queries(6):
        response = _list(viewer_client, name)
    assert response.status_code == 200


def _many(name: str, count: int) -> None:
    """Rows that each bring their own customer (and, for subscriptions, their own product and price)."""
    for n in range(count):
        customer = make_customer()
        if name == "customers":
            continue
        if name == "invoices":
            make_invoice(customer=customer, due_date=timezone.now() - timedelta(days=n % 3))
        elif name == "subscriptions":
            make_subscription(customer=customer, price=make_price(name=f"Plan {n}"), cancel_at=timezone.now())
        else:
            make_quote(customer=customer)


def _queries(client, name: str, **params) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        response = _list(client, name, **params)
    assert response.status_code == 200
    return len(queries.captured_queries)


@pytest.mark.parametrize("name", LISTS)
def test_a_list_takes_as_many_queries_for_60_rows_across_customers_as_for_3(viewer_client, name):
    _many(name, 3)
    few = _queries(viewer_client, name)
    _many(name, 57)
    assert _queries(viewer_client, name) == few
    assert _queries(viewer_client, name, page=3) == few


@pytest.mark.parametrize(
    ("name", "status"), [("invoices", "overdue"), ("customers", "open_invoices"), ("quotes", "open")]
)
def test_a_filtered_and_searched_list_of_60_rows_stays_bounded(
    viewer_client, django_assert_max_num_queries, name, status
):
    _many(name, 60)
    with django_assert_max_num_queries(6):
        response = _list(viewer_client, name, q="customer", status=status)
    assert response.status_code == 200


def test_an_htmx_page_of_60_invoices_stays_bounded(viewer_client, django_assert_max_num_queries):
    _many("invoices", 60)
    with django_assert_max_num_queries(5):
        response = viewer_client.get(reverse("invoices"), {"page": 2}, headers={"HX-Request": "true"})
    assert response.status_code == 200


def test_a_list_counts_at_most_the_cap_and_says_there_are_more(editor_client, monkeypatch):
    from frame import lists

    monkeypatch.setattr(lists, "COUNT_CAP", 3)
    customer = make_customer()
    for _ in range(5):
        make_invoice(customer=customer)
    response = editor_client.get(reverse("invoices"))
    assert response.status_code == 200
    assert "More than 3 invoices" in response.text
    assert "page 1 of 1+" in response.text


def test_an_invoice_is_found_by_its_whole_id_or_its_start_but_not_a_fragment_inside_it(editor_client):
    invoice = make_invoice(customer=make_customer(name="Grace Hopper"))
    other = make_invoice(customer=make_customer(name="Ada Lovelace"))
    for q in (invoice.public_id, invoice.public_id[:8]):
        text = editor_client.get(reverse("invoices"), {"q": q}).text
        assert invoice.public_id in text
        assert other.public_id not in text
    assert invoice.public_id not in editor_client.get(reverse("invoices"), {"q": invoice.public_id[5:]}).text
