"""Email the customer (issue 16): its subject and body with placeholders, validated in the builder,
previewed on a real invoice, sent once per step to the customer with a link to the payment page."""

import re

import pytest
from django.urls import reverse
from django.utils import timezone
from moneyed import Money

from automations.engine.actions import ACTIONS
from automations.engine.actions.base import ActionSkipped, InvalidParams
from automations.models import Automation, AutomationVersion, Run, RunStep
from automations.services.summary import step_parameters
from billing import services
from billing.hosted import invoice_from_token
from billing.models import AccountSettings, Event, Invoice
from billing.services import LineItem
from billing.services.test_clocks import clock_create
from notifications.models import EmailStatus, OutboundEmail
from tests.factories import DECLINED_CARD, GOOD_CARD, make_price

pytestmark = pytest.mark.django_db

PAYMENT_FAILED = "subscription.payment_failed"
ACTION = ACTIONS["email_customer"]


def _customer(card=GOOD_CARD, **fields):
    fields.setdefault("name", "Acme Ltd")
    fields.setdefault("email", "billing@acme.example")
    return services.customer_create(currency="EUR", default_payment_method=card, **fields)


def _failed_invoice(**customer_fields) -> Invoice:
    price = make_price("49.00", interval="month", name="Pro plan")
    subscription = services.subscription_create(
        customer=_customer(DECLINED_CARD, **customer_fields), items=[(price, 1)]
    )
    return Invoice.objects.get(subscription=subscription)


def _open_invoice() -> Invoice:
    invoice = services.invoice_create(
        customer=_customer(),
        lines=[LineItem(description="Consulting", unit_amount=Money("250.00", "EUR"))],
        collection_method="send_invoice",
        days_until_due=30,
    )
    return services.invoice_finalize(invoice=invoice)


def _step(obj, trigger, params=None) -> RunStep:
    params = ACTION.clean(params or {})
    event = Event.objects.filter(object_id=obj.public_id).order_by("-id").first()
    automation = Automation.objects.create(name="Recover revenue", trigger=trigger, priority=1)
    version = AutomationVersion.objects.create(
        automation=automation, number=1, steps=[{"action": "email_customer", "params": params, "delay": {}}]
    )
    automation.current_version = version
    automation.save(update_fields=["current_version"])
    run = Run.objects.create(
        automation=automation, version=version, trigger=trigger, event=event, object_type="invoice",
        object_id=obj.public_id, started_at=timezone.now(), test_clock=obj.customer.test_clock,
    )  # fmt: skip
    return RunStep.objects.create(
        run=run, position=1, action="email_customer", params=params, scheduled_at=timezone.now()
    )


def _execute(step):
    return ACTION.execute(RunStep.objects.select_related("run__automation").get(pk=step.pk))


def _errors(params) -> dict[str, str]:
    with pytest.raises(InvalidParams) as caught:
        ACTION.clean(params)
    return caught.value.errors


def _pay_link(text: str) -> str:
    return re.search(r"https?://\S+/pay/[^/\s]+/", text).group(0)


# --- parameters -----------------------------------------------------------------------------------


def test_it_is_offered_for_the_four_invoice_triggers_that_concern_the_customer():
    assert ACTION.allowed_triggers == {
        PAYMENT_FAILED,
        "invoice.overdue",
        "invoice.due_date_upcoming",
        "invoice.finalized",
    }
    assert ACTION.label == "Email the customer"


def test_it_takes_an_empty_subject_and_body_as_the_purposes_defaults():
    assert ACTION.clean({}) == {"subject": "", "body": ""}
    assert ACTION.clean({"subject": "  Hi {customer} ", "body": "Pay {amount}: {pay_link}"}) == {
        "subject": "Hi {customer}",
        "body": "Pay {amount}: {pay_link}",
    }


