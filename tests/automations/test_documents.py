"""Automations as JSON documents: export, preview and import (validated as the builder's save)."""

import json

import pytest
from django.utils import timezone

from audit.context import USER, acting_as
from audit.models import AuditEntry
from automations.models import Automation
from automations.services.definitions import automation_create
from automations.services.documents import (
    DocumentError,
    automation_export,
    automation_import,
    preview,
)
from billing.models import Product, RetryPolicy

FAILED = "subscription.payment_failed"
OVERDUE = "invoice.overdue"
MEMO = {"recipient": "eddie@team.example", "message": "Heads up: {number} for {customer}."}


def step(action, amount=0, unit="days", **params):
    return {"action": action, "delay": {"amount": amount, "unit": unit}, "params": params}


@pytest.fixture(autouse=True)
def team(editor):
    """The editor is a team member, so team emails to eddie@team.example are valid."""
    return editor


@pytest.fixture
def annual(db) -> RetryPolicy:
    return RetryPolicy.objects.create(name="Annual", schedule_kind="day_offsets", day_offsets=[3, 7, 14])


@pytest.fixture
def dunning(annual, editor) -> Automation:
    product = Product.objects.create(name="Pro")
    return automation_create(
        name="Annual dunning",
        trigger=FAILED,
        filters=[
            {"type": "subscription_interval", "params": {"interval": "year"}},
            {"type": "product", "params": {"products": [product.public_id]}},
        ],
        steps=[
            step("set_retry_policy", policy="Annual"),
            step("send_team_email", 1, "hours", **MEMO),
            step("cancel_subscription", 7),
        ],
        user=editor,
    )


def document(**fields) -> dict:
    return {
        "object": "automation_document",
        "version": 1,
        "name": "Chase",
        "trigger": OVERDUE,
        "filters": [],
        "steps": [step("void_invoice", 3)],
    } | fields


def errors_of(doc) -> dict[str, str]:
    with pytest.raises(DocumentError) as exc:
        automation_import(doc)
    return exc.value.errors


def test_it_exports_a_versioned_document_without_internal_ids(dunning):
    doc = automation_export(dunning)

    assert doc["object"] == "automation_document"
    assert doc["version"] == 1
    assert (doc["name"], doc["trigger"], doc["enabled"]) == ("Annual dunning", FAILED, True)
    assert doc["filters"][0] == {"type": "subscription_interval", "params": {"interval": "year"}}
    assert [s["action"] for s in doc["steps"]] == ["set_retry_policy", "send_team_email", "cancel_subscription"]
    assert set(doc) == {"object", "version", "name", "trigger", "enabled", "filters", "steps"}
    text = json.dumps(doc)
    assert dunning.public_id not in text
    assert '"id"' not in text


def test_it_embeds_a_named_retry_policy_inline_so_the_document_stands_alone(dunning, annual):
    policy_step = automation_export(dunning)["steps"][0]

    assert policy_step["params"] == {
        "new_policy": {
            "name": "Annual",
            "schedule_kind": "day_offsets",
            "max_retries": annual.max_retries,
            "within_days": annual.within_days,
            "day_offsets": [3, 7, 14],
            "end_behavior": annual.end_behavior,
        }
    }


def test_it_round_trips_an_export_into_the_same_definition(dunning):
    imported = automation_import(json.loads(json.dumps(automation_export(dunning))))

    assert imported.pk != dunning.pk
    assert imported.trigger == dunning.trigger
    assert imported.current_version.filters == dunning.current_version.filters
    assert imported.current_version.steps == dunning.current_version.steps


def test_it_imports_an_inline_policy_into_an_account_without_it(dunning):
    doc = automation_export(dunning)
    RetryPolicy.objects.filter(name="Annual").delete()

    imported = automation_import(doc)

    new_policy = imported.current_version.steps[0]["params"]["new_policy"]
    assert new_policy["name"] == "Annual"
    assert new_policy["day_offsets"] == [3, 7, 14]
    assert not RetryPolicy.objects.filter(name="Annual").exists()  # created when the step first runs


def test_it_refuses_an_inline_policy_whose_name_exists_with_another_schedule(dunning):
    doc = automation_export(dunning)
    RetryPolicy.objects.filter(name="Annual").update(day_offsets=[1, 2])

    errors = errors_of(doc)

    assert "already exists with another schedule" in errors["steps.0.params.name"]


def test_it_gives_the_builders_error_for_each_field(editor):
    doc = document(
        trigger=FAILED,
        filters=[{"type": "subscription_interval", "params": {"interval": "weekly"}}],
        steps=[
            step("send_team_email", 0, "days", recipient="", message="Hi"),
            step("void_invoice", 0, "weeks"),
            step("no_such_action"),
        ],
    )

    errors = errors_of(doc)

    assert errors["filters.0.params.interval"] == "Choose monthly or yearly."
    assert "steps.0.params.recipient" in errors
    assert "timed in" in errors["steps.1.delay"]
    assert errors["steps.2.action"] == "Unknown action 'no_such_action'."
    assert not Automation.objects.exists()


