"""Each change a person or a key makes through a service records one audit entry: the action,
who, the object and the fields before and after. Jobs and the engine record nothing."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from api.keys import api_key_create, api_key_revoke
from audit.context import acting_as
from audit.models import AuditEntry
from automations.models import Run
from automations.services.backfill import backfill_start
from automations.services.definitions import (
    automation_archive,
    automation_create,
    automation_disable,
    automation_enable,
    automation_reorder,
    automation_update,
)
from automations.services.documents import automation_export, automation_import
from automations.services.runs import run_cancel
from billing import jobs, services
from billing.models import AccountSettings, Event
from billing.services import exchange_rates, retry_policies, test_clocks
from billing.services.account import account_settings_save
from notifications.services import endpoints
from ops.users import user_set_role
from tests.automations.test_engine import _overdue_invoice
from tests.automations.test_engine import automation as automation_for
from tests.factories import DECLINED_CARD, make_customer, make_invoice, make_quote, make_subscription

pytestmark = pytest.mark.django_db

OVERDUE = "invoice.overdue"
VOID = {"action": "void_invoice", "delay": {"amount": 0, "unit": "days"}, "params": {}}
LATER_VOID = {**VOID, "delay": {"amount": 3, "unit": "days"}}


@pytest.fixture
def as_editor(editor):
    with acting_as("user", str(editor.pk), editor.username):
        yield editor


@pytest.fixture
def as_key():
    with acting_as("api_key", "key_test", "Signup flow"):
        yield


def only(action: str) -> AuditEntry:
    return AuditEntry.objects.get(action=action)


def automation(name="Chase", **kwargs):
    return automation_create(name=name, trigger=OVERDUE, filters=[], steps=[VOID], **kwargs)


# --- Automations -------------------------------------------------------------------------------


def test_creating_an_automation_records_who_and_what(as_editor, editor):
    created = automation(user=editor)
    entry = only("automation.created")
    assert (entry.actor_kind, entry.actor_id, entry.actor_label) == ("user", str(editor.pk), "eddie")
    assert (entry.object_type, entry.object_id, entry.object_label) == ("automation", created.public_id, "Chase")
    assert entry.before is None
    assert entry.after == {"name": "Chase", "trigger": OVERDUE, "enabled": True, "priority": 1, "version": 1}


def test_editing_an_automation_records_the_new_version_and_name(as_editor, editor):
    created = automation(user=editor)
    automation_update(automation=created, name="Chase harder", filters=[], steps=[VOID, VOID], user=editor)
    entry = only("automation.updated")
    assert entry.before == {"name": "Chase", "version": 1}
    assert entry.after == {"name": "Chase harder", "version": 2}
    assert entry.summary == "Saved as version 2."


def test_turning_an_automation_off_and_on_records_the_toggle(as_editor):
    created = automation()
    automation_disable(automation=created, in_flight="finish")
    automation_enable(automation=created)
    assert (only("automation.disabled").before, only("automation.disabled").after) == (
        {"enabled": True},
        {"enabled": False},
    )
    assert only("automation.enabled").after == {"enabled": True}


def test_reordering_records_the_order_before_and_after(as_editor):
    first, second = automation("First"), automation("Second")
    automation_reorder(trigger=OVERDUE, ordered_ids=[second.public_id, first.public_id])
    entry = only("automation.reordered")
    assert entry.before == {"order": ["First", "Second"]}
    assert entry.after == {"order": ["Second", "First"]}


def test_archiving_records_archived_or_deleted(as_editor):
    never_ran, ran = automation("Never ran"), automation("Ran")
    Run.objects.create(
        automation=ran,
        version=ran.current_version,
        trigger=OVERDUE,
        event=Event.objects.create(
            type="invoice.overdue", created=timezone.now(), object_type="invoice", object_id="in_x", data_object={}
        ),
        object_type="invoice",
        object_id="in_x",
        status="completed",
        started_at=timezone.now(),
    )
    automation_archive(automation=never_ran)
    automation_archive(automation=ran)
    assert only("automation.deleted").object_label == "Never ran"
    assert only("automation.archived").after == {"enabled": False, "archived": True}


# --- Settings, retry policies, exchange rates, webhooks, keys, roles ------------------------------


def test_saving_the_settings_records_only_what_changed(as_editor):
    account = AccountSettings.load()
    account.team_email_domains = ["acme.com"]
    account_settings_save(account=account)
    entry = only("account.updated")
    assert entry.before == {"team_email_domains": []}
    assert entry.after == {"team_email_domains": ["acme.com"]}


def test_retry_policies_record_creation_edit_and_deletion(as_editor):
    policy = retry_policies.retry_policy_create(
        name="Annual", schedule_kind="within_days", max_retries=3, within_days=21, end_behavior="leave_past_due"
    )
    retry_policies.retry_policy_update(
        policy=policy,
        name="Annual",
        schedule_kind="within_days",
        max_retries=4,
        within_days=21,
        end_behavior="leave_past_due",
    )
    retry_policies.retry_policy_delete(policy=policy)
    assert only("retry_policy.created").after["max_retries"] == 3
    updated = only("retry_policy.updated")
    assert (updated.before, updated.after) == ({"max_retries": 3}, {"max_retries": 4})
    assert only("retry_policy.deleted").object_label == "Annual"


def test_exchange_rates_record_the_value_before_and_after(as_editor):
    exchange_rates.exchange_rate_set(currency="USD", value="1.10")
    exchange_rates.exchange_rate_set(currency="USD", value="1.20")
    exchange_rates.exchange_rate_delete(currency="USD")
    assert only("exchange_rate.created").after == {"value": "1.100000"}
    assert only("exchange_rate.updated").before == {"value": "1.100000"}
    assert only("exchange_rate.deleted").object_id == "USD"


def test_webhook_endpoints_record_their_changes_but_never_a_secret(as_editor, settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["203.0.113.10"]
    created = endpoints.endpoint_create(url="https://203.0.113.10/hook", enabled_events=["invoice.paid"])
    endpoint = created.endpoint
    endpoints.endpoint_update(endpoint=endpoint, url="https://203.0.113.10/v2", enabled_events=["invoice.paid"])
    endpoints.endpoint_set_enabled(endpoint=endpoint, enabled=False)
    rolled = endpoints.endpoint_roll_secret(endpoint=endpoint, grace=timedelta(hours=24))
    endpoints.endpoint_delete(endpoint=endpoint)
    actions = list(AuditEntry.objects.order_by("id").values_list("action", flat=True))
    assert actions == [
        "webhook_endpoint.created",
        "webhook_endpoint.updated",
        "webhook_endpoint.disabled",
        "webhook_endpoint.secret_rolled",
        "webhook_endpoint.deleted",
    ]
    assert only("webhook_endpoint.updated").after == {"url": "https://203.0.113.10/v2"}
    stored = str(list(AuditEntry.objects.values("summary", "before", "after")))
    assert created.secret not in stored and rolled.secret not in stored


def test_api_keys_record_creation_and_revocation(as_editor, editor):
    new = api_key_create(name="CI", user=editor)
    api_key_revoke(api_key=new.api_key, user=editor)
    assert only("api_key.created").object_id == new.api_key.public_id
    assert only("api_key.revoked").object_id == new.api_key.public_id
    assert new.secret not in str(list(AuditEntry.objects.values("summary", "before", "after")))


def test_giving_a_role_records_the_role_before_and_after(as_editor):
    User.objects.create_user("vic", password="pw")
    user_set_role(username="vic", role="editor", create=False)
    entry = only("user.role_changed")
    assert (entry.object_label, entry.before["role"], entry.after["role"]) == ("vic", "none", "editor")


def test_the_admin_records_a_role_given_to_a_user(admin_client, editor):
    viewer_group = editor.groups.model.objects.get_or_create(name="Viewers")[0]
    user = User.objects.create_user("vic", password="pw")
    response = admin_client.post(
        f"/admin/auth/user/{user.pk}/change/",
        {
            "username": "vic",
            "is_active": "on",
            "groups": [viewer_group.pk],
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
            "initial-date_joined_0": "2026-01-01",
            "initial-date_joined_1": "00:00:00",
        },
    )
    assert response.status_code == 302, response.content
    entry = only("user.role_changed")
    assert entry.actor_label == "admin"
    assert (entry.before["role"], entry.after["role"]) == ("none", "viewer")


# --- Billing transitions, by hand or by a key ----------------------------------------------------


def test_invoice_transitions_record_the_status_before_and_after(as_key):
    draft = make_invoice(status="draft")
    services.invoice_finalize(invoice=draft)
    services.invoice_void(invoice=draft)
    bad_debt = make_invoice()
    services.invoice_mark_uncollectible(invoice=bad_debt)
    paid = make_invoice()
    services.invoice_mark_paid(invoice=paid)
    finalized = only("invoice.finalized")
    assert (finalized.before["status"], finalized.after["status"]) == ("draft", "open")
    assert (only("invoice.voided").before, only("invoice.voided").after) == ({"status": "open"}, {"status": "void"})
    assert only("invoice.marked_uncollectible").after == {"status": "uncollectible"}
    assert only("invoice.paid").summary == "Marked paid out of band."
    assert set(AuditEntry.objects.values_list("actor_kind", "actor_label")) == {("api_key", "Signup flow")}


def test_a_payment_attempt_records_its_outcome(as_editor):
    invoice = make_invoice(customer=make_customer(default_payment_method=DECLINED_CARD))
    services.invoice_attempt_payment(invoice=invoice)
    assert only("invoice.payment_attempted").after["outcome"] == "failed"


def test_customer_and_invoice_edits_record_only_the_changed_fields(as_key):
    customer = services.customer_create(name="Ada", email="ada@example.com")
    services.customer_update(customer=customer, name="Ada Lovelace")
    invoice = make_invoice(customer=customer)
    services.invoice_update(invoice=invoice, description="Q3")
    assert only("customer.created").after["name"] == "Ada"
    updated = only("customer.updated")
    assert (updated.before, updated.after) == ({"name": "Ada"}, {"name": "Ada Lovelace"})
    assert only("invoice.updated").after == {"description": "Q3"}


def test_subscription_transitions_are_recorded(as_editor):
    subscription = make_subscription()
    at = timezone.now() + timedelta(days=5)
    services.subscription_schedule_cancel(subscription=subscription, at=at)
    services.subscription_unschedule_cancel(subscription=subscription)
    services.subscription_pause_collection(subscription=subscription)
    services.subscription_resume_collection(subscription=subscription)
    services.subscription_cancel(subscription=subscription)
    assert only("subscription.cancel_scheduled").before == {"cancel_at": None}
    assert only("subscription.cancel_unscheduled").after == {"cancel_at": None}
    paused = only("subscription.paused")
    assert (paused.before["status"], paused.after["status"]) == ("active", "paused")
    assert only("subscription.resumed").after["status"] == "active"
    assert only("subscription.canceled").after == {"status": "canceled"}


def test_quote_transitions_are_recorded(as_editor):
    draft = make_quote(status="draft")
    services.quote_finalize(quote=draft)
    services.quote_accept(quote=draft)
    services.quote_cancel(quote=make_quote())
    assert only("quote.finalized").after["status"] == "open"
    accepted = only("quote.accepted")
    draft.refresh_from_db()
    assert accepted.after["invoice"] == draft.invoice.public_id
    assert only("quote.canceled").before == {"status": "open"}
    assert only("invoice.created").after["status"] == "draft"  # the invoice the acceptance drafted


def test_test_clocks_record_creation_advance_and_deletion(as_editor):
    start = timezone.now().replace(microsecond=0)
    clock = test_clocks.clock_create(name="Rehearsal", frozen_time=start)
    test_clocks.clock_start_advance(test_clock=clock, to=start + timedelta(days=3))
    clock.refresh_from_db()
    test_clocks.clock_finish_advance(advance=clock.advances.get())
    test_clocks.clock_delete(test_clock=clock)
    assert only("test_clock.created").object_id == clock.public_id
    assert only("test_clock.advanced").after == {"frozen_time": (start + timedelta(days=3)).isoformat()}
    assert only("test_clock.deleted").object_label == "Rehearsal"


# --- Not audited: jobs and the engine ---------------------------------------------------------------


def test_a_job_records_nothing():
    subscription = make_subscription(cancel_at=timezone.now() - timedelta(minutes=1))
    make_invoice(due_date=timezone.now() - timedelta(days=1))
    assert jobs.run_scheduled_cancellations() == 1
    jobs.run_overdue()
    subscription.refresh_from_db()
    assert subscription.status == "canceled"
    assert not AuditEntry.objects.exists()


def test_the_same_service_without_an_actor_records_nothing():
    services.invoice_void(invoice=make_invoice())
    automation()
    assert not AuditEntry.objects.exists()


def test_the_admin_records_retry_policies_it_saves_and_deletes(admin_client):
    form = {"name": "Annual", "schedule_kind": "within_days", "max_retries": "3", "within_days": "21"}
    form |= {"day_offsets": "[]", "end_behavior": "leave_past_due"}
    assert admin_client.post("/admin/billing/retrypolicy/add/", form).status_code == 302
    policy = retry_policies.RetryPolicy.objects.get(name="Annual")
    change = admin_client.post(f"/admin/billing/retrypolicy/{policy.pk}/change/", form | {"max_retries": "5"})
    assert change.status_code == 302
    assert admin_client.post(f"/admin/billing/retrypolicy/{policy.pk}/delete/", {"post": "yes"}).status_code == 302
    assert only("retry_policy.created").actor_label == "admin"
    updated = only("retry_policy.updated")
    assert (updated.before, updated.after) == ({"max_retries": 3}, {"max_retries": 5})
    assert only("retry_policy.deleted").object_label == "Annual"


def test_an_imported_automation_is_recorded_as_imported(as_editor, editor):
    document = automation_export(automation("Chase"))
    imported = automation_import(document, user=editor)
    entry = only("automation.imported")
    assert (entry.object_id, entry.actor_label) == (imported.public_id, "eddie")
    assert entry.after["name"] == "Chase (imported)"


def test_canceling_a_run_by_hand_is_recorded(editor, django_capture_on_commit_callbacks):
    automation_for("invoice.overdue", [LATER_VOID])
    _overdue_invoice(django_capture_on_commit_callbacks)  # the engine starts the run: not audited
    assert not AuditEntry.objects.exists()
    run = Run.objects.get()
    with acting_as("user", str(editor.pk), editor.username):
        run_cancel(run=run, user=editor)
    entry = only("run.canceled")
    assert (entry.object_id, entry.before, entry.after) == (run.public_id, {"status": "active"}, {"status": "canceled"})


def test_a_backfill_is_recorded_once_with_the_runs_it_started(editor, django_capture_on_commit_callbacks):
    invoice = _overdue_invoice(django_capture_on_commit_callbacks)
    late = automation_for("invoice.overdue", [LATER_VOID], name="Late")
    with acting_as("user", str(editor.pk), editor.username):
        assert backfill_start(automation=late).started == 1
    entry = only("automation.backfilled")
    assert (entry.object_id, entry.after) == (late.public_id, {"runs_started": 1, "steps_skipped": 0})
    assert Run.objects.get().object_id == invoice.public_id
