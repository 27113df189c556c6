"""The 10 actions of SPEC §2 and issue 16's "Email the customer": the triggers each is offered
for, their parameters, and their real effect on billing objects, once, however often a step is
executed."""

import json
import re
from datetime import timedelta

import pytest
import stripe
import time_machine
from django.core import mail
from django.utils import timezone
from moneyed import Money

from automations.engine.actions import ACTIONS
from automations.engine.actions.base import ActionError, ActionSkipped, ActionWait, InvalidParams
from automations.engine.actions.common import webhook_event_id
from automations.models import Automation, AutomationVersion, Run, RunStep
from automations.triggers import TRIGGERS
from billing import jobs, services
from billing.models import AccountSettings, Event, Invoice, RetryPolicy
from billing.services import LineItem
from notifications.models import OutboundEmail, WebhookDelivery, WebhookEndpoint
from notifications.services.endpoints import endpoint_create
from tests.factories import DECLINED_CARD, EXPIRED_CARD, GOOD_CARD, make_price
from tests.notifications.conftest import receiver  # noqa: F401

pytestmark = pytest.mark.django_db

ALL = set(TRIGGERS)
PAYMENT_FAILED = "subscription.payment_failed"

# SPEC §2, Actions table, exactly.
MATRIX = {
    "set_retry_policy": {PAYMENT_FAILED},
    "mark_subscription_unpaid": {PAYMENT_FAILED},
    "cancel_subscription": {PAYMENT_FAILED},
    "mark_invoice_uncollectible": {PAYMENT_FAILED, "invoice.finalized", "invoice.overdue"},
    "void_invoice": {PAYMENT_FAILED, "invoice.finalized", "invoice.overdue"},
    "send_team_email": ALL,
    "send_cancellation_email": {"subscription.canceled"},
    "email_customer": {PAYMENT_FAILED, "invoice.overdue", "invoice.due_date_upcoming", "invoice.finalized"},
    "send_invoice_will_be_due_webhook": {"invoice.due_date_upcoming"},
    "send_quote_will_expire_webhook": {"quote.expiring"},
    "send_custom_event_webhook": {
        PAYMENT_FAILED,
        "subscription.canceled",
        "subscription.cancel_scheduled",
        "subscription.pause_scheduled",
    },
}


# --- billing objects made through the services, and steps of real runs about them -----------


def _customer(card=GOOD_CARD, name="Acme Ltd", email="billing@acme.example"):
    return services.customer_create(name=name, email=email, currency="EUR", default_payment_method=card)


def _subscribe(card=GOOD_CARD, amount="49.00", product="Pro plan"):
    price = make_price(amount, interval="month", name=product)
    return services.subscription_create(customer=_customer(card), items=[(price, 1)])


def _failed_invoice() -> Invoice:
    """The first invoice of a subscription whose card is declined: open, past due, retries scheduled."""
    subscription = _subscribe(card=DECLINED_CARD)
    invoice = Invoice.objects.get(subscription=subscription)  # with the subscription as it is now
    assert invoice.status == "open" and invoice.first_failed_at is not None
    return invoice


def _open_invoice(amount="250.00", days_until_due=30) -> Invoice:
    invoice = services.invoice_create(
        customer=_customer(),
        lines=[LineItem(description="Consulting", unit_amount=Money(amount, "EUR"))],
        collection_method="send_invoice",
        days_until_due=days_until_due,
    )
    return services.invoice_finalize(invoice=invoice)


def _open_quote():
    quote = services.quote_create(
        customer=_customer(),
        lines=[LineItem(description="Implementation", unit_amount=Money("900.00", "EUR"))],
        expires_at=timezone.now() + timedelta(days=14),
    )
    return services.quote_finalize(quote=quote)


def _step(obj, trigger, action, params=None, *, position=1) -> RunStep:
    """A pending step of a run started by the object's latest event, as the engine makes them."""
    params = ACTIONS[action].clean(params or {})
    event = Event.objects.filter(object_id=obj.public_id).order_by("-id").first()
    automation = Automation.objects.create(name="Recover revenue", trigger=trigger, priority=1)
    version = AutomationVersion.objects.create(
        automation=automation, number=1, steps=[{"action": action, "params": params, "delay": {}}]
    )
    automation.current_version = version
    automation.save(update_fields=["current_version"])
    now = timezone.now()
    run = Run.objects.create(
        automation=automation,
        version=version,
        trigger=trigger,
        event=event,
        object_type=obj._meta.model_name,
        object_id=obj.public_id,
        started_at=now,
    )
    return RunStep.objects.create(run=run, position=position, action=action, params=params, scheduled_at=now)


