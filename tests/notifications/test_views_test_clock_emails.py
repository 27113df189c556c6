"""The email log shows a test clock's emails as simulated, with the clock's badge."""

from datetime import UTC, datetime

import pytest
from django.core import mail
from django.urls import reverse

from billing.services.test_clocks import clock_create
from notifications.email import send_templated_email
from notifications.models import EmailStatus

pytestmark = pytest.mark.django_db

START = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


def _email(capture, test_clock=None):
    with capture(execute=True):
        return send_templated_email(
            to=["ada@example.com"], template="emails/test_message", context={"name": "Ada"}, source="test",
            test_clock=test_clock.public_id if test_clock else None,
        )  # fmt: skip


def test_a_clock_email_is_listed_as_simulated_with_the_clock_badge(viewer_client, django_capture_on_commit_callbacks):
    test_clock = clock_create(name="Rehearsal", frozen_time=START)
    email = _email(django_capture_on_commit_callbacks, test_clock)
    email.refresh_from_db()
    assert email.status == EmailStatus.SIMULATED
    assert mail.outbox == []
    response = viewer_client.get(reverse("notifications:email_list"))
    assert response.status_code == 200
    row = next(row for row in response.text.split("<tr") if email.public_id in row)
    assert "Simulated (test clock)" in row
    assert "Test clock: Rehearsal" in row


def test_a_real_email_has_no_clock_badge(viewer_client, django_capture_on_commit_callbacks):
    _email(django_capture_on_commit_callbacks)
    response = viewer_client.get(reverse("notifications:email_list"))
    assert "Test clock:" not in response.text
    assert "Simulated" not in response.text.split("<tbody", 1)[-1]


def test_a_clock_email_page_says_it_was_recorded_not_sent(viewer_client, django_capture_on_commit_callbacks):
    test_clock = clock_create(name="Rehearsal", frozen_time=START)
    email = _email(django_capture_on_commit_callbacks, test_clock)
    response = viewer_client.get(reverse("notifications:email_detail", args=[email.public_id]))
    assert response.status_code == 200
    assert "Simulated (test clock)" in response.text
    assert "Test clock: Rehearsal" in response.text
    assert "recorded, not sent over SMTP" in response.text


def test_the_email_log_lists_emails_on_many_clocks_without_a_query_per_row(
    viewer_client, django_capture_on_commit_callbacks
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _email(django_capture_on_commit_callbacks)
    with CaptureQueriesContext(connection) as few:
        viewer_client.get(reverse("notifications:email_list"))
    for n in range(6):
        _email(django_capture_on_commit_callbacks, clock_create(name=f"Rehearsal {n}", frozen_time=START))
    with CaptureQueriesContext(connection) as many:
        response = viewer_client.get(reverse("notifications:email_list"))
    assert response.text.count("Test clock: Rehearsal") == 6
    assert len(many.captured_queries) == len(few.captured_queries)
