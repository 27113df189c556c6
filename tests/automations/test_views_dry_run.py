"""The dry run's pages (issue 14): "Which automation would run?" on invoices, subscriptions and
quotes (viewers too), and the builder's "Try it on an object" for editors: the unsaved draft
checked on an existing object, its problems inline, its search box."""

from datetime import timedelta

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from billing.models import AccountSettings
from tests.automations.test_engine import automation
from tests.automations.test_views_builder import form
from tests.factories import make_customer, make_invoice, make_quote, make_subscription

pytestmark = pytest.mark.django_db

OVERDUE = "invoice.overdue"
VOID = {"action": "void_invoice", "delay": {"amount": 0, "unit": "days"}, "params": {}}
WAIT_THEN_VOID = {"action": "void_invoice", "delay": {"amount": 3, "unit": "days"}, "params": {}}
NEW = reverse("automation_new")
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _account(db):
    AccountSettings.load()


def page(kind, public_id):
    return reverse("object_dry_run", args=[kind, public_id])


def _row_counts() -> dict[str, int]:
    return {model._meta.label: model.objects.count() for model in apps.get_models()}


# --- The object's dry run -------------------------------------------------------------------------


def test_a_viewer_sees_which_automation_would_run_for_an_invoice(viewer_client):
    automation(OVERDUE, [VOID], [{"type": "customer_metadata", "params": {"key": "tier", "value": "vip"}}], name="VIP")
    automation(OVERDUE, [WAIT_THEN_VOID], name="Chase everyone")
    invoice = make_invoice(customer=make_customer(metadata={"tier": "gold"}))

    response = viewer_client.get(page("invoice", invoice.public_id))

    assert response.status_code == 200
    text = response.content.decode()
    assert "Which automation would run?" in text
    assert "“Chase everyone” would start." in text
    assert "tier = vip" in text and "tier = gold" in text and "does not hold" in text
    expected = (timezone.now() + timedelta(days=3)).strftime("%Y-%m-%d")
    assert expected in text
    assert reverse("invoice_detail", args=[invoice.public_id]) in text


def test_the_page_says_no_run_would_start_on_a_paid_invoice(viewer_client):
    automation(OVERDUE, [VOID], name="Chase")
    invoice = make_invoice(status="paid")
    text = viewer_client.get(page("invoice", invoice.public_id)).content.decode()
    assert "No run would start: invoice already paid." in text


def test_subscription_and_quote_pages_show_their_triggers(viewer_client):
    subscription = make_subscription(cancel_at=timezone.now() + timedelta(days=30))
    quote = make_quote()
    sub_text = viewer_client.get(page("subscription", subscription.public_id)).content.decode()
    quote_text = viewer_client.get(page("quote", quote.public_id)).content.decode()
    assert "Subscription is scheduled to cancel" in sub_text and "Subscription is canceled" in sub_text
    assert "Quote has an expiration date" in quote_text and "Steps are timed from the expiry date" in quote_text


def test_an_htmx_request_gets_the_fragment_the_object_page_loads(viewer_client):
    invoice = make_invoice()
    response = viewer_client.get(page("invoice", invoice.public_id), **HTMX)
    assert response.status_code == 200
    text = response.content.decode()
    assert 'id="dry-run-result"' in text and "<html" not in text


def test_the_invoice_page_loads_the_dry_run_and_links_to_it(viewer_client):
    invoice = make_invoice()
    text = viewer_client.get(reverse("invoice_detail", args=[invoice.public_id])).content.decode()
    url = page("invoice", invoice.public_id)
    assert f'hx-get="{url}"' in text and f'href="{url}"' in text


def test_an_unknown_object_is_a_404_that_says_so(viewer_client):
    response = viewer_client.get(page("invoice", "in_nope"))
    assert response.status_code == 404
    assert "There is no invoice with the id “in_nope”." in response.content.decode()
    response = viewer_client.get(page("customer", "cus_x"))
    assert response.status_code == 404
    assert "There is no invoice, subscription or quote" in response.content.decode()


def test_anonymous_users_are_sent_to_log_in_and_outsiders_are_refused(client, outsider):
    invoice = make_invoice()
    response = client.get(page("invoice", invoice.public_id))
    assert response.status_code == 302 and reverse("login") in response["Location"]
    client.force_login(outsider)
    assert client.get(page("invoice", invoice.public_id)).status_code == 403


def test_the_page_writes_nothing(viewer_client):
    automation(OVERDUE, [VOID], name="Chase")
    invoice = make_invoice(subscription=make_subscription(), due_date=timezone.now() + timedelta(days=2))
    before = _row_counts()
    with CaptureQueriesContext(connection) as queries:
        assert viewer_client.get(page("invoice", invoice.public_id)).status_code == 200
    assert _row_counts() == before
    assert all(q["sql"].lstrip().upper().startswith("SELECT") for q in queries.captured_queries)


def test_only_get_is_allowed(viewer_client):
    invoice = make_invoice()
    assert viewer_client.post(page("invoice", invoice.public_id)).status_code == 405


# --- The builder: try the draft on an object -------------------------------------------------------


def draft(**extra):
    return form(name="Draft chase", trigger=OVERDUE, steps=[("void_invoice", 2, "days", {})], **extra)


def test_an_editor_tries_the_unsaved_draft_on_an_invoice(editor_client):
    invoice = make_invoice(amount="150.00")
    data = draft(builder_action=f"dry_run:{invoice.public_id}")
    data |= {"filter-0-type": "invoice_amount", "filter-0-min": "100", "filter-0-max": ""}
    before = _row_counts()

    with CaptureQueriesContext(connection) as queries:
        response = editor_client.post(NEW, data)

    assert response.status_code == 200
    text = response.content.decode()
    assert "This draft would start." in text
    assert "invoice amount at least 100" in text and "150.00 EUR" in text
    assert (timezone.now() + timedelta(days=2)).strftime("%Y-%m-%d") in text
    assert f'name="dry_run_object" value="{invoice.public_id}"' in text  # kept for the next redraws
    assert _row_counts() == before
    assert all(q["sql"].lstrip().upper().startswith("SELECT") for q in queries.captured_queries)