def _execute(step):
    return ACTIONS[step.action].execute(RunStep.objects.select_related("run__automation").get(pk=step.pk))


def _skip_reason(step) -> str:
    with pytest.raises(ActionSkipped) as caught:
        _execute(step)
    return caught.value.reason


def _errors(action, params) -> dict[str, str]:
    with pytest.raises(InvalidParams) as caught:
        ACTIONS[action].clean(params)
    return caught.value.errors


def _events(obj, type_) -> int:
    return Event.objects.filter(object_id=obj.public_id, type=type_).count()


def _policy_changes(invoice) -> int:
    updates = Event.objects.filter(object_id=invoice.public_id, type="invoice.updated")
    return sum(1 for event in updates if "retry_policy" in (event.previous_attributes or {}))


def _team_domains(*domains):
    account = AccountSettings.load()
    account.team_email_domains = list(domains)
    account.save()


def _later(moment):
    return time_machine.travel(moment, tick=False)


# --- the registry -------------------------------------------------------------------------------


def test_there_are_the_actions_of_the_spec_and_the_customer_email():
    assert list(ACTIONS) == list(MATRIX)
    for key, action in ACTIONS.items():
        assert action.key == key and action.label and action.label[0].isupper()


@pytest.mark.parametrize("trigger", sorted(ALL))
@pytest.mark.parametrize("action", list(MATRIX))
def test_each_action_is_offered_for_exactly_the_triggers_of_the_spec(action, trigger):
    assert (trigger in ACTIONS[action].allowed_triggers) == (trigger in MATRIX[action])


def test_each_action_describes_its_step_in_plain_lower_case_words(editor):
    RetryPolicy.objects.create(name="Annual")
    params = {
        "set_retry_policy": {"policy": "Annual"},
        "send_team_email": {"recipient": editor.email, "message": "Look at {number}"},
        "send_cancellation_email": {"survey_url": "https://acme.example/why"},
        "send_custom_event_webhook": {"label": "win_back"},
    }
    described = {key: action.describe(action.clean(params.get(key, {}))) for key, action in ACTIONS.items()}
    assert described == {
        "set_retry_policy": "start retry policy Annual",
        "mark_subscription_unpaid": "mark the subscription unpaid",
        "cancel_subscription": "cancel the subscription",
        "mark_invoice_uncollectible": "mark the invoice uncollectible",
        "void_invoice": "void the invoice",
        "send_team_email": "email eddie@team.example",
        "send_cancellation_email": "send the cancellation confirmation email with a survey link",
        "email_customer": "email the customer",
        "send_invoice_will_be_due_webhook": "send the invoice.will_be_due webhook",
        "send_quote_will_expire_webhook": "send the quote.will_expire webhook",
        "send_custom_event_webhook": "send the customer.subscription.custom_event webhook labelled “win_back”",
    }


def test_actions_without_settings_refuse_parameters():
    with pytest.raises(InvalidParams, match="takes no settings"):
        ACTIONS["void_invoice"].clean({"force": True})


# --- set retry policy ---------------------------------------------------------------------------


def test_set_retry_policy_refuses_an_unknown_policy_or_no_policy_at_all():
    assert _errors("set_retry_policy", {"policy": "Gentle"}) == {"policy": "There is no retry policy named “Gentle”."}
    assert "Choose a retry policy" in _errors("set_retry_policy", {})["policy"]
    both = {"policy": "Gentle", "new_policy": {"name": "Other"}}
    assert "not both" in _errors("set_retry_policy", both)["policy"]


@pytest.mark.parametrize(
    ("new_policy", "field", "message"),
    [
        ({"name": "  "}, "name", "Name the new retry policy."),
        ({"name": "Too many", "max_retries": 9}, "max_retries", "less than or equal to 8"),
        ({"name": "Too long", "within_days": 61}, "within_days", "less than or equal to 60"),
        ({"name": "Zigzag", "schedule_kind": "day_offsets", "day_offsets": [5, 2]}, "day_offsets", "increasing"),
        ({"name": "Nothing", "schedule_kind": "day_offsets", "day_offsets": []}, "day_offsets", "at least one day"),
        ({"name": "Odd", "schedule_kind": "weekly"}, "schedule_kind", "not a valid choice"),
        ({"name": "Harsh", "end_behavior": "delete_customer"}, "end_behavior", "not a valid choice"),
        ({"name": "x" * 101}, "name", "at most 100 characters"),
    ],
)
def test_an_inline_retry_policy_is_validated_like_the_model(new_policy, field, message):
    errors = _errors("set_retry_policy", {"new_policy": new_policy})
    assert message in errors[field]


