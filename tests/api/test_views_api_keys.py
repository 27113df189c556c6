"""Settings → API keys: editors create a key (shown once) and revoke it after confirming; viewers see the list."""

import re

import pytest
from django.utils import timezone

from api.keys import api_key_create, authenticate, digest
from api.models import ApiKey, KeyKind
from audit.models import AuditEntry

pytestmark = pytest.mark.django_db

URL = "/settings/api-keys/"


def _shown_key(response) -> str:
    found = re.search(r'value="((?:sk|rk)_test_[A-Za-z0-9]+)"', response.content.decode())
    assert found, "the new key is not on the page"
    return found.group(1)


def test_it_shows_a_new_key_once_with_a_warning_and_no_cache(editor_client, editor):
    response = editor_client.post(URL, {"name": "Signup flow"})
    assert response.status_code == 201
    assert "no-store" in response["Cache-Control"]
    body = response.content.decode()
    assert "it will not be shown again" in body and "copy it" in body.lower()
    secret = _shown_key(response)
    assert secret.startswith("sk_test_")

    stored = ApiKey.objects.get()
    assert stored.hashed == digest(secret) and stored.kind == KeyKind.SECRET
    assert stored.created_by == editor and stored.name == "Signup flow"
    assert authenticate(secret) == stored

    listing = editor_client.get(URL).content.decode()
    assert secret not in listing and secret[-20:] not in listing
    assert f"sk_…{secret[-4:]}" in listing and "Signup flow" in listing
    assert editor.username in listing


def test_the_key_travels_in_neither_the_url_nor_the_session(editor_client):
    response = editor_client.post(URL, {"name": "CI"})
    secret = _shown_key(response)
    session = editor_client.session
    assert not any(secret in str(value) for value in session.values())
    assert secret not in response.get("Location", "") and secret not in response.request["PATH_INFO"]


def test_a_read_only_key_is_restricted(editor_client):
    response = editor_client.post(URL, {"name": "Back office", "read_only": "on"})
    secret = _shown_key(response)
    assert secret.startswith("rk_test_")
    stored = ApiKey.objects.get()
    assert stored.read_only
    listing = editor_client.get(URL).content.decode()
    assert f"rk_…{secret[-4:]}" in listing and "Restricted (read only)" in listing


def test_the_list_shows_kind_created_by_last_use_and_revocation(editor_client, editor):
    used = api_key_create(name="Used key", user=editor)
    authenticate(used.secret)
    unused = api_key_create(name="Unused key", read_only=True)
    ApiKey.objects.filter(pk=unused.api_key.pk).update(revoked_at=timezone.now())
    body = editor_client.get(URL).content.decode()
    assert "Used key" in body and "Unused key" in body
    assert "Secret (full access)" in body and "Restricted (read only)" in body
    assert "Never" in body and "Revoked" in body and "Active" in body
    assert used.secret not in body and unused.secret not in body


def test_a_name_is_required(editor_client):
    response = editor_client.post(URL, {"name": "   "})
    assert response.status_code == 400
    assert "An API key needs a name" in response.content.decode()
    assert not ApiKey.objects.exists()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("a" * 201, "at most 200 characters"),
        ("nul\x00byte", "Null characters are not allowed"),
        ("line\nbreak", "cannot contain control characters"),
    ],
)
def test_it_refuses_a_hostile_name_with_a_message(editor_client, name, message):
    response = editor_client.post(URL, {"name": name})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not ApiKey.objects.exists()


def test_a_name_with_markup_is_shown_as_text(editor_client):
    response = editor_client.post(URL, {"name": "<script>alert(1)</script> ünïcødé 💸"})
    assert response.status_code == 201
    for body in (response.content.decode(), editor_client.get(URL).content.decode()):
        assert "<script>alert(1)</script>" not in body
        assert "&lt;script&gt;alert(1)&lt;/script&gt; ünïcødé 💸" in body


