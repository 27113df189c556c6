"""Settings → Email log: everyone may look, failures are visible, editors send a failed message again."""

import re

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from notifications.email import send_templated_email
from notifications.models import EmailStatus, OutboundEmail

pytestmark = pytest.mark.django_db


def _email(to=("ada@example.com",), source="test", **fields) -> OutboundEmail:
    """A recorded message; it stays queued (the send runs on commit, which tests do not run unless asked)."""
    email = send_templated_email(to=list(to), template="emails/test_message", context={"name": "Ada"}, source=source)
    if fields:
        OutboundEmail.objects.filter(pk=email.pk).update(**fields)
        email.refresh_from_db()
    return email


def _failed(**fields) -> OutboundEmail:
    return _email(
        status=EmailStatus.FAILED,
        attempt_count=8,
        last_error="SMTPServerDisconnected: Connection unexpectedly closed",
        failed_at=timezone.now(),
        next_attempt_at=None,
        **fields,
    )


def _url(name: str, *args) -> str:
    return reverse(f"notifications:{name}", args=args)


def _rows(response) -> int:
    return response.text.count('href="/settings/emails/em_')


def test_the_log_lists_each_message_with_recipients_subject_status_and_source(viewer_client):
    _email(to=["ada@example.com", "bob@example.com"], source="automation run 7, step 2")
    response = viewer_client.get(_url("email_list"))
    text = response.text
    assert response.status_code == 200
    assert "ada@example.com, bob@example.com" in text
    assert "Relance test email for Ada" in text
    assert 'badge-queued">Queued' in text
    assert "automation run 7, step 2" in text


def test_an_empty_log_explains_itself(viewer_client):
    assert "No emails yet." in viewer_client.get(_url("email_list")).text


def test_a_failure_is_visible_in_the_log_with_its_error(viewer_client):
    _failed()
    text = viewer_client.get(_url("email_list")).text
    assert 'badge-failed">Failed' in text and "SMTPServerDisconnected" in text


def test_a_message_that_could_not_be_sent_shows_its_error_and_next_attempt(
    viewer_client, settings, django_capture_on_commit_callbacks
):
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": 1, "timeout": 2},
        }
    }
    with django_capture_on_commit_callbacks(execute=True):
        email = _email()
    email.refresh_from_db()
    assert email.status == EmailStatus.QUEUED and email.last_error and email.next_attempt_at
    text = viewer_client.get(_url("email_list")).text
    assert email.last_error.split(":")[0] in text
    assert email.next_attempt_at.strftime("%Y-%m-%d %H:%M") in text


@pytest.mark.parametrize("status", ["queued", "sent", "failed"])
def test_the_status_filter_shows_only_messages_in_that_status(viewer_client, status):
    _email(source="queued-one")
    _email(source="sent-one", status=EmailStatus.SENT, sent_at=timezone.now())
    _failed(source="failed-one")
    text = viewer_client.get(_url("email_list"), {"status": status}).text
    for other in ["queued", "sent", "failed"]:
        assert (f"{other}-one" in text) == (other == status)


def test_an_unknown_status_is_reported_and_ignored(viewer_client):
    _email()
    response = viewer_client.get(_url("email_list"), {"status": "bounced"})
    assert response.status_code == 200
    assert "The filter was ignored." in response.text and _rows(response) == 1


def test_search_finds_messages_by_recipient_subject_or_source(viewer_client):
    _email(to=["ada@example.com"], source="dunning")
    _email(to=["bob@example.com"], source="welcome")
    for q, expected in [("ADA@", "dunning"), ("welcome", "welcome"), ("test email", None)]:
        response = viewer_client.get(_url("email_list"), {"q": q})
        if expected:
            assert _rows(response) == 1 and expected in response.text, q
        else:
            assert _rows(response) == 2, q
    assert "No emails match this search." in viewer_client.get(_url("email_list"), {"q": "nobody"}).text