def test_an_inline_retry_policy_is_cleaned_to_its_full_schedule_and_may_not_clash_with_another_policy():
    cleaned = ACTIONS["set_retry_policy"].clean(
        {
            "new_policy": {
                "name": " Quick ",
                "schedule_kind": "day_offsets",
                "day_offsets": "1, 3",
                "end_behavior": "mark_unpaid",
            }
        }
    )
    assert cleaned == {
        "new_policy": {
            "name": "Quick",
            "schedule_kind": "day_offsets",
            "max_retries": 4,
            "within_days": 14,
            "day_offsets": [1, 3],
            "end_behavior": "mark_unpaid",
        }
    }
    assert ACTIONS["set_retry_policy"].describe(cleaned) == (
        "start retry policy Quick (new: retry on days 1, 3 after the first failure)"
    )
    RetryPolicy.objects.create(name="Quick", max_retries=2)
    assert "already exists" in _errors("set_retry_policy", {"new_policy": {"name": "Quick"}})["name"]


def test_set_retry_policy_waits_while_retries_remain_then_goes_on_once_they_are_exhausted():
    RetryPolicy.objects.create(
        name="Quick", schedule_kind="day_offsets", day_offsets=[1, 3], end_behavior="cancel_subscription"
    )
    invoice = _failed_invoice()
    first_failed = invoice.first_failed_at
    step = _step(invoice, PAYMENT_FAILED, "set_retry_policy", {"policy": "Quick"})

    with pytest.raises(ActionWait) as waiting:
        _execute(step)
    invoice.refresh_from_db()
    assert invoice.retry_policy.name == "Quick"
    assert invoice.next_payment_attempt == first_failed + timedelta(days=1)
    assert waiting.value.until == first_failed + timedelta(days=1, minutes=2)
    assert waiting.value.reason.startswith("waiting for the retry policy: next retry at ")

    with _later(first_failed + timedelta(days=1, minutes=1)):
        assert jobs.run_payment_retries() == 1  # the second attempt fails too
        with pytest.raises(ActionWait) as waiting:
            _execute(step)
    assert waiting.value.until == first_failed + timedelta(days=3, minutes=2)

    with _later(first_failed + timedelta(days=3, minutes=1)):
        assert jobs.run_payment_retries() == 1  # the last retry fails: the policy is exhausted
        result = _execute(step)
    assert result == {"invoice": invoice.public_id, "policy": "Quick", "attempts": 3, "outcome": "retries exhausted"}
    invoice.refresh_from_db()
    assert invoice.status == "open" and invoice.next_payment_attempt is None
    assert invoice.subscription.status == "canceled"  # the policy's end behaviour
    assert _policy_changes(invoice) == 1  # attached once, however often the step looked


def test_set_retry_policy_waits_for_a_new_card_after_a_hard_decline_until_the_policy_window_ends():
    RetryPolicy.objects.create(
        name="Quick", schedule_kind="day_offsets", day_offsets=[1, 3], end_behavior="cancel_subscription"
    )
    subscription = _subscribe(card=EXPIRED_CARD)
    invoice = Invoice.objects.get(subscription=subscription)
    first_failed = invoice.first_failed_at
    step = _step(invoice, PAYMENT_FAILED, "set_retry_policy", {"policy": "Quick"})
    with pytest.raises(ActionWait) as waiting:
        _execute(step)
    invoice.refresh_from_db()
    assert invoice.retry_policy.name == "Quick" and invoice.next_payment_attempt is None
    assert waiting.value.until == first_failed + timedelta(days=3, minutes=2)
    assert waiting.value.reason.startswith("waiting for a new card: hard decline (expired_card)")

    with _later(first_failed + timedelta(days=3, minutes=3)):
        result = _execute(step)  # no new card within the window: the run goes on
    assert result["outcome"] == "hard decline (expired_card): no new card within the retry window"
    invoice.refresh_from_db()
    assert invoice.subscription.status == "past_due"  # billing's end behaviour waits for exhausted retries


