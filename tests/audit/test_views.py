"""Settings → Audit log: everyone with a role reads it, newest first, filtered by who, what and
when, a page at a time; nobody can write to it, in the dashboard or in the admin."""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from audit.models import AuditEntry

pytestmark = pytest.mark.django_db

URL = "/settings/audit-log/"
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def entry(action="invoice.voided", *, who=("user", "1", "eddie"), day=0, **fields) -> AuditEntry:
    kind, ident, label = who
    defaults = {
        "object_type": action.rpartition(".")[0],
        "object_id": "in_1",
        "object_label": "RL-000001",
        "before": {"status": "open"},
        "after": {"status": "void"},
    }
    return AuditEntry.objects.create(
        created=START + timedelta(days=day),
        actor_kind=kind,
        actor_id=ident,
        actor_label=label,
        action=action,
        **{**defaults, **fields},
    )


def listed(response) -> list[str]:
    return [e.action for e in response.context["page_obj"]]


def test_the_url_is_named_and_in_the_settings_navigation(viewer_client):
    assert reverse("audit:entry_list") == URL
    assert f'href="{URL}"' in viewer_client.get(reverse("settings")).text


def test_a_viewer_reads_the_log_newest_first_with_before_and_after(viewer_client):
    entry("invoice.voided", day=0)
    entry("automation.created", day=1, object_type="automation", object_id="auto_1", object_label="Chase")
    response = viewer_client.get(URL)
    assert response.status_code == 200
    assert listed(response) == ["automation.created", "invoice.voided"]
    text = response.text
    assert "Invoice voided" in text and "Automation created" in text
    assert '<a href="/invoices/in_1/">RL-000001</a>' in text
    assert "<summary>Before and after" in text
    assert '<th scope="row">Status</th><td>open</td><td>void</td>' in text


def test_someone_without_a_role_cannot_read_it(client, outsider):
    client.force_login(outsider)
    assert client.get(URL).status_code == 403


def test_it_filters_by_who(viewer_client):
    entry("invoice.voided", who=("user", "1", "eddie"))
    entry("invoice.paid", who=("api_key", "key_1", "Signup flow"))
    response = viewer_client.get(URL, {"who": "api_key:key_1"})
    assert listed(response) == ["invoice.paid"]
    assert "Signup flow (API key)" in response.text  # offered in the who filter


def test_it_filters_by_what(viewer_client):
    entry("invoice.voided")
    entry("retry_policy.updated", object_id="3", object_label="Annual")
    assert listed(viewer_client.get(URL, {"what": "retry_policy"})) == ["retry_policy.updated"]


def test_it_filters_by_days_both_included(viewer_client):
    for day in range(5):
        entry(f"invoice.day_{day}", day=day, object_type="invoice")
    response = viewer_client.get(URL, {"since": "2026-03-02", "until": "2026-03-04"})
    assert listed(response) == ["invoice.day_3", "invoice.day_2", "invoice.day_1"]


def test_it_searches_the_object(viewer_client):
    entry("invoice.voided", object_id="in_42", object_label="RL-000042")
    entry("invoice.paid", object_id="in_7", object_label="RL-000007")
    assert listed(viewer_client.get(URL, {"q": "in_42"})) == ["invoice.voided"]
    assert listed(viewer_client.get(URL, {"q": "000007"})) == ["invoice.paid"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"who": "user:999"}, "Who: Select a valid choice."),
        ({"what": "spaceship"}, "What: Select a valid choice."),
        ({"since": "yesterday"}, "From: Enter a valid date."),
        ({"since": "2026-02-25", "until": "2026-02-20"}, "To: The end comes before the start."),
        ({"until": "9999-12-31"}, "To: Choose a day between the years 2000 and 9000."),
        ({"since": "0001-01-01"}, "From: Choose a day between the years 2000 and 9000."),
        ({"q": "in_\x00"}, "Object: Null characters are not allowed."),
    ],
)
def test_a_bad_filter_is_reported_and_ignored(viewer_client, params, message):
    entry("invoice.voided")
    response = viewer_client.get(URL, params)
    assert response.status_code == 200
    assert message in response.text
    assert listed(response) == ["invoice.voided"]


def test_it_pages_25_entries_at_a_time_keeping_the_filters(viewer_client):
    for n in range(30):
        entry("invoice.voided", day=n)
    entry("customer.updated", object_type="customer")
    first = viewer_client.get(URL, {"what": "invoice"})
    assert len(first.context["page_obj"]) == 25
    assert "30 entries" in first.text
    assert "?what=invoice&amp;page=2" in first.text
    second = viewer_client.get(URL, {"what": "invoice", "page": 2})
    assert len(second.context["page_obj"]) == 5


def test_an_htmx_request_gets_only_the_results(viewer_client):
    entry()
    response = viewer_client.get(URL, headers={"HX-Request": "true"})
    assert response.text.lstrip().startswith('<section id="results"')
    assert "HX-Request" in response["Vary"]


def test_a_webhook_endpoint_links_only_for_editors(viewer_client, client, editor):
    entry("webhook_endpoint.updated", object_id="we_1", object_label="https://example.com/hook")
    assert 'href="/settings/webhooks/we_1/"' not in viewer_client.get(URL).text
    client.force_login(editor)
    assert 'href="/settings/webhooks/we_1/"' in client.get(URL).text


def test_a_deleted_object_has_no_link(viewer_client):
    entry("test_clock.deleted", object_id="clock_1", object_label="Rehearsal")
    assert 'href="/test-clocks/clock_1/"' not in viewer_client.get(URL).text


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_there_is_no_way_to_write_to_the_log(client, editor, method):
    client.force_login(editor)
    entry()
    assert getattr(client, method)(URL).status_code == 405
    assert AuditEntry.objects.count() == 1


# --- The admin: read only, superusers included -------------------------------------------------


def test_a_superuser_can_look_in_the_admin_but_not_change(admin_client):
    row = entry()
    changelist = admin_client.get("/admin/audit/auditentry/")
    assert changelist.status_code == 200
    assert "RL-000001" in changelist.text
    assert admin_client.get(f"/admin/audit/auditentry/{row.pk}/change/").status_code == 200
    assert admin_client.get("/admin/audit/auditentry/add/").status_code == 403
    assert admin_client.post(f"/admin/audit/auditentry/{row.pk}/change/", {"summary": "edited"}).status_code == 403
    assert admin_client.post(f"/admin/audit/auditentry/{row.pk}/delete/", {"post": "yes"}).status_code == 403
    bulk = admin_client.post(
        "/admin/audit/auditentry/", {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"}
    )
    assert bulk.status_code in (200, 302)
    row.refresh_from_db()
    assert row.summary == ""


def test_the_admin_offers_no_delete_action(admin_client):
    entry()
    response = admin_client.get("/admin/audit/auditentry/")
    assert "delete_selected" not in response.text