def test_it_refuses_an_unknown_placeholder_in_the_field_where_it_is():
    errors = _errors({"subject": "Invoice {numbr}", "body": "Hello {customer} {total}"})
    assert errors["subject"].startswith("Unknown placeholder {numbr}: use {customer}, {number}")
    assert errors["body"].startswith("Unknown placeholder {total}")


def test_it_refuses_a_body_too_long_and_a_parameter_it_does_not_take():
    assert "at most 5000 characters" in _errors({"body": "x" * 5001})["body"]
    assert "only a subject and a body" in _errors({"subject": "Hi", "survey_url": "https://x.example"})["params"]


def test_the_builder_shows_an_unknown_placeholder_next_to_the_field(editor_client):
    response = editor_client.post(
        reverse("automation_new"),
        {
            "name": "Dunning", "trigger": PAYMENT_FAILED, "step-0-action": "email_customer",
            "step-0-amount": "0", "step-0-unit": "days", "step-0-subject": "Invoice {nope}", "step-0-body": "",
        },
    )  # fmt: skip
    assert response.status_code == 400
    page = response.content.decode()
    assert 'id="step-0-subject-error"' in page and "Unknown placeholder {nope}" in page
    assert 'placeholder="Your payment for invoice {number} failed"' in page  # the default, shown
    assert 'formaction="/automations/email-preview/"' in page  # the preview, without JavaScript too
    assert not Automation.objects.exists()


def test_the_builder_saves_the_step_with_its_subject_and_body(editor_client):
    response = editor_client.post(
        reverse("automation_new"),
        {
            "name": "Dunning", "trigger": PAYMENT_FAILED, "step-0-action": "email_customer",
            "step-0-amount": "0", "step-0-unit": "days", "step-0-subject": "Please pay {number}",
            "step-0-body": "", "step-0-preview_invoice": "in_whatever",
        },
    )  # fmt: skip
    assert response.status_code in (200, 302)
    steps = Automation.objects.get().current_version.steps
    assert steps[0]["action"] == "email_customer"
    assert steps[0]["params"] == {"subject": "Please pay {number}", "body": ""}


# --- preview --------------------------------------------------------------------------------------


def _preview(client, invoice_ref, *, subject="", body="", trigger=PAYMENT_FAILED, htmx=True):
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(
        reverse("email_customer_preview"),
        {"trigger": trigger, "preview_step": "0", "step-0-subject": subject, "step-0-body": body,
         "step-0-preview_invoice": invoice_ref},
        headers=headers,
    )  # fmt: skip


def test_the_preview_renders_the_subject_and_body_for_a_real_invoice(editor_client):
    invoice = _failed_invoice()
    response = _preview(editor_client, invoice.number, body="Dear {customer}, {amount} for {number}: {pay_link}")
    assert response.status_code == 200
    page = response.content.decode()
    assert f"Your payment for invoice {invoice.number} failed" in page  # the default subject
    assert f"Dear Acme Ltd, €49.00 for {invoice.number}" in page
    assert invoice_from_token(_pay_link(page).rstrip("/").rsplit("/", 1)[1]) == invoice
    assert "<html" not in page  # a fragment for htmx
    assert not OutboundEmail.objects.exists()  # nothing is sent


def test_the_preview_works_without_javascript_as_a_page(editor_client):
    invoice = _failed_invoice()
    response = _preview(editor_client, invoice.public_id, htmx=False)
    assert response.status_code == 200
    assert "<html" in response.content.decode() and invoice.number in response.content.decode()


def test_the_preview_says_what_is_wrong(editor_client):
    assert "No finalized invoice" in _preview(editor_client, "in_nothing").content.decode()
    assert _preview(editor_client, "in_nothing").status_code == 400
    invoice = _failed_invoice()
    response = _preview(editor_client, invoice.number, subject="{oops}")
    assert response.status_code == 400 and "Unknown placeholder {oops}" in response.content.decode()
    response = _preview(editor_client, invoice.number, trigger="subscription.canceled")
    assert response.status_code == 400 and "Choose a trigger that emails the customer" in response.content.decode()


