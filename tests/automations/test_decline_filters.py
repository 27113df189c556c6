"""The payment-failed trigger's decline type and failure code conditions: read on the failed
attempt that started the run (the invoice's latest failed attempt, or the event's snapshot in a
backtest), offered and validated by the builder, worded in the summary."""

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from automations.engine.backtest import Candidate, backtest, place_in
from automations.engine.dry_run import dry_run
from automations.engine.filters import FILTERS, InvalidParams
from automations.engine.matching import check_automation, in_priority_order
from automations.models import Automation, Run
from automations.services.summary import summarize
from billing import services
from billing.models import Event, Invoice, PaymentAttempt
from billing.serializers import snapshot
from tests.automations.test_engine import automation
from tests.automations.test_views_builder import form
from tests.factories import (
    DECLINED_CARD,
    EXPIRED_CARD,
    INSUFFICIENT_FUNDS_CARD,
    make_customer,
    make_invoice,
    make_subscription,
)

pytestmark = pytest.mark.django_db

FAILED = "subscription.payment_failed"
NEW = reverse("automation_new")
HARD = {"type": "decline_type", "params": {"decline_type": "hard"}}
SOFT = {"type": "decline_type", "params": {"decline_type": "soft"}}
EXPIRED = {"type": "failure_code", "params": {"code": "expired_card"}}
UNPAID = {"action": "mark_subscription_unpaid", "delay": {"amount": 0, "unit": "days"}, "params": {}}


def failed_invoice(card: str) -> Invoice:
    subscription = make_subscription(customer=make_customer(default_payment_method=card))
    invoice = make_invoice(customer=subscription.customer, subscription=subscription)
    services.invoice_attempt_payment(invoice=invoice)
    invoice.refresh_from_db()
    return invoice


def check(definition: dict, obj):
    return FILTERS[definition["type"]].check(obj, definition["params"])


# --- matching ---------------------------------------------------------------------------------


def test_the_decline_type_condition_matches_the_failed_attempts_decline():
    expired, declined = failed_invoice(EXPIRED_CARD), failed_invoice(DECLINED_CARD)
    assert check(HARD, expired).matched and not check(HARD, declined).matched
    assert check(SOFT, declined).matched and not check(SOFT, expired).matched
    mismatch = check(HARD, declined)
    assert (mismatch.expected, mismatch.found) == ("a hard decline", "a soft decline")


def test_the_failure_code_condition_matches_the_failed_attempts_code():
    expired, poor = failed_invoice(EXPIRED_CARD), failed_invoice(INSUFFICIENT_FUNDS_CARD)
    assert check(EXPIRED, expired).matched
    mismatch = check(EXPIRED, poor)
    assert not mismatch.matched
    assert (mismatch.expected, mismatch.found) == ("failure code expired_card", "failure code insufficient_funds")


def test_an_invoice_without_a_failed_attempt_matches_neither():
    invoice = make_invoice()
    assert check(HARD, invoice).found == "no declined payment" and not check(HARD, invoice).matched
    assert check(EXPIRED, invoice).found == "no failed payment" and not check(EXPIRED, invoice).matched


def test_the_engine_checks_them_on_the_invoice_whose_payment_failed():
    hard = automation(FAILED, [UNPAID], [HARD, EXPIRED], name="Expired cards")
    assert check_automation(hard, failed_invoice(EXPIRED_CARD))["matched"]
    record = check_automation(hard, failed_invoice(DECLINED_CARD))
    assert (record["matched"], record["filter"], record["found"]) == (False, "Decline type", "a soft decline")


def test_a_failed_payment_starts_the_automation_of_its_decline(django_capture_on_commit_callbacks):
    automation(FAILED, [UNPAID], [HARD], name="Hard declines")
    soft = automation(FAILED, [UNPAID], name="Everyone else")
    with django_capture_on_commit_callbacks(execute=True):
        declined = failed_invoice(DECLINED_CARD)
    with django_capture_on_commit_callbacks(execute=True):
        expired = failed_invoice(EXPIRED_CARD)
    runs = {run.object_id: run.automation.name for run in Run.objects.select_related("automation")}
    assert runs == {expired.public_id: "Hard declines", declined.public_id: soft.name}


def test_the_invoice_snapshot_carries_the_last_payment_error():
    assert snapshot(make_invoice())["last_payment_error"] is None
    invoice = failed_invoice(EXPIRED_CARD)
    assert snapshot(invoice)["last_payment_error"] == {
        "code": "expired_card",
        "decline_type": "hard",
        "message": "Your card has expired.",
    }


# --- validation, builder and summary --------------------------------------------------------------


