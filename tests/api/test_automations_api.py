"""Automations as JSON under /v1/automations, through the official stripe SDK's raw requests only:
list, retrieve, export, import (refusals by field), and a read-only key refused on import."""

import json

import pytest
import stripe
from django.utils import timezone

from audit.models import AuditEntry
from automations.models import Automation
from automations.services.definitions import automation_create
from billing.models import RetryPolicy
from tests.api.conftest import API

pytestmark = API

OVERDUE = "invoice.overdue"
FAILED = "subscription.payment_failed"


def step(action="void_invoice", amount=0, unit="days", **params):
    return {"action": action, "delay": {"amount": amount, "unit": unit}, "params": params}


def create(name, trigger=OVERDUE, steps=None, **kwargs) -> Automation:
    return automation_create(name=name, trigger=trigger, filters=[], steps=steps or [step(amount=3)], **kwargs)


def archived(automation: Automation) -> None:
    """As automation_archive leaves one that has run (one that never ran is deleted)."""
    Automation.objects.filter(pk=automation.pk).update(archived_at=timezone.now(), enabled=False)


def document(**fields) -> dict:
    return {
        "object": "automation_document",
        "version": 1,
        "name": "Chase",
        "trigger": OVERDUE,
        "enabled": True,
        "filters": [],
        "steps": [step(amount=3)],
    } | fields


def get(client: stripe.StripeClient, path: str, **params) -> dict:
    return client.raw_request("get", path, **params).data


def import_(client: stripe.StripeClient, doc, **params) -> dict:
    text = doc if isinstance(doc, str) else json.dumps(doc)
    return client.raw_request("post", "/v1/automations/import", document=text, **params).data


def test_it_lists_the_automations_newest_first_with_stripes_pagination(stripe_client):
    names = [create(f"Chase {i}").name for i in range(3)]
    archived(create("Old"))

    first = get(stripe_client, "/v1/automations", limit=2)
    rest = get(stripe_client, "/v1/automations", limit=2, starting_after=first["data"][-1]["id"])

    assert (first["object"], first["url"], first["has_more"]) == ("list", "/v1/automations", True)
    assert [a["name"] for a in first["data"] + rest["data"]] == names[::-1]
    assert rest["has_more"] is False
    assert [a["name"] for a in get(stripe_client, "/v1/automations", archived="true")["data"]] == ["Old"]


def test_the_list_filters_by_trigger_and_state(stripe_client):
    create("Chase")
    create("Retry", trigger=FAILED, enabled=False)

    assert [a["name"] for a in get(stripe_client, "/v1/automations", trigger=FAILED)["data"]] == ["Retry"]
    assert [a["name"] for a in get(stripe_client, "/v1/automations", enabled="true")["data"]] == ["Chase"]
    with pytest.raises(stripe.InvalidRequestError) as refused:
        get(stripe_client, "/v1/automations", enabled="maybe")
    assert refused.value.param == "enabled"


def test_it_retrieves_an_automation_with_its_definition_and_place(stripe_client):
    create("First")
    chase = create("Chase")

    body = get(stripe_client, f"/v1/automations/{chase.public_id}")

    assert body["id"] == chase.public_id
    assert body["object"] == "automation"
    assert (body["name"], body["trigger"], body["enabled"], body["priority"]) == ("Chase", OVERDUE, True, 2)
    assert body["steps"] == [step(amount=3)]
    assert body["filters"] == []
    assert body["definition_version"] == 1
    assert isinstance(body["created"], int)


def test_an_unknown_automation_is_a_missing_resource(stripe_client):
    with pytest.raises(stripe.InvalidRequestError) as missing:
        get(stripe_client, "/v1/automations/auto_nope")
    assert missing.value.http_status == 404
    assert missing.value.code == "resource_missing"
    assert "No such automation: 'auto_nope'" in missing.value.user_message


