"""What automations add to billing detail pages: the runs on the object and each event's
matching record in words, through billing's DETAIL_PANELS registry."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from automations.models import MatchingRecord, Run
from automations.views.object_panels import matching_records, object_panel, object_runs
from billing import jobs, services
from billing.models import Event, Invoice
from billing.views.common import DETAIL_PANELS
from tests.automations.test_engine import VOID, automation
from tests.factories import make_customer, make_invoice

pytestmark = pytest.mark.django_db

BIG = [{"type": "invoice_amount", "params": {"min": "500.00", "max": None}}]
LATER_VOID = {**VOID, "delay": {"amount": 3, "unit": "days"}}


def _overdue(django_capture_on_commit_callbacks, **fields):
    invoice = make_invoice(due_date=timezone.now() - timedelta(days=1), **fields)
    with django_capture_on_commit_callbacks(execute=True):
        jobs.run_overdue()
    return invoice


def test_the_automations_app_registers_its_panel_with_billing():
    assert object_panel in DETAIL_PANELS


def test_the_runs_on_an_object_carry_their_next_step(django_capture_on_commit_callbacks):
    auto = automation("invoice.overdue", [LATER_VOID, VOID], name="Default chase")
    invoice = _overdue(django_capture_on_commit_callbacks, amount="120.00")
    (run,) = object_runs(invoice.public_id)
    assert run.automation == auto
    assert (run.step_position, run.step_count, run.step_label, run.step_status) == (1, 2, "Void invoice", "pending")
    assert object_runs(make_invoice().public_id) == []


def test_the_matching_record_lists_each_check_in_priority_order(django_capture_on_commit_callbacks):
    automation("invoice.overdue", [VOID], filters=BIG, name="Big invoices")
    chase = automation("invoice.overdue", [LATER_VOID], name="Default chase")
    invoice = _overdue(django_capture_on_commit_callbacks, amount="120.00")
    event = Event.objects.get(object_id=invoice.public_id, type="invoice.overdue")
    (record,) = matching_records([event])[event.pk]
    assert record.trigger_label == "Invoice is overdue"
    assert [(c.name, c.matched) for c in record.checks] == [("Big invoices", False), ("Default chase", True)]
    assert record.checks[0].found == "120.00 EUR"
    assert record.run.automation == chase


def test_the_invoice_page_shows_the_run_and_the_record_in_words(viewer_client, django_capture_on_commit_callbacks):
    automation("invoice.overdue", [VOID], filters=BIG, name="Big invoices")
    chase = automation("invoice.overdue", [LATER_VOID], name="Default chase")
    invoice = _overdue(django_capture_on_commit_callbacks, amount="120.00")
    run = Run.objects.get()
    response = viewer_client.get(reverse("invoice_detail", args=[invoice.public_id]))
    text = response.text
    assert '<h2 id="runs-heading">Automation runs</h2>' in text
    assert reverse("automation_detail", args=[chase.public_id]) in text
    assert reverse("run_detail", args=[chase.public_id, run.public_id]) in text
    assert "Step 1 of 1: Void invoice" in text
    assert "Invoice is overdue:" in text
    assert "checked '" in text and ">Big invoices</a>':" in text
    assert "Invoice amount did not match: expected invoice amount at least 500.00 EUR, found 120.00 EUR" in text
    assert f'matched, started run <a href="{reverse("run_detail", args=[chase.public_id, run.public_id])}">' in text


def test_an_event_no_automation_matched_says_so(viewer_client, django_capture_on_commit_callbacks):
    automation("invoice.overdue", [VOID], filters=BIG, name="Big invoices")
    invoice = _overdue(django_capture_on_commit_callbacks, amount="120.00")
    response = viewer_client.get(reverse("invoice_detail", args=[invoice.public_id]))
    assert "No automation has run on this invoice." in response.text
    assert "Outcome: no automation matched." in response.text


def test_an_event_without_enabled_automations_gives_the_outcome(viewer_client, django_capture_on_commit_callbacks):
    invoice = _overdue(django_capture_on_commit_callbacks)
    response = viewer_client.get(reverse("invoice_detail", args=[invoice.public_id]))
    assert "Invoice is overdue:</strong>" in response.text
    assert "no enabled automation for this trigger." in response.text


def test_a_record_with_odd_checks_still_renders(viewer_client):
    invoice = make_invoice()
    services.invoice_void(invoice=invoice)
    event = Event.objects.get(object_id=invoice.public_id)
    MatchingRecord.objects.create(
        event=event, trigger="unknown.trigger", handled_at=timezone.now(), outcome="nothing",
        checks=[{"name": "Gone", "matched": False}, "not a dict", {"automation": "", "matched": True}],
    )  # fmt: skip
    response = viewer_client.get(reverse("invoice_detail", args=[invoice.public_id]))
    assert response.status_code == 200
    assert "unknown.trigger:" in response.text
    assert "checked 'Gone':" in response.text


def test_customers_get_no_runs_panel(viewer_client):
    customer = make_customer()
    response = viewer_client.get(reverse("customer_detail", args=[customer.public_id]))
    assert "Automation runs" not in response.text


def test_the_page_takes_the_same_queries_for_1_or_15_runs(
    viewer_client, django_capture_on_commit_callbacks, django_assert_num_queries
):
    automation("invoice.overdue", [LATER_VOID, VOID], name="Default chase")
    invoice = _overdue(django_capture_on_commit_callbacks)
    url = reverse("invoice_detail", args=[invoice.public_id])
    with CaptureQueriesContext(connection) as one:
        viewer_client.get(url)
    for _ in range(14):  # each new overdue event starts one more run
        Invoice.objects.filter(pk=invoice.pk).update(overdue_at=None)
        with django_capture_on_commit_callbacks(execute=True):
            services.invoice_mark_overdue(invoice=invoice)
    assert Run.objects.filter(object_id=invoice.public_id).count() == 15
    with django_assert_num_queries(len(one.captured_queries)):
        response = viewer_client.get(url)
    assert response.text.count("Step 1 of 2: Void invoice") == 15
    assert response.text.count("started run") == 15