def test_a_new_card_during_the_wait_after_a_hard_decline_resumes_the_retry_schedule():
    RetryPolicy.objects.create(name="Quick", schedule_kind="day_offsets", day_offsets=[1, 3])
    subscription = _subscribe(card=EXPIRED_CARD)
    invoice = Invoice.objects.get(subscription=subscription)
    step = _step(invoice, PAYMENT_FAILED, "set_retry_policy", {"policy": "Quick"})
    with pytest.raises(ActionWait):
        _execute(step)
    services.customer_update(customer=subscription.customer, default_payment_method=DECLINED_CARD)
    invoice.refresh_from_db()
    assert invoice.attempt_count == 2  # retried at once with the new card, declined softly
    with pytest.raises(ActionWait) as waiting:
        _execute(step)
    assert waiting.value.reason.startswith("waiting for the retry policy: next retry at ")


def test_a_retry_policy_step_looking_again_before_the_retry_job_has_run_waits_a_little_more():
    RetryPolicy.objects.create(name="Quick", schedule_kind="day_offsets", day_offsets=[1, 3])
    invoice = _failed_invoice()
    step = _step(invoice, PAYMENT_FAILED, "set_retry_policy", {"policy": "Quick"})
    with pytest.raises(ActionWait):
        _execute(step)
    late = invoice.first_failed_at + timedelta(days=1, minutes=5)
    with _later(late), pytest.raises(ActionWait) as waiting:
        _execute(step)  # the retry is due but has not happened yet: never a wait in the past
    assert waiting.value.until == late + timedelta(minutes=2)


def test_an_inline_retry_policy_is_created_once_when_the_step_runs():
    invoice = _failed_invoice()
    new = {"name": "Patient", "schedule_kind": "within_days", "max_retries": 2, "within_days": 10}
    step = _step(invoice, PAYMENT_FAILED, "set_retry_policy", {"new_policy": new})
    assert not RetryPolicy.objects.filter(name="Patient").exists()  # created when the step runs, not before
    for _ in range(2):
        with pytest.raises(ActionWait):
            _execute(step)
    policy = RetryPolicy.objects.get(name="Patient")
    assert (policy.max_retries, policy.within_days, policy.end_behavior) == (2, 10, "leave_past_due")
    invoice.refresh_from_db()
    assert invoice.retry_policy == policy
    assert invoice.next_payment_attempt == invoice.first_failed_at + timedelta(days=5)
    assert _policy_changes(invoice) == 1


def test_a_retry_policy_with_no_retries_lets_the_run_go_on_at_once():
    RetryPolicy.objects.create(name="None", max_retries=0)
    invoice = _failed_invoice()
    result = _execute(_step(invoice, PAYMENT_FAILED, "set_retry_policy", {"policy": "None"}))
    assert result["outcome"] == "retries exhausted" and result["attempts"] == 1


def test_set_retry_policy_is_skipped_once_the_invoice_is_paid():
    RetryPolicy.objects.create(name="Quick", schedule_kind="day_offsets", day_offsets=[1, 3])
    invoice = _failed_invoice()
    step = _step(invoice, PAYMENT_FAILED, "set_retry_policy", {"policy": "Quick"})
    services.invoice_mark_paid(invoice=invoice)
    assert _skip_reason(step) == "invoice paid"
    invoice.refresh_from_db()
    assert invoice.retry_policy is None


def test_set_retry_policy_fails_the_step_when_its_policy_was_deleted_rather_than_go_on_without_retries():
    policy = RetryPolicy.objects.create(name="Gone")
    invoice = _failed_invoice()
    step = _step(invoice, PAYMENT_FAILED, "set_retry_policy", {"policy": "Gone"})
    policy.delete()
    with pytest.raises(ActionError) as caught:
        _execute(step)
    assert caught.value.permanent and "no longer exists" in caught.value.message


# --- subscription actions -----------------------------------------------------------------------


def test_mark_subscription_unpaid_marks_a_past_due_subscription_unpaid_once():
    invoice = _failed_invoice()
    subscription = invoice.subscription
    assert subscription.status == "past_due"
    step = _step(invoice, PAYMENT_FAILED, "mark_subscription_unpaid")
    assert _execute(step) == {"subscription": subscription.public_id, "status": "unpaid"}
    assert _skip_reason(step) == "subscription is already unpaid"
    subscription.refresh_from_db()
    assert subscription.status == "unpaid"
    assert _events(subscription, "customer.subscription.updated") == 2  # past due, then unpaid: once