def test_it_exports_a_self_contained_document(stripe_client):
    RetryPolicy.objects.create(name="Annual", max_retries=3, within_days=21)
    dunning = create("Dunning", trigger=FAILED, steps=[step("set_retry_policy", policy="Annual")])

    doc = get(stripe_client, f"/v1/automations/{dunning.public_id}/export")

    assert (doc["object"], doc["version"], doc["name"]) == ("automation_document", 1, "Dunning")
    assert doc["steps"][0]["params"]["new_policy"]["name"] == "Annual"
    assert doc["steps"][0]["params"]["new_policy"]["within_days"] == 21
    assert "id" not in doc


def test_an_export_imports_back_as_a_new_automation_off_and_last(stripe_client):
    chase = create("Chase")
    doc = get(stripe_client, f"/v1/automations/{chase.public_id}/export")

    body = import_(stripe_client, doc)

    assert body["object"] == "automation"
    assert body["id"] != chase.public_id
    assert (body["name"], body["enabled"], body["priority"]) == ("Chase (imported)", False, 2)
    imported = Automation.objects.get(public_id=body["id"])
    assert imported.current_version.steps == chase.current_version.steps
    entry = AuditEntry.objects.get(action="automation.imported")
    assert (entry.actor_kind, entry.actor_label, entry.object_id) == ("api_key", "Tests", body["id"])


def test_an_import_is_on_only_when_asked(stripe_client):
    assert import_(stripe_client, document(), enabled="true")["enabled"] is True


def test_a_refused_import_names_the_first_field_and_lists_every_problem(stripe_client):
    doc = document(version=2, steps=[step(amount=1), step("send_team_email", recipient="", message="Hi")])

    with pytest.raises(stripe.InvalidRequestError) as refused:
        import_(stripe_client, doc)

    error = refused.value
    assert error.http_status == 400
    errors = error.json_body["error"]["errors"]
    assert set(errors) == {"version", "steps.1.params.recipient"}
    assert error.param in errors
    assert "Unknown document version 2" in error.user_message
    assert "steps.1.params.recipient" in error.user_message
    assert not Automation.objects.exists()


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"document": "{not json"}, "Invalid document: not valid JSON"),
        ({}, "Missing required param: document."),
        ({"document": {"name": "Chase"}}, "Invalid document: expected JSON text."),
    ],
)
def test_a_document_that_cannot_be_read_is_refused_with_its_param(stripe_client, params, words):
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.raw_request("post", "/v1/automations/import", **params)
    assert refused.value.http_status == 400
    assert refused.value.param == "document"
    assert words in refused.value.user_message


def test_an_unknown_parameter_is_refused_as_stripe_does(stripe_client):
    with pytest.raises(stripe.InvalidRequestError) as refused:
        import_(stripe_client, document(), color="blue")
    assert (refused.value.param, refused.value.user_message) == ("color", "Received unknown parameter: color")
    with pytest.raises(stripe.InvalidRequestError) as refused:
        get(stripe_client, "/v1/automations", sort="name")
    assert refused.value.param == "sort"
    assert not Automation.objects.exists()


def test_a_document_over_256_kb_is_refused(stripe_client):
    with pytest.raises(stripe.InvalidRequestError) as refused:
        import_(stripe_client, document(name="x" * 300_000))
    assert "at most 256 KB" in refused.value.user_message


def test_a_restricted_key_reads_and_exports_but_cannot_import(stripe_client, restricted_client):
    chase = create("Chase")
    assert get(restricted_client, "/v1/automations")["data"][0]["id"] == chase.public_id
    doc = get(restricted_client, f"/v1/automations/{chase.public_id}/export")

    with pytest.raises(stripe.PermissionError) as refused:
        import_(restricted_client, doc)

    assert refused.value.http_status == 403
    assert Automation.objects.count() == 1


def test_an_import_replays_for_the_same_idempotency_key(stripe_client):
    first = import_(stripe_client, document(), idempotency_key="import-1")
    again = import_(stripe_client, document(), idempotency_key="import-1")

    assert again["id"] == first["id"]
    assert Automation.objects.count() == 1