def test_it_refuses_a_name_the_builder_would_refuse():
    assert errors_of(document(name="  "))["name"] == "Enter a name."
    assert "at most 200" in errors_of(document(name="x" * 201))["name"]


@pytest.mark.parametrize(
    ("doc", "field", "words"),
    [
        ([1, 2], "document", "must be a JSON object"),
        ("automation", "document", "must be a JSON object"),
        (document(object="automation"), "object", "not an automation document"),
        (document(version=2), "version", "Unknown document version 2"),
        (document(version=True), "version", "Unknown document version"),
        ({k: v for k, v in document().items() if k != "version"}, "version", "Unknown document version None"),
        ({k: v for k, v in document().items() if k != "name"}, "name", "The document has no name."),
        ({k: v for k, v in document().items() if k != "trigger"}, "trigger", "The document has no trigger."),
        ({k: v for k, v in document().items() if k != "steps"}, "steps", "The document has no steps."),
        (document(trigger="invoice.eaten"), "trigger", "Unknown trigger 'invoice.eaten'."),
        (document(enabled="yes"), "enabled", "true or false"),
        (document(steps=[]), "steps", "Add at least one step."),
        (document(filter=[]), "document", "Unknown field(s): filter."),
    ],
)
def test_it_says_what_is_wrong_with_the_document_itself(doc, field, words):
    assert words in errors_of(doc)[field]
    assert not Automation.objects.exists()


def test_it_reports_the_document_and_the_definition_errors_together():
    errors = errors_of(document(version=3, steps=[step("void_invoice", -1)]))

    assert set(errors) == {"version", "steps.0.delay"}


def test_it_appends_imported_to_a_name_already_used():
    automation_import(document())
    automation_import(document())
    third = automation_import(document())

    names = list(Automation.objects.order_by("id").values_list("name", flat=True))
    assert names == ["Chase", "Chase (imported)", "Chase (imported 2)"]
    assert third.name == "Chase (imported 2)"


def test_it_reuses_the_name_of_an_archived_automation():
    # As automation_archive leaves one that has run (one that never ran is deleted).
    Automation.objects.filter(pk=automation_import(document()).pk).update(archived_at=timezone.now())

    assert automation_import(document()).name == "Chase"


def test_it_keeps_a_long_clashing_name_within_the_limit():
    automation_import(document(name="x" * 200))

    assert automation_import(document(name="x" * 200)).name == "x" * 189 + " (imported)"


def test_an_imported_automation_is_off_and_last_in_its_triggers_order():
    first = automation_create(name="First", trigger=OVERDUE, filters=[], steps=[step("void_invoice")])
    second = automation_create(name="Second", trigger=OVERDUE, filters=[], steps=[step("void_invoice")])

    imported = automation_import(document(enabled=True))

    assert imported.enabled is False
    assert (first.priority, second.priority, imported.priority) == (1, 2, 3)


def test_an_import_is_on_only_when_asked(editor):
    imported = automation_import(document(), enabled=True, user=editor)

    assert imported.enabled is True
    assert imported.created_by == editor
    assert imported.current_version.created_by == editor


def test_the_preview_summarizes_without_saving(dunning):
    doc = automation_export(dunning)

    result = preview(doc)

    assert result.valid
    assert result.name == "Annual dunning (imported)"
    assert result.renamed
    assert result.summary.startswith("When a subscription payment fails, for yearly subscriptions")
    assert "start retry policy Annual" in result.summary
    assert (result.filters, result.steps, result.enabled_in_document) == (2, 3, True)
    assert Automation.objects.count() == 1


def test_the_preview_lists_the_errors_and_summarizes_what_it_can():
    result = preview(document(steps=[step("void_invoice", 2), step("void_invoice", 0, "weeks")]))

    assert not result.valid
    assert set(result.errors) == {"steps.1.delay"}
    assert result.summary.startswith("When an invoice is overdue")
    assert result.trigger_label == "Invoice is overdue"


def test_the_preview_of_something_else_than_a_document_says_so():
    assert "JSON object" in preview(["not", "a", "document"]).errors["document"]


def test_an_import_by_someone_is_in_the_audit_log(editor):
    automation_import(document())
    with acting_as(USER, editor.pk, editor.username):
        imported = automation_import(document(), user=editor)

    entry = AuditEntry.objects.get(action="automation.imported")
    assert (entry.actor_kind, entry.actor_label) == (USER, "eddie")
    assert (entry.object_id, entry.object_label) == (imported.public_id, "Chase (imported)")
    assert "renamed from “Chase”" in entry.summary
    assert entry.after["enabled"] is False
    assert entry.after["steps"] == 1


def test_a_refused_import_leaves_nothing_in_the_audit_log(editor):
    with acting_as(USER, editor.pk, editor.username), pytest.raises(DocumentError):
        automation_import(document(version=9))

    assert not AuditEntry.objects.filter(action__startswith="automation.").exists()