def test_the_log_is_paginated_with_a_bounded_number_of_queries(viewer_client, django_assert_max_num_queries):
    for n in range(30):
        _email(to=[f"user{n}@example.com"])
    with django_assert_max_num_queries(6):
        first = viewer_client.get(_url("email_list"))
    assert _rows(first) == 25 and "page 1 of 2" in first.text
    assert _rows(viewer_client.get(_url("email_list"), {"page": "2"})) == 5


def test_an_htmx_filter_gets_only_the_results(viewer_client):
    _email()
    response = viewer_client.get(_url("email_list"), {"status": "queued"}, headers={"HX-Request": "true"})
    assert 'id="results"' in response.text and "<html" not in response.text


def test_the_detail_shows_the_text_and_the_html_only_escaped_or_sandboxed(viewer_client):
    email = _email()
    OutboundEmail.objects.filter(pk=email.pk).update(html_body='<p onclick="x()">Hi</p><script>alert("pwned")</script>')
    response = viewer_client.get(_url("email_detail", email.public_id))
    text = response.text
    assert response.status_code == 200
    assert "This is a test email from Relance." in text  # the text version
    assert "<script>alert" not in text and 'onclick="x()"' not in text
    frame = _url("email_html", email.public_id)
    assert re.search(rf'<iframe class="email-frame" sandbox="" [^>]*src="{frame}"', text)
    framed = viewer_client.get(frame)  # served with its own policy: sandboxed, no script at all
    assert "sandbox" in framed["Content-Security-Policy"] and "default-src 'none'" in framed["Content-Security-Policy"]
    assert "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;" in text


def test_a_viewer_sees_a_failed_message_but_cannot_send_it_again(viewer_client):
    email = _failed()
    page = viewer_client.get(_url("email_detail", email.public_id))
    assert "SMTPServerDisconnected" in page.text and "Send again" not in page.text
    assert viewer_client.post(_url("email_resend", email.public_id)).status_code == 403
    email.refresh_from_db()
    assert email.status == EmailStatus.FAILED


def test_an_editor_sends_a_failed_message_again(editor_client, django_capture_on_commit_callbacks):
    email = _failed()
    assert "Send again" in editor_client.get(_url("email_detail", email.public_id)).text
    with django_capture_on_commit_callbacks(execute=True):
        response = editor_client.post(_url("email_resend", email.public_id))
    assert response.status_code == 302 and response["Location"] == _url("email_detail", email.public_id)
    email.refresh_from_db()
    assert email.status == EmailStatus.SENT and email.failed_at is None
    [message] = mail.outbox
    assert message.to == ["ada@example.com"] and message.subject == "Relance test email for Ada"
    assert "queued to be sent again" in editor_client.get(response["Location"]).text


def test_a_message_that_was_sent_is_not_sent_twice(editor_client, django_capture_on_commit_callbacks):
    email = _email(status=EmailStatus.SENT, sent_at=timezone.now())
    assert "Send again" not in editor_client.get(_url("email_detail", email.public_id)).text
    with django_capture_on_commit_callbacks(execute=True):
        response = editor_client.post(_url("email_resend", email.public_id))
    assert response.status_code == 302
    assert mail.outbox == []
    assert "only a failed one is sent again" in editor_client.get(response["Location"]).text


def test_unknown_messages_and_wrong_methods_are_refused(editor_client):
    email = _failed()
    assert editor_client.get(_url("email_detail", "em_nope")).status_code == 404
    assert editor_client.post(_url("email_resend", "em_nope")).status_code == 404
    assert editor_client.get(_url("email_resend", email.public_id)).status_code == 405
    assert editor_client.post(_url("email_list")).status_code == 405
    assert editor_client.post(_url("email_detail", email.public_id)).status_code == 405


def test_a_visitor_who_is_not_logged_in_is_sent_to_the_login_page(client):
    response = client.get(_url("email_list"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