def test_the_conditions_refuse_an_unknown_decline_type_or_failure_code():
    with pytest.raises(InvalidParams) as caught:
        FILTERS["decline_type"].clean({"decline_type": "medium"})
    assert caught.value.errors == {"decline_type": "Choose hard declines or soft declines."}
    with pytest.raises(InvalidParams) as caught:
        FILTERS["failure_code"].clean({"code": "lost_in_space"})
    assert caught.value.errors["code"].startswith("Choose a failure code: card_declined, insufficient_funds")
    assert FILTERS["failure_code"].clean({"code": "expired_card", "key": ""}) == {"code": "expired_card"}


def test_only_the_payment_failed_trigger_offers_them():
    for key in ("decline_type", "failure_code"):
        assert FILTERS[key].allowed_triggers == {FAILED}


def test_the_builder_offers_them_for_a_failed_payment_and_saves_them(editor_client):
    response = editor_client.post(NEW, form(builder_action="add_filter", new_filter="failure_code"))
    html = response.content.decode()
    assert 'name="filter-0-type" value="failure_code"' in html
    assert '<option value="expired_card">Expired card (expired_card)</option>' in html
    assert '<option value="decline_type">Decline type</option>' in html

    data = form(
        filters=[("decline_type", {"decline_type": "hard"}), ("failure_code", {"code": "expired_card"})],
        steps=[("mark_subscription_unpaid", 0, "days", {})],
    )
    assert editor_client.post(NEW, data).status_code == 302
    assert Automation.objects.get().current_version.filters == [HARD, EXPIRED]


def test_the_builder_says_what_is_wrong_with_a_condition_left_empty(editor_client):
    data = form(
        filters=[("decline_type", {"decline_type": ""}), ("failure_code", {"code": "nope"})],
        steps=[("mark_subscription_unpaid", 0, "days", {})],
    )
    response = editor_client.post(NEW, data)
    assert response.status_code == 400
    html = response.content.decode()
    assert "Choose hard declines or soft declines." in html
    assert "Choose a failure code: card_declined" in html
    assert 'id="filter-0-decline_type" name="filter-0-decline_type"' in html
    assert not Automation.objects.exists()


def test_the_summary_words_them():
    text = summarize(trigger=FAILED, filters=[HARD, EXPIRED], steps=[UNPAID])
    assert text.startswith(
        "When a subscription payment fails, for hard declines and failure code expired_card (expired card): "
    )
    assert summarize(trigger=FAILED, filters=[SOFT], steps=[]) == "When a subscription payment fails, for soft declines"


# --- dry run and backtest -----------------------------------------------------------------------


def test_the_dry_run_checks_them_on_the_invoices_failed_attempt():
    automation(FAILED, [UNPAID], [HARD], name="Hard declines")
    plan = {p.trigger.key: p for p in dry_run(failed_invoice(DECLINED_CARD))}[FAILED]
    [verdict] = plan.contenders[0].verdicts
    assert (verdict.label, verdict.expected, verdict.found, verdict.matched) == (
        "Decline type", "a hard decline", "a soft decline", False,
    )  # fmt: skip


def _recorded_failure(card: str, days_ago: float) -> Invoice:
    with time_machine.travel(timezone.now() - timedelta(days=days_ago), tick=False):
        return failed_invoice(card)


def test_the_backtest_reads_them_on_the_events_snapshot():
    tested = automation(FAILED, [UNPAID], [EXPIRED], name="Expired cards")
    expired = _recorded_failure(EXPIRED_CARD, 5)
    declined = _recorded_failure(DECLINED_CARD, 4)
    # Today the expired one fails softly: the backtest still reads what the event recorded.
    PaymentAttempt.objects.filter(invoice=expired).update(failure_code="card_declined", decline_type="soft")
    candidate = Candidate.of_automation(tested)
    higher = place_in(candidate, in_priority_order(FAILED), priority=(tested.priority, tested.pk))
    now = timezone.now()
    result = backtest(candidate, higher, since=now - timedelta(days=30), until=now)
    assert result["started"]["objects"] == [expired.public_id]
    assert result["not_matched"]["objects"] == [declined.public_id]
    assert [f["filter"] for f in result["failed_filters"]] == ["Failure code"]


def test_the_backtest_does_not_match_an_event_recorded_before_snapshots_carried_the_decline():
    tested = automation(FAILED, [UNPAID], [HARD], name="Hard declines")
    invoice = _recorded_failure(EXPIRED_CARD, 3)
    event = Event.objects.get(object_id=invoice.public_id, type="invoice.payment_failed")
    data = {k: v for k, v in event.data_object.items() if k != "last_payment_error"}
    Event.objects.filter(pk=event.pk).update(data_object=data)
    candidate = Candidate.of_automation(tested)
    higher = place_in(candidate, in_priority_order(FAILED), priority=(tested.priority, tested.pk))
    now = timezone.now()
    result = backtest(candidate, higher, since=now - timedelta(days=30), until=now)
    assert result["started"]["count"] == 0 and result["not_matched"]["objects"] == [invoice.public_id]