def test_a_viewer_sees_the_list_but_cannot_create_or_revoke(viewer_client):
    new = api_key_create(name="Signup flow")
    page = viewer_client.get(URL)
    assert page.status_code == 200
    body = page.content.decode()
    assert "Signup flow" in body and new.api_key.redacted in body
    assert "Create key" not in body and "Revoke" not in body
    assert "Only editors can create and revoke API keys." in body

    assert viewer_client.post(URL, {"name": "Mine"}).status_code == 403
    revoke = f"{URL}{new.api_key.public_id}/revoke/"
    assert viewer_client.get(revoke).status_code == 403
    assert viewer_client.post(revoke).status_code == 403
    assert ApiKey.objects.count() == 1 and authenticate(new.secret) is not None


def test_revoking_asks_first_then_the_key_no_longer_authenticates(editor_client):
    new = api_key_create(name="Old integration")
    revoke = f"{URL}{new.api_key.public_id}/revoke/"
    confirm = editor_client.get(revoke)
    assert confirm.status_code == 200
    body = confirm.content.decode()
    assert "Revoke the key “Old integration”?" in body and new.api_key.redacted in body
    assert authenticate(new.secret) is not None, "asking must not revoke"

    response = editor_client.post(revoke)
    assert response.status_code == 302 and response.url == URL
    assert authenticate(new.secret) is None
    assert ApiKey.objects.get().revoked_at is not None
    listing = editor_client.get(URL).content.decode()
    assert "revoked: requests with it are refused" in listing and "Revoked" in listing


def test_the_list_asks_in_a_dialog_before_revoking(editor_client):
    new = api_key_create(name="Signup flow")
    body = editor_client.get(URL).content.decode()
    assert f'data-opens-dialog="revoke-key-{new.api_key.pk}"' in body
    assert f'<dialog id="revoke-key-{new.api_key.pk}"' in body


def test_revoking_an_unknown_or_revoked_key_says_so(editor_client):
    assert editor_client.post(f"{URL}key_nope/revoke/").status_code == 404
    new = api_key_create(name="Gone")
    editor_client.post(f"{URL}{new.api_key.public_id}/revoke/")
    again = editor_client.post(f"{URL}{new.api_key.public_id}/revoke/", follow=True)
    assert "was already revoked" in again.content.decode()


def test_the_settings_navigation_links_the_page(viewer_client):
    body = viewer_client.get("/settings/").content.decode()
    assert f'href="{URL}"' in body and "API keys" in body


def test_creating_and_revoking_a_key_are_in_the_audit_log_without_the_key(editor_client, editor):
    secret = _shown_key(editor_client.post(URL, {"name": "Signup flow", "read_only": "on"}))
    api_key = ApiKey.objects.get()
    editor_client.post(f"{URL}{api_key.public_id}/revoke/")
    entries = list(AuditEntry.objects.order_by("id"))
    assert [entry.action for entry in entries] == ["api_key.created", "api_key.revoked"]
    for entry in entries:
        assert (entry.actor_kind, entry.actor_id, entry.actor_label) == ("user", str(editor.pk), editor.username)
        assert entry.object_type == "api_key" and entry.object_id == api_key.public_id
        assert secret not in str([entry.object_label, entry.summary, entry.before, entry.after])
    assert entries[0].after == {"name": "Signup flow", "kind": "restricted", "redacted": api_key.redacted}
    assert entries[1].before == {"revoked_at": None} and entries[1].after["revoked_at"]
    assert entries[0].object_url == URL  # the log links to this page


def test_a_key_made_by_the_command_or_revoked_twice_is_not_audited_twice(editor_client):
    new = api_key_create(name="From a script")  # no actor (a command): nothing to record
    assert not AuditEntry.objects.exists()
    revoke = f"{URL}{new.api_key.public_id}/revoke/"
    editor_client.post(revoke)
    editor_client.post(revoke)
    assert list(AuditEntry.objects.values_list("action", flat=True)) == ["api_key.revoked"]