def test_the_draft_is_checked_after_the_automations_placed_above_it(editor_client):
    automation(OVERDUE, [VOID], name="Catch all")
    invoice = make_invoice()
    text = editor_client.post(NEW, draft(builder_action=f"dry_run:{invoice.public_id}")).content.decode()
    assert "“Catch all” would start." in text
    assert "(this draft)" in text and "matches, but is not reached" in text


def test_a_draft_whose_filter_fails_says_which_and_why(editor_client):
    invoice = make_invoice(amount="50.00")
    data = draft(builder_action=f"dry_run:{invoice.public_id}")
    data |= {"filter-0-type": "invoice_amount", "filter-0-min": "100", "filter-0-max": ""}
    text = editor_client.post(NEW, data).content.decode()
    assert "No run would start: no automation matches." in text
    assert "50.00 EUR" in text and "does not hold" in text


def test_a_draft_with_problems_shows_them_inline_and_answers_400(editor_client):
    invoice = make_invoice()
    data = form(name="Broken", trigger=OVERDUE, steps=[("void_invoice", "soon", "days", {})])
    response = editor_client.post(NEW, data | {"builder_action": f"dry_run:{invoice.public_id}"})
    assert response.status_code == 400
    text = response.content.decode()
    assert "Fix the problems in the draft to try it." in text
    assert 'id="builder-errors"' in text
    assert not apps.get_model("automations", "Automation").objects.exists()


def test_trying_an_unknown_object_answers_404_in_the_builder(editor_client):
    response = editor_client.post(NEW, draft(builder_action="dry_run:in_missing"))
    assert response.status_code == 404
    assert "There is no invoice with the id “in_missing”." in response.content.decode()


def test_without_javascript_the_typed_id_is_tried(editor_client):
    invoice = make_invoice()
    response = editor_client.post(NEW, draft(builder_action="dry_run", dry_run_pick=f" {invoice.public_id} "))
    assert response.status_code == 200
    assert "This draft would start." in response.content.decode()


def test_the_tried_object_follows_the_draft_through_other_builder_actions(editor_client):
    invoice = make_invoice()
    data = draft(builder_action="add_step", dry_run_object=invoice.public_id)
    text = editor_client.post(NEW, data).content.decode()
    assert f'name="dry_run_object" value="{invoice.public_id}"' in text


def test_an_edited_automation_is_tried_in_its_own_place_not_against_itself(editor_client):
    saved = automation(OVERDUE, [VOID], name="Saved chase")
    invoice = make_invoice()
    data = form(name="Saved chase", trigger=OVERDUE, steps=[("void_invoice", 1, "days", {})])
    url = reverse("automation_edit", args=[saved.public_id])
    text = editor_client.post(url, data | {"builder_action": f"dry_run:{invoice.public_id}"}).content.decode()
    assert "This draft would start." in text


def test_viewers_cannot_use_the_builder_nor_its_search(viewer_client):
    invoice = make_invoice()
    assert viewer_client.post(NEW, draft(builder_action=f"dry_run:{invoice.public_id}")).status_code == 403
    search = reverse("dry_run_search")
    assert viewer_client.get(search, {"trigger": OVERDUE, "dry_run_q": "x"}).status_code == 403


# --- The builder's search box ---------------------------------------------------------------------


def test_the_search_finds_objects_by_customer_name_and_id(editor_client):
    wanted = make_invoice(customer=make_customer(name="Ada Lovelace"))
    make_invoice(customer=make_customer(name="Grace Hopper"))
    search = reverse("dry_run_search")

    by_name = editor_client.get(search, {"trigger": OVERDUE, "dry_run_q": "lovelace"}, **HTMX).content.decode()
    by_id = editor_client.get(search, {"trigger": OVERDUE, "dry_run_q": wanted.public_id}, **HTMX).content.decode()

    for text in (by_name, by_id):
        assert f'value="dry_run:{wanted.public_id}"' in text and "Grace" not in text
        assert f'hx-post="{NEW}"' in text


def test_the_search_looks_for_the_triggers_kind_of_object(editor_client):
    subscription = make_subscription(customer=make_customer(name="Ada Lovelace"))
    make_invoice(customer=subscription.customer)
    text = editor_client.get(
        reverse("dry_run_search"), {"trigger": "subscription.canceled", "dry_run_q": "ada"}, **HTMX
    ).content.decode()
    assert f"dry_run:{subscription.public_id}" in text and "dry_run:in_" not in text


def test_the_search_refuses_bad_input_with_a_message(editor_client):
    search = reverse("dry_run_search")
    assert editor_client.get(search, {"trigger": "nope", "dry_run_q": "x"}).status_code == 400
    assert editor_client.get(search, {"trigger": OVERDUE, "dry_run_automation": "a/b"}).status_code == 400
    response = editor_client.get(search, {"trigger": OVERDUE, "dry_run_q": "x" * 101}, **HTMX)
    assert response.status_code == 400 and "at most 100 characters" in response.content.decode()


def test_without_javascript_the_search_is_a_page_listing_ids(editor_client):
    invoice = make_invoice(customer=make_customer(name="Ada Lovelace"))
    response = editor_client.get(reverse("dry_run_search"), {"trigger": OVERDUE, "dry_run_q": "ada"})
    assert response.status_code == 200
    text = response.content.decode()
    assert "<html" in text and invoice.public_id in text