def test_mark_subscription_unpaid_is_skipped_for_a_canceled_subscription():
    invoice = _failed_invoice()
    step = _step(invoice, PAYMENT_FAILED, "mark_subscription_unpaid")
    services.subscription_cancel(subscription=invoice.subscription)
    assert _skip_reason(step) == "subscription is canceled"


def test_mark_subscription_unpaid_is_skipped_with_the_billing_reason_when_the_subscription_is_active_again():
    invoice = _failed_invoice()
    step = _step(invoice, PAYMENT_FAILED, "mark_subscription_unpaid")
    services.subscription_mark_active(subscription=invoice.subscription)
    assert _skip_reason(step).endswith("is active; it cannot become unpaid.")


def test_cancel_subscription_cancels_now_and_stops_its_open_invoices_once():
    invoice = _failed_invoice()
    subscription = invoice.subscription
    step = _step(invoice, PAYMENT_FAILED, "cancel_subscription")
    assert _execute(step) == {"subscription": subscription.public_id, "status": "canceled"}
    assert _skip_reason(step) == "subscription is already canceled"
    subscription.refresh_from_db()
    invoice.refresh_from_db()
    assert subscription.status == "canceled" and subscription.cancellation_reason == "payment_failed"
    assert invoice.auto_advance is False and invoice.next_payment_attempt is None
    assert _events(subscription, "customer.subscription.deleted") == 1


def test_subscription_actions_are_skipped_for_an_invoice_without_subscription():
    invoice = _open_invoice()
    for action in ("cancel_subscription", "mark_subscription_unpaid"):
        step = _step(invoice, PAYMENT_FAILED, action)
        assert _skip_reason(step) == "the invoice has no subscription"
        Run.objects.filter(pk=step.run_id).delete()


# --- invoice actions ----------------------------------------------------------------------------


def test_mark_invoice_uncollectible_writes_the_invoice_off_once():
    invoice = _open_invoice()
    step = _step(invoice, "invoice.overdue", "mark_invoice_uncollectible")
    assert _execute(step) == {"invoice": invoice.public_id, "status": "uncollectible"}
    assert _skip_reason(step) == "invoice is already uncollectible"
    assert _events(invoice, "invoice.marked_uncollectible") == 1


def test_mark_invoice_uncollectible_is_skipped_for_a_void_invoice():
    invoice = _open_invoice()
    step = _step(invoice, "invoice.finalized", "mark_invoice_uncollectible")
    services.invoice_void(invoice=invoice)
    assert _skip_reason(step) == "invoice is void"


def test_void_invoice_voids_once_and_a_second_time_is_skipped_as_already_void():
    invoice = _failed_invoice()
    step = _step(invoice, PAYMENT_FAILED, "void_invoice")
    assert _execute(step) == {"invoice": invoice.public_id, "status": "void"}
    assert _skip_reason(step) == "invoice is already void"
    invoice.refresh_from_db()
    assert invoice.status == "void" and invoice.next_payment_attempt is None
    assert _events(invoice, "invoice.voided") == 1


def test_void_invoice_voids_an_uncollectible_invoice_but_skips_a_paid_one():
    written_off = _open_invoice()
    step = _step(written_off, "invoice.overdue", "void_invoice")
    services.invoice_mark_uncollectible(invoice=written_off)
    assert _execute(step)["status"] == "void"

    paid = _open_invoice()
    step = _step(paid, "invoice.finalized", "void_invoice")
    services.invoice_mark_paid(invoice=paid)
    assert _skip_reason(step) == "invoice is paid"


# --- send email to a team member ----------------------------------------------------------------


def test_a_team_email_goes_to_an_editor_a_viewer_or_an_address_in_a_team_domain(editor, viewer):
    _team_domains("acme.example")
    for recipient in (editor.email, viewer.email.upper(), "collections@ACME.example"):
        cleaned = ACTIONS["send_team_email"].clean({"recipient": f" {recipient} ", "message": "Call them"})
        assert cleaned == {"recipient": recipient, "message": "Call them"}


def test_a_team_email_to_anyone_else_is_refused_with_the_allowed_domains(outsider, django_user_model):
    _team_domains("acme.example", "acme.co.uk")
    gone = django_user_model.objects.create_user("gus", email="gus@gone.example", is_active=False)
    expected = "must be a team member or an address at one of: acme.example, acme.co.uk."
    for recipient in ("someone@gmail.example", outsider.email, gone.email, "x@sub.acme.example"):
        errors = _errors("send_team_email", {"recipient": recipient, "message": "Hi"})
        assert errors == {"recipient": f"{recipient} {expected}"}


