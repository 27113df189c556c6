"""Automations as JSON in the dashboard: the download, and the import with its preview."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from automations.models import Automation
from automations.services.definitions import automation_create
from billing.models import RetryPolicy

OVERDUE = "invoice.overdue"
IMPORT = "/automations/import/"


def step(action="void_invoice", amount=0, unit="days", **params):
    return {"action": action, "delay": {"amount": amount, "unit": unit}, "params": params}


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


def upload(doc, name="chase.relance.json") -> SimpleUploadedFile:
    body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    return SimpleUploadedFile(name, body, content_type="application/json")


@pytest.fixture
def chase(db) -> Automation:
    RetryPolicy.objects.create(name="Annual", max_retries=3, within_days=21)
    return automation_create(
        name="Chase: late / unpaid",
        trigger="subscription.payment_failed",
        filters=[{"type": "subscription_interval", "params": {"interval": "year"}}],
        steps=[step("set_retry_policy", policy="Annual"), step("cancel_subscription", 7)],
    )


def test_it_downloads_an_automation_as_a_json_attachment(viewer_client, chase):
    response = viewer_client.get(reverse("automation_export", args=[chase.public_id]))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="Chase- late - unpaid.relance.json"'
    doc = json.loads(response.content)
    assert doc["object"] == "automation_document"
    assert doc["name"] == "Chase: late / unpaid"
    assert doc["steps"][0]["params"]["new_policy"]["name"] == "Annual"


def test_the_download_of_an_unknown_automation_is_404(viewer_client, db):
    assert viewer_client.get("/automations/auto_nope/export/").status_code == 404


def test_the_automation_page_links_the_download(viewer_client, chase):
    text = viewer_client.get(reverse("automation_detail", args=[chase.public_id])).content.decode()

    assert f'href="/automations/{chase.public_id}/export/" download>Export JSON</a>' in text


def test_the_list_links_the_import_page_for_editors_only(client, editor, viewer, chase):
    client.force_login(editor)
    assert 'href="/automations/import/">Import</a>' in client.get("/automations/").content.decode()
    client.force_login(viewer)
    assert 'href="/automations/import/"' not in client.get("/automations/").content.decode()


def test_the_import_page_offers_a_file_and_a_text_box(editor_client):
    response = editor_client.get(IMPORT)

    assert response.status_code == 200
    text = response.content.decode()
    assert 'type="file" name="file"' in text
    assert '<textarea name="text"' in text
    assert 'enctype="multipart/form-data"' in text


def test_the_preview_shows_the_summary_and_saves_nothing(editor_client, chase):
    from automations.services.documents import automation_export

    doc = automation_export(chase)

    response = editor_client.post(IMPORT, {"step": "preview", "file": upload(doc)})

    assert response.status_code == 200
    text = response.content.decode()
    assert "When a subscription payment fails, for yearly subscriptions: start retry policy Annual" in text
    assert "Chase: late / unpaid (imported)" in text
    assert "Save as new automation" in text
    assert Automation.objects.count() == 1


def test_a_pasted_document_is_previewed_too(editor_client, db):
    response = editor_client.post(IMPORT, {"step": "preview", "text": json.dumps(document())})

    assert response.status_code == 200
    assert "When an invoice is overdue: wait 3 days, void the invoice" in response.content.decode()
    assert not Automation.objects.exists()


def test_the_preview_lists_every_problem_by_field_and_offers_no_save(editor_client, db):
    doc = document(version=2, steps=[step(amount=1), step(amount=2, unit="weeks"), step("no_such_action")])

    response = editor_client.post(IMPORT, {"step": "preview", "file": upload(doc)})

    assert response.status_code == 400
    text = response.content.decode()
    assert "3 problems" in text
    assert "<strong>Version</strong>" in text
    assert "<strong>Step 2 › delay</strong>" in text
    assert "Unknown action &#x27;no_such_action&#x27;." in text
    assert "Save as new automation" not in text
    assert not Automation.objects.exists()


def test_saving_creates_the_automation_off_and_goes_to_its_page(editor_client, editor, db):
    automation_create(name="First", trigger=OVERDUE, filters=[], steps=[step()])
    preview = editor_client.post(IMPORT, {"step": "preview", "file": upload(document())})
    hidden = preview.context["document_json"]

    response = editor_client.post(IMPORT, {"step": "save", "document": hidden})

    imported = Automation.objects.get(name="Chase")
    assert response.status_code == 302
    assert response["Location"] == reverse("automation_detail", args=[imported.public_id])
    assert (imported.enabled, imported.priority, imported.created_by) == (False, 2, editor)
    assert imported.current_version.steps == [step(amount=3)]
    page = editor_client.get(response["Location"]).content.decode()
    assert "imported as a new automation, last in its trigger&#x27;s order, off" in page


def test_saving_turns_it_on_only_when_asked(editor_client, db):
    editor_client.post(IMPORT, {"step": "save", "document": json.dumps(document()), "enabled": "on"})

    assert Automation.objects.get(name="Chase").enabled is True


def test_a_save_that_no_longer_validates_answers_400_with_the_problems(editor_client, db):
    doc = document(steps=[step("set_retry_policy", policy="Gone")], trigger="subscription.payment_failed")

    response = editor_client.post(IMPORT, {"step": "save", "document": json.dumps(doc)})

    assert response.status_code == 400
    assert "There is no retry policy named “Gone”." in response.content.decode()
    assert not Automation.objects.exists()


def test_a_viewer_cannot_import(viewer_client, db):
    assert viewer_client.get(IMPORT).status_code == 403
    response = viewer_client.post(IMPORT, {"step": "save", "document": json.dumps(document())})
    assert response.status_code == 403
    assert not Automation.objects.exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"text": "{not json"}, "This is not valid JSON: Expecting property name enclosed in double quotes (line 1"),
        ({"file": upload(b"\xff\xfe{}")}, "not UTF-8 text"),
        ({"text": "   "}, "Choose a .json file or paste the document."),
        ({"text": "[" * 100_000 + "]" * 100_000}, "nested too deeply"),
    ],
)
def test_an_unreadable_document_answers_400_with_the_reason(editor_client, db, data, message):
    response = editor_client.post(IMPORT, {"step": "preview", **data})

    assert response.status_code == 400
    assert message in response.content.decode()


def test_a_save_of_broken_json_answers_400(editor_client, db):
    response = editor_client.post(IMPORT, {"step": "save", "document": "{"})

    assert response.status_code == 400
    assert "This is not valid JSON" in response.content.decode()


def test_a_file_over_256_kb_answers_400(editor_client, db):
    big = document(name="x" * 300_000)

    response = editor_client.post(IMPORT, {"step": "preview", "file": upload(big)})

    assert response.status_code == 400
    assert "The file is too large (293 KB): at most 256 KB." in response.content.decode()


def test_pasted_text_over_256_kb_answers_400(editor_client, db):
    response = editor_client.post(IMPORT, {"step": "preview", "text": json.dumps(document(name="x" * 300_000))})

    assert response.status_code == 400
    assert "The document is too large" in response.content.decode()