def test_viewers_cannot_use_the_preview(viewer_client):
    assert _preview(viewer_client, "in_x").status_code == 403


# --- sending ---------------------------------------------------------------------------------------


def test_it_sends_the_default_payment_failed_email_once_even_when_the_step_runs_twice(settings):
    settings.RELANCE_BASE_URL = "https://relance.example"
    invoice = _failed_invoice()
    step = _step(invoice, PAYMENT_FAILED)
    first, second = _execute(step), _execute(step)
    assert first == second == {"email": first["email"], "to": "billing@acme.example"}
    email = OutboundEmail.objects.get()
    assert email.recipients == ["billing@acme.example"]
    assert email.subject == f"Your payment for invoice {invoice.number} failed"
    assert "Hello Acme Ltd," in email.text_body and "€49.00" in email.text_body
    link = _pay_link(email.text_body)
    assert link.startswith("https://relance.example/pay/") and link in email.html_body
    assert invoice_from_token(link.rstrip("/").rsplit("/", 1)[1]) == invoice
    assert email.source.startswith("automation Recover revenue")


def test_it_fills_in_every_placeholder_of_its_own_text():
    account = AccountSettings.load()
    account.business_name = "Acme Billing"
    account.save()
    invoice = _open_invoice()
    body = "{customer}|{number}|{amount}|{due_date}|{days_overdue}|{business_name}"
    _execute(_step(invoice, "invoice.finalized", {"subject": "New: {number}", "body": body}))
    email = OutboundEmail.objects.get()
    assert email.subject == f"New: {invoice.number}"
    assert f"Acme Ltd|{invoice.number}|€250.00|" in email.text_body
    assert "|0|Acme Billing" in email.text_body


def test_each_purpose_has_its_own_default_subject():
    invoice = _open_invoice()
    for trigger, subject in [
        ("invoice.finalized", f"Your new invoice {invoice.number}"),
        ("invoice.overdue", f"Invoice {invoice.number} is overdue"),
        ("invoice.due_date_upcoming", f"Invoice {invoice.number} is due on"),
    ]:
        _execute(_step(invoice, trigger))
        assert OutboundEmail.objects.order_by("-id").first().subject.startswith(subject)


def test_it_is_skipped_once_the_invoice_is_paid():
    invoice = _open_invoice()
    step = _step(invoice, "invoice.overdue")
    services.invoice_mark_paid(invoice=invoice, paid_out_of_band=True)
    with pytest.raises(ActionSkipped, match="paid"):
        _execute(step)
    assert not OutboundEmail.objects.exists()


def test_a_test_clock_customers_email_is_recorded_as_simulated():
    clock = clock_create(name="Dunning rehearsal", frozen_time=timezone.now())
    invoice = _failed_invoice(test_clock=clock)
    _execute(_step(invoice, PAYMENT_FAILED))
    assert OutboundEmail.objects.get().status == EmailStatus.SIMULATED


def test_it_speaks_french_to_a_customer_who_prefers_it():
    invoice = _failed_invoice(preferred_locale="fr")
    _execute(_step(invoice, PAYMENT_FAILED))
    email = OutboundEmail.objects.get()
    assert email.subject == f"Le paiement de la facture {invoice.number} a échoué"
    assert "Bonjour Acme Ltd," in email.text_body
    assert 'lang="fr"' in email.html_body


def test_it_refuses_a_subject_that_is_not_text():
    assert _errors({"subject": 12})["subject"] == "Write the subject as text."


def test_the_automation_page_names_its_subject_and_body_or_the_default():
    parameters = step_parameters("email_customer", {"subject": "", "body": "Pay {amount}"}, {})
    assert [(p.name, p.value) for p in parameters] == [
        ("Subject", "the default (in the customer's language)"),
        ("Body", "Pay {amount}"),
    ]