def test_a_team_email_needs_a_valid_address_and_a_message_of_at_most_5000_characters():
    assert _errors("send_team_email", {}) == {
        "recipient": "Enter the team member's email address.",
        "message": "Write the message to send.",
    }
    _team_domains()
    errors = _errors("send_team_email", {"recipient": "someone@acme.example", "message": "x" * 5001})
    assert (
        errors["recipient"] == "someone@acme.example must be a team member (no team email domains are set in Settings)."
    )
    assert errors["message"] == "The message can be at most 5000 characters (it has 5001)."
    assert _errors("send_team_email", {"recipient": "not an address", "message": " "}) == {
        "recipient": "not an address is not a valid email address.",
        "message": "Write the message to send.",
    }


def test_a_team_email_is_sent_once_with_its_placeholders_filled_in_and_the_triggers_details(
    editor, django_capture_on_commit_callbacks
):
    invoice = _open_invoice(amount="1250.00", days_until_due=10)
    message = "Please call {customer} about {number} ({amount}, {days_overdue} days late): {link}"
    step = _step(invoice, "invoice.overdue", "send_team_email", {"recipient": editor.email, "message": message})
    with _later(invoice.due_date + timedelta(days=3, hours=1)):
        for _ in range(2):
            with django_capture_on_commit_callbacks(execute=True):
                result = _execute(step)

    [sent] = mail.outbox
    assert OutboundEmail.objects.count() == 1
    email = OutboundEmail.objects.get()
    assert result == {"email": email.public_id, "to": editor.email}
    assert email.idempotency_key == step.idempotency_key
    assert email.source == f"automation Recover revenue, run {step.run.public_id}, step 1"
    assert sent.to == [editor.email]
    assert sent.subject == f"[Relance] Invoice is overdue: invoice {invoice.number} (Acme Ltd)"
    link = f"http://127.0.0.1:8000/invoices/{invoice.public_id}/"
    assert f"Please call Acme Ltd about {invoice.number} (€1,250.00, 3 days late): {link}" in sent.body
    for detail in ("Customer: Acme Ltd <billing@acme.example>", "Amount due: €1,250.00", "Days overdue: 3"):
        assert detail in sent.body
    assert "Due date: " in sent.body and 'from the automation "Recover revenue"' in sent.body
    [(html, _)] = sent.alternatives
    assert f'<a href="{link}">' in html and "Acme Ltd &lt;billing@acme.example&gt;" in html


def test_a_team_memo_leaves_unknown_placeholders_and_stray_braces_as_written(editor, settings):
    settings.RELANCE_BASE_URL = "https://relance.acme.example/"
    quote = _open_quote()
    message = "{customer.__class__} {unknown} {{number}} { number } {"
    step = _step(quote, "quote.expiring", "send_team_email", {"recipient": editor.email, "message": message})
    _execute(step)
    email = OutboundEmail.objects.get()
    assert f"{{customer.__class__}} {{unknown}} {{{quote.number}}} {quote.number} {{" in email.text_body
    assert f"https://relance.acme.example/quotes/{quote.public_id}/" in email.text_body
    assert "Total: €900.00" in email.text_body and "Expires: " in email.text_body


def test_a_team_email_about_a_subscription_lists_its_products_and_scheduled_cancellation(editor):
    subscription = _subscribe(product="Team plan")
    services.subscription_schedule_cancel(subscription=subscription, at_period_end=True)
    step = _step(
        subscription,
        "subscription.cancel_scheduled",
        "send_team_email",
        {"recipient": editor.email, "message": "Save {customer}"},
    )
    _execute(step)
    body = OutboundEmail.objects.get().text_body
    assert "Save Acme Ltd" in body
    assert "Products: 1 × Team plan" in body and "Price: €49.00 / month" in body and "Cancels on: " in body


def test_a_team_email_is_skipped_when_its_recipient_left_the_team(editor):
    invoice = _open_invoice()
    step = _step(invoice, "invoice.finalized", "send_team_email", {"recipient": editor.email, "message": "Hello"})
    editor.is_active = False
    editor.save()
    assert "must be a team member" in _skip_reason(step)
    assert OutboundEmail.objects.count() == 0


# --- send cancellation confirmation email -------------------------------------------------------


