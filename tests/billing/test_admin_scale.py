"""The billing admin's large change lists (invoices, customers, subscriptions, events) at scale:
no count of the whole table, searches through indexed columns, a fixed number of queries."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from billing import services
from billing.admin.invoices import InvoiceAdmin
from billing.models import Event, Invoice
from tests.factories import make_customer, make_invoice, make_subscription

pytestmark = pytest.mark.django_db

LARGE = ["invoice", "customer", "subscription", "event"]


def changelist(model: str) -> str:
    return reverse(f"admin:billing_{model}_changelist")


def _make_rows(n: int) -> None:
    """n customers, each with an invoice, a subscription and their events."""
    for _ in range(n):
        customer = make_customer()
        make_invoice(customer=customer)
        make_subscription(customer=customer)
        Event.objects.create(
            type="customer.created", created=timezone.now(), object_type="customer",
            object_id=customer.public_id, customer_id=customer.public_id, data_object={},
        )  # fmt: skip


def _get(client, url, **params):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, params)
    assert response.status_code == 200
    return response, [q["sql"] for q in queries.captured_queries]


def unbounded_counts(sqls: list[str]) -> list[str]:
    """The COUNT queries that are not capped by a LIMIT: a count of every matching row."""
    return [sql for sql in sqls if re.search(r"\bCOUNT\(", sql, re.IGNORECASE) and " LIMIT " not in sql]


@pytest.mark.parametrize("model", LARGE)
@pytest.mark.parametrize("params", [{}, {"q": "customer"}])
def test_a_large_changelist_never_counts_every_row(admin_client, model, params):
    _make_rows(3)

    response, sqls = _get(admin_client, changelist(model), **params)

    assert unbounded_counts(sqls) == []
    assert response.context["cl"].result_count >= 1


@pytest.mark.parametrize("model", LARGE)
def test_a_large_changelist_lists_no_distinct_values_for_its_filters(admin_client, model):
    _make_rows(2)

    _, sqls = _get(admin_client, changelist(model))

    assert [sql for sql in sqls if "DISTINCT" in sql.upper()] == []


@pytest.mark.parametrize("model", LARGE)
def test_a_large_changelist_takes_as_many_queries_for_30_rows_as_for_3(admin_client, model):
    _make_rows(3)
    few = len(_get(admin_client, changelist(model))[1])
    _make_rows(27)

    assert len(_get(admin_client, changelist(model))[1]) == few
    assert len(_get(admin_client, changelist(model), p=2)[1]) == few


def test_past_the_cap_the_list_says_more_than_the_cap_and_still_pages(admin_client, monkeypatch):
    from frame import lists

    monkeypatch.setattr(lists, "COUNT_CAP", 3)
    monkeypatch.setattr(InvoiceAdmin, "list_per_page", 2)
    customer = make_customer()
    invoices = [make_invoice(customer=customer) for _ in range(5)]

    first, sqls = _get(admin_client, changelist("invoice"))
    second, _ = _get(admin_client, changelist("invoice"), p=2)

    assert "More than 3 invoices" in first.text
    assert "Select all invoices (more than 3)" in first.text
    assert first.context["selection_note_all"] == "All selected (more than 3)"
    assert unbounded_counts(sqls) == []
    shown = list(first.context["cl"].result_list) + list(second.context["cl"].result_list)
    assert shown == sorted(invoices, key=lambda i: (i.created, i.id), reverse=True)[:4]


def test_below_the_cap_the_list_gives_the_exact_number(admin_client):
    make_invoice()
    make_invoice()

    response, _ = _get(admin_client, changelist("invoice"))

    assert "2 invoices" in response.text
    assert "More than" not in response.text


# --- Search -----------------------------------------------------------------------------------


def _found(client, model: str, query: str) -> list:
    return list(client.get(changelist(model), {"q": query}).context["cl"].result_list)


@pytest.fixture
def grace():
    customer = make_customer(name="Grace Hopper", email="grace@navy.example")
    subscription = make_subscription(customer=customer)
    invoice = make_invoice(customer=customer, subscription=subscription)
    services.invoice_void(invoice=invoice)  # an event of the invoice, with the customer's id
    others = [make_invoice(customer=make_customer(name="Alan Turing", email="alan@bletchley.example"))]
    return {"customer": customer, "subscription": subscription, "invoice": invoice, "others": others}


def test_an_invoice_is_found_by_number_id_prefix_and_its_customer(admin_client, grace):
    invoice, customer = grace["invoice"], grace["customer"]
    for query in (
        invoice.number,
        invoice.public_id,
        invoice.public_id[:10],
        "hopper",
        "GRACE@NAVY",
        customer.public_id,
        grace["subscription"].public_id,
    ):
        assert _found(admin_client, "invoice", query) == [invoice], query


def test_invoice_search_words_must_all_match(admin_client, grace):
    assert _found(admin_client, "invoice", "grace hopper") == [grace["invoice"]]
    assert _found(admin_client, "invoice", "grace turing") == []


def test_an_id_is_matched_by_its_beginning_only(admin_client, grace):
    invoice = grace["invoice"]

    assert _found(admin_client, "invoice", invoice.public_id[3:]) == []


def test_a_customer_is_found_by_name_email_or_id(admin_client, grace):
    customer = grace["customer"]
    for query in ("opper", "navy.example", customer.public_id):
        assert _found(admin_client, "customer", query) == [customer], query


def test_a_subscription_is_found_by_its_id_or_its_customer(admin_client, grace):
    subscription = grace["subscription"]
    make_subscription()
    for query in (subscription.public_id, "Grace", "grace@navy", grace["customer"].public_id):
        assert _found(admin_client, "subscription", query) == [subscription], query


def test_events_are_found_by_object_id_customer_id_or_type(admin_client, grace):
    invoice, customer = grace["invoice"], grace["customer"]

    assert [e.type for e in _found(admin_client, "event", invoice.public_id)] == ["invoice.voided"]
    assert {e.customer_id for e in _found(admin_client, "event", customer.public_id)} == {customer.public_id}
    assert [e.object_id for e in _found(admin_client, "event", "invoice.voided")] == [invoice.public_id]


def test_an_event_filter_offers_every_object_type_without_reading_the_table(admin_client, grace):
    response = admin_client.get(changelist("event"), {"object_type__exact": "invoice"})

    assert {e.object_type for e in response.context["cl"].result_list} == {"invoice"}
    assert "Subscription" in response.text and "Quote" in response.text


def test_the_date_filter_replaces_the_date_hierarchy(admin_client):
    old = make_invoice(created=timezone.now() - timedelta(days=40))
    new = make_invoice()

    response = admin_client.get(
        changelist("invoice"), {"created__gte": (timezone.now() - timedelta(days=7)).isoformat()}
    )

    assert list(response.context["cl"].result_list) == [new]
    assert old not in response.context["cl"].result_list


def test_the_currency_filter_lists_the_accounts_currencies(admin_client):
    make_invoice(currency="USD")
    eur = make_invoice(currency="EUR")

    response = admin_client.get(changelist("invoice"), {"total_currency__exact": "EUR"})

    assert list(response.context["cl"].result_list) == [eur]
    assert Invoice.objects.count() == 2


def test_the_event_type_index_comes_with_its_migration_and_goes_with_it(migrator):
    def indexes() -> set[str]:
        with connection.cursor() as cursor:
            return set(connection.introspection.get_constraints(cursor, "billing_event"))

    migrator.apply_initial_migration(("billing", "0009_payment_page"))
    assert "event_type_created" not in indexes()

    migrator.apply_tested_migration(("billing", "0010_admin_list_indexes"))
    assert "event_type_created" in indexes()

    migrator.apply_tested_migration(("billing", "0009_payment_page"))
    assert "event_type_created" not in indexes()


def test_a_search_matching_more_rows_than_are_listed_still_finds_them_all(admin_client, monkeypatch):
    from billing import selectors

    monkeypatch.setattr(selectors, "SEARCH_IDS_LISTED", 1)
    hoppers = [make_invoice(customer=make_customer(name=f"Grace Hopper {n}")) for n in range(3)]
    numbered = [make_invoice(number=f"HOP-{n}") for n in range(2)]
    make_invoice(customer=make_customer(name="Alan Turing"))

    assert set(_found(admin_client, "invoice", "hop")) == {*hoppers, *numbered}


def test_the_customer_autocomplete_of_the_invoice_form_searches_the_same_way(admin_client, grace):
    response = admin_client.get(
        reverse("admin:autocomplete"),
        {"term": "hopper", "app_label": "billing", "model_name": "invoice", "field_name": "customer"},
    )

    assert response.status_code == 200
    assert [result["id"] for result in response.json()["results"]] == [str(grace["customer"].pk)]
