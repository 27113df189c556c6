"""The backfill offer (automations.views.backfill): after creating or turning on an automation,
editors are offered runs for the objects already in its trigger's state."""

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from automations.models import Automation, Run
from tests.automations.test_backfill import ENTERPRISE, around, later, send_invoice
from tests.automations.test_engine import _overdue_invoice, automation
from tests.automations.test_views_builder import NEW, form, text

pytestmark = pytest.mark.django_db

OVERDUE = "invoice.overdue"
HTMX = {"HTTP_HX_REQUEST": "true"}
CHASE = form(name="Chase", trigger=OVERDUE, steps=[("void_invoice", 2, "days", {})])


def offer_url(auto) -> str:
    return reverse("automation_backfill", args=[auto.public_id])


def toggle(client, auto, enabled="1", **extra):
    return client.post(reverse("automation_toggle", args=[auto.public_id]), {"enabled": enabled}, **extra)


def overdue_invoices(callbacks, count):
    return [_overdue_invoice(callbacks) for _ in range(count)]


def test_creating_an_automation_leads_to_the_offer_when_objects_are_already_in_its_state(
    editor_client, django_capture_on_commit_callbacks
):
    overdue_invoices(django_capture_on_commit_callbacks, 2)
    response = editor_client.post(NEW, CHASE)
    auto = Automation.objects.get(name="Chase")
    assert response.status_code == 302 and response.url == offer_url(auto)
    page = editor_client.get(response.url)
    assert page.status_code == 200
    words = text(page)
    assert "2 invoices are already overdue and match this automation. Start runs for them too?" in words
    assert "Start 2 runs" in words and "No, only new events" in words
    assert not Run.objects.exists()  # nothing starts before the editor says so


def test_an_htmx_save_redirects_the_browser_to_the_offer(editor_client, django_capture_on_commit_callbacks):
    overdue_invoices(django_capture_on_commit_callbacks, 1)
    response = editor_client.post(NEW, CHASE, **HTMX)
    assert response.headers["HX-Redirect"] == offer_url(Automation.objects.get(name="Chase"))


def test_nothing_is_offered_when_no_object_is_in_the_state(editor_client, django_capture_on_commit_callbacks):
    response = editor_client.post(NEW, CHASE)
    auto = Automation.objects.get(name="Chase")
    assert response.url == reverse("automation_detail", args=[auto.public_id])
    auto.enabled = False
    auto.save(update_fields=["enabled"])
    response = toggle(editor_client, auto)
    assert response.status_code == 302 and response.url != offer_url(auto)
    assert toggle(editor_client, auto, "0", **HTMX).status_code == 200
    on = toggle(editor_client, auto, **HTMX)
    assert on.status_code == 200 and "HX-Redirect" not in on.headers


def test_nothing_is_offered_when_no_object_in_the_state_matches(editor_client, django_capture_on_commit_callbacks):
    overdue_invoices(django_capture_on_commit_callbacks, 1)
    auto = automation(OVERDUE, [later()], filters=ENTERPRISE, enabled=False)
    response = toggle(editor_client, auto)
    assert response.url != offer_url(auto)
    assert "Nothing to start" in text(editor_client.get(offer_url(auto)))


def test_turning_an_automation_on_leads_to_the_offer(editor_client, django_capture_on_commit_callbacks):
    overdue_invoices(django_capture_on_commit_callbacks, 3)
    auto = automation(OVERDUE, [later()], name="Chase", enabled=False)
    response = toggle(editor_client, auto)
    assert response.status_code == 302 and response.url == offer_url(auto)
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["“Chase” is on: it matches new events again."]
    assert "3 invoices are already overdue and match this automation." in text(editor_client.get(response.url))
    auto.refresh_from_db()
    assert auto.enabled


def test_turning_it_on_from_the_list_with_htmx_redirects_the_browser_to_the_offer(
    editor_client, django_capture_on_commit_callbacks
):
    overdue_invoices(django_capture_on_commit_callbacks, 1)
    auto = automation(OVERDUE, [later()], enabled=False)
    assert toggle(editor_client, auto, **HTMX).headers["HX-Redirect"] == offer_url(auto)


def test_confirming_starts_the_runs_and_says_how_many(editor_client, django_capture_on_commit_callbacks):
    invoices = overdue_invoices(django_capture_on_commit_callbacks, 2)
    auto = automation(OVERDUE, [later()], name="Chase")
    response = editor_client.post(offer_url(auto), {"start": "1"})
    assert response.status_code == 302 and response.url == reverse("automation_detail", args=[auto.public_id])
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["Started 2 runs."]
    assert sorted(Run.objects.values_list("object_id", flat=True)) == sorted(i.public_id for i in invoices)
    again = editor_client.post(offer_url(auto), {"start": "1"})
    assert [str(m) for m in get_messages(again.wsgi_request)][-1] == "Started 0 runs."
    assert Run.objects.count() == 2


def test_the_result_counts_the_steps_skipped_because_their_time_had_passed(
    editor_client, django_capture_on_commit_callbacks
):
    send_invoice(django_capture_on_commit_callbacks, due_in=timedelta(days=5))
    auto = automation("invoice.due_date_upcoming", [around(10, "before"), around(2, "before")])
    response = editor_client.post(offer_url(auto), {"start": "1"})
    messages = [str(m) for m in get_messages(response.wsgi_request)]
    assert messages == ["Started 1 run. 1 step whose time had passed was skipped."]


def test_a_viewer_can_neither_see_the_offer_nor_start_runs(viewer_client, django_capture_on_commit_callbacks):
    overdue_invoices(django_capture_on_commit_callbacks, 1)
    auto = automation(OVERDUE, [later()])
    assert viewer_client.get(offer_url(auto)).status_code == 403
    assert viewer_client.post(offer_url(auto), {"start": "1"}).status_code == 403
    assert not Run.objects.exists()


def test_a_post_without_the_confirmation_or_for_an_automation_that_is_off_starts_nothing(
    editor_client, django_capture_on_commit_callbacks
):
    overdue_invoices(django_capture_on_commit_callbacks, 1)
    auto = automation(OVERDUE, [later()], enabled=False)
    assert editor_client.post(offer_url(auto), {}).status_code == 400
    refused = editor_client.post(offer_url(auto), {"start": "1"})
    assert refused.status_code == 409 and "Turn the automation on" in refused.text
    auto.archived_at = timezone.now()
    auto.save(update_fields=["archived_at"])
    assert editor_client.post(offer_url(auto), {"start": "1"}).status_code == 404
    assert editor_client.get(reverse("automation_backfill", args=["auto_nope"])).status_code == 404
    assert not Run.objects.exists()


def test_editing_an_automation_does_not_offer_a_backfill(editor_client, django_capture_on_commit_callbacks):
    auto = automation(OVERDUE, [later()], name="Chase", enabled=False)
    overdue_invoices(django_capture_on_commit_callbacks, 1)  # handled while it was off: no run
    auto.enabled = True
    auto.save(update_fields=["enabled"])
    response = editor_client.post(reverse("automation_edit", args=[auto.public_id]), CHASE)
    assert response.url == reverse("automation_detail", args=[auto.public_id])