def test_a_cancellation_confirmation_is_sent_once_to_the_customer_with_the_subscription_and_survey(
    django_capture_on_commit_callbacks,
):
    subscription = services.subscription_cancel(subscription=_subscribe(product="Team plan"))
    params = {"survey_url": "https://acme.example/why?from=email"}
    step = _step(subscription, "subscription.canceled", "send_cancellation_email", params)
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            _execute(step)

    [sent] = mail.outbox
    assert OutboundEmail.objects.count() == 1
    assert sent.to == ["billing@acme.example"] and sent.subject == "Your subscription has been canceled"
    assert f"your subscription {subscription.public_id} was canceled on " in sent.body
    assert "- 1 × Team plan, €49.00 / month" in sent.body
    assert "https://acme.example/why?from=email" in sent.body
    [(html, _)] = sent.alternatives
    assert '<a href="https://acme.example/why?from=email">' in html and "Team plan" in html


def test_a_cancellation_confirmation_without_survey_has_no_survey_paragraph():
    subscription = services.subscription_cancel(subscription=_subscribe())
    _execute(_step(subscription, "subscription.canceled", "send_cancellation_email", {}))
    assert "survey" not in OutboundEmail.objects.get().text_body


@pytest.mark.parametrize("url", ["http://acme.example/why", "acme.example/why", "javascript:alert(1)", "https://"])
def test_the_survey_link_must_be_a_full_https_address(url):
    errors = _errors("send_cancellation_email", {"survey_url": url})
    assert errors == {"survey_url": "Enter the survey's full https:// address, e.g. https://example.com/survey."}


def test_the_survey_link_is_optional():
    assert ACTIONS["send_cancellation_email"].clean({}) == {"survey_url": ""}
    assert ACTIONS["send_cancellation_email"].describe({"survey_url": ""}) == "send the cancellation confirmation email"


# --- webhooks -----------------------------------------------------------------------------------


def _endpoint(*events):
    return WebhookEndpoint.objects.create(
        url="https://hooks.acme.example/relance", enabled_events=list(events), secret="whsec_test"
    )


def test_the_invoice_will_be_due_webhook_is_queued_once_per_step_with_a_stable_event_id():
    endpoint = _endpoint("invoice.will_be_due")
    _endpoint("quote.will_expire")  # not subscribed: nothing for it
    invoice = _open_invoice()
    step = _step(invoice, "invoice.due_date_upcoming", "send_invoice_will_be_due_webhook")
    first, again = _execute(step), _execute(step)
    assert first == again == {"event_id": webhook_event_id(step), "type": "invoice.will_be_due"}
    assert first["event_id"].startswith("evt_") and len(first["event_id"]) <= 40
    [delivery] = WebhookDelivery.objects.all()
    assert delivery.endpoint == endpoint and delivery.event_type == "invoice.will_be_due"
    payload = json.loads(delivery.body)
    assert payload["id"] == first["event_id"] and payload["type"] == "invoice.will_be_due"
    assert payload["data"]["object"]["id"] == invoice.public_id


def test_an_automation_webhooks_event_id_has_the_shape_of_every_billing_event_id():
    """`evt_` and 20 letters or digits, whether the event is a billing event or a step's webhook."""
    shape = re.compile(r"^evt_[A-Za-z0-9]{20}$")
    _endpoint("invoice.will_be_due")
    invoice = _open_invoice()
    step = _step(invoice, "invoice.due_date_upcoming", "send_invoice_will_be_due_webhook")
    event_id = _execute(step)["event_id"]
    assert shape.match(event_id), event_id
    assert all(shape.match(public_id) for public_id in Event.objects.values_list("public_id", flat=True))


def test_two_steps_send_two_distinct_events():
    _endpoint("invoice.will_be_due")
    invoice = _open_invoice()
    one = _step(invoice, "invoice.due_date_upcoming", "send_invoice_will_be_due_webhook")
    two = RunStep.objects.create(run=one.run, position=2, action=one.action, params={}, scheduled_at=one.scheduled_at)
    assert _execute(one)["event_id"] != _execute(two)["event_id"]
    assert WebhookDelivery.objects.count() == 2


def test_the_invoice_will_be_due_webhook_is_skipped_for_an_invoice_no_longer_open():
    _endpoint("invoice.will_be_due")
    invoice = _open_invoice()
    step = _step(invoice, "invoice.due_date_upcoming", "send_invoice_will_be_due_webhook")
    services.invoice_mark_uncollectible(invoice=invoice)
    assert _skip_reason(step) == "invoice is uncollectible"
    assert WebhookDelivery.objects.count() == 0


def test_the_quote_will_expire_webhook_is_queued_once_and_skipped_for_an_accepted_quote():
    _endpoint("quote.will_expire")
    quote = _open_quote()
    step = _step(quote, "quote.expiring", "send_quote_will_expire_webhook")
    _execute(step)
    _execute(step)
    [delivery] = WebhookDelivery.objects.all()
    assert json.loads(delivery.body)["data"]["object"]["id"] == quote.public_id

    accepted = _open_quote()
    step = _step(accepted, "quote.expiring", "send_quote_will_expire_webhook")
    services.quote_accept(quote=accepted)
    assert _skip_reason(step) == "quote is accepted"


def test_the_custom_event_webhook_carries_its_label_signed_and_delivered_once(
    receiver,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    created = endpoint_create(url=receiver.url, enabled_events=["customer.subscription.custom_event"])
    invoice = _failed_invoice()
    step = _step(invoice, PAYMENT_FAILED, "send_custom_event_webhook", {"label": " win_back "})
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            result = _execute(step)

    assert result == {
        "event_id": webhook_event_id(step),
        "type": "customer.subscription.custom_event",
        "label": "win_back",
    }
    [request] = receiver.requests
    event = stripe.Webhook.construct_event(request.body.decode(), request.headers["stripe-signature"], created.secret)
    assert event["id"] == result["event_id"] and event["type"] == "customer.subscription.custom_event"
    assert event["data"]["label"] == "win_back"
    assert event["data"]["object"]["id"] == invoice.subscription.public_id
    assert WebhookDelivery.objects.count() == 1


@pytest.mark.parametrize(
    ("label", "message"),
    [
        ("", "Enter a label for the event, e.g. win_back."),
        ("   ", "Enter a label for the event, e.g. win_back."),
        (None, "Enter a label for the event, e.g. win_back."),
        ("x" * 101, "The label can be at most 100 characters (it has 101)."),
    ],
)
def test_the_custom_event_label_is_required_and_at_most_100_characters(label, message):
    assert _errors("send_custom_event_webhook", {"label": label}) == {"label": message}


def test_a_custom_event_label_of_100_characters_is_fine():
    assert ACTIONS["send_custom_event_webhook"].clean({"label": "x" * 100}) == {"label": "x" * 100}


# --- a retried step whose earlier attempt took effect before its worker stopped ------------------

EARLIER_ATTEMPT = [
    (_open_invoice, "invoice.overdue", "mark_invoice_uncollectible", "invoice"),
    (_open_invoice, "invoice.overdue", "void_invoice", "invoice"),
    (_failed_invoice, PAYMENT_FAILED, "cancel_subscription", "subscription"),
    (_failed_invoice, PAYMENT_FAILED, "mark_subscription_unpaid", "subscription"),
]


@pytest.mark.parametrize(("make", "trigger", "action", "kind"), EARLIER_ATTEMPT)
def test_a_retry_after_the_effect_of_an_earlier_attempt_succeeds_as_done_by_it(make, trigger, action, kind):
    invoice = make()
    step = _step(invoice, trigger, action)
    RunStep.objects.filter(pk=step.pk).update(attempts=1, scheduled_at=timezone.now() - timedelta(seconds=1))
    first = _execute(step)  # took effect; the worker died before recording the step
    RunStep.objects.filter(pk=step.pk).update(attempts=2)  # claimed again once the lease ran out
    again = _execute(step)
    assert again == {**first, "note": "done by an earlier attempt"}
    assert again[kind] == first[kind]


@pytest.mark.parametrize(("make", "trigger", "action", "kind"), EARLIER_ATTEMPT)
def test_a_retry_is_still_skipped_when_the_object_changed_before_the_step_was_due(make, trigger, action, kind):
    invoice = make()
    step = _step(invoice, trigger, action)
    RunStep.objects.filter(pk=step.pk).update(attempts=1, scheduled_at=timezone.now() - timedelta(seconds=1))
    _execute(step)  # someone else (here: an earlier step) changed it …
    RunStep.objects.filter(pk=step.pk).update(attempts=2, scheduled_at=timezone.now() + timedelta(seconds=1))
    assert f"{kind} is already" in _skip_reason(step)  # … before it was due


def test_a_first_attempt_finding_the_effect_done_is_skipped():
    invoice = _open_invoice()
    step = _step(invoice, "invoice.overdue", "void_invoice")
    services.invoice_void(invoice=invoice)
    RunStep.objects.filter(pk=step.pk).update(attempts=1, scheduled_at=timezone.now() - timedelta(days=1))
    assert _skip_reason(step) == "invoice is already void"
