"""Templated email: rendered, recorded, sent by the worker, retried on SMTP errors, never lost."""

import socket
from datetime import timedelta
from email import message_from_bytes

import pytest
import time_machine
from aiosmtpd.controller import Controller
from django.core import mail
from django.utils import timezone

from notifications import email as emails
from notifications.models import EmailStatus, OutboundEmail

pytestmark = pytest.mark.django_db


def _send(django_capture_on_commit_callbacks, **kwargs):
    args = {"to": ["ada@relance.example"], "template": "emails/test_message", "context": {"name": "Ada"}}
    with django_capture_on_commit_callbacks(execute=True):
        return emails.send_templated_email(**{**args, "source": "tests", **kwargs})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _smtp_at(settings, port: int) -> None:
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": port, "timeout": 5},
        }
    }


def test_an_email_is_rendered_from_its_templates_recorded_and_sent(django_capture_on_commit_callbacks):
    email = _send(django_capture_on_commit_callbacks)
    [sent] = mail.outbox
    assert sent.subject == "Relance test email for Ada"
    assert sent.to == ["ada@relance.example"]
    assert "Hello Ada," in sent.body
    [(html, mimetype)] = sent.alternatives
    assert mimetype == "text/html" and "<strong>test email</strong>" in html
    email.refresh_from_db()
    assert email.status == EmailStatus.SENT and email.sent_at is not None and email.attempt_count == 1
    assert email.source == "tests" and email.template == "emails/test_message"


def test_the_same_idempotency_key_sends_one_email(django_capture_on_commit_callbacks):
    first = _send(django_capture_on_commit_callbacks, idempotency_key="run-7-step-2")
    again = _send(django_capture_on_commit_callbacks, idempotency_key="run-7-step-2")
    assert first.pk == again.pk
    assert len(mail.outbox) == 1 and OutboundEmail.objects.count() == 1


def test_an_smtp_outage_is_retried_with_backoff_and_the_message_is_sent_when_it_ends(
    settings, django_capture_on_commit_callbacks
):
    _smtp_at(settings, _free_port())  # nothing listens there: connection refused
    email = _send(django_capture_on_commit_callbacks)
    email.refresh_from_db()
    assert email.status == EmailStatus.QUEUED and email.attempt_count == 1
    assert "Refused" in email.last_error or "refused" in email.last_error
    first_retry = email.next_attempt_at - timezone.now()
    assert timedelta(seconds=50) < first_retry <= timedelta(minutes=1)

    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    assert emails.send_due() == 0  # not due yet
    with time_machine.travel(email.next_attempt_at + timedelta(seconds=1), tick=False):
        assert emails.send_due() == 1
    email.refresh_from_db()
    assert email.status == EmailStatus.SENT and email.attempt_count == 2 and len(mail.outbox) == 1


def test_a_message_that_never_gets_through_is_marked_failed_with_its_error(
    settings, django_capture_on_commit_callbacks
):
    _smtp_at(settings, _free_port())
    email = _send(django_capture_on_commit_callbacks)
    start = timezone.now()
    for hour in range(1, 48):
        with time_machine.travel(start + timedelta(hours=hour), tick=False):
            emails.send_due()
    email.refresh_from_db()
    assert email.status == EmailStatus.FAILED and email.failed_at is not None
    assert email.attempt_count == len(emails.RETRY_DELAYS) + 1
    assert email.last_error


def test_a_failed_message_can_be_sent_again(django_capture_on_commit_callbacks):
    email = _send(django_capture_on_commit_callbacks)
    OutboundEmail.objects.filter(pk=email.pk).update(status=EmailStatus.FAILED)
    with django_capture_on_commit_callbacks(execute=True):
        emails.resend(email)
    email.refresh_from_db()
    assert email.status == EmailStatus.SENT and len(mail.outbox) == 2


def test_a_message_claimed_by_a_worker_that_died_is_sent_after_its_lease():
    email = emails.send_templated_email(to=["x@relance.example"], template="emails/test_message", context={"name": "X"})
    now = timezone.now()
    assert emails.claim(email.pk, now)  # claimed … and the worker dies
    assert emails.send_due() == 0
    with time_machine.travel(now + emails.LEASE + timedelta(seconds=1), tick=False):
        assert emails.send_due() == 1
    assert len(mail.outbox) == 1


class _Collector:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 Message accepted"


def test_a_real_smtp_server_receives_a_multipart_message(settings, django_capture_on_commit_callbacks):
    collector = _Collector()
    port = _free_port()
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        _smtp_at(settings, port)
        email = _send(django_capture_on_commit_callbacks, to=["ops@relance.example", "cfo@relance.example"])
    finally:
        controller.stop()
    [envelope] = collector.messages
    assert sorted(envelope.rcpt_tos) == ["cfo@relance.example", "ops@relance.example"]
    message = message_from_bytes(envelope.content)
    assert message["Subject"] == "Relance test email for Ada"
    assert message.is_multipart()
    parts = {p.get_content_type(): p.get_payload(decode=True).decode() for p in message.walk() if not p.is_multipart()}
    assert "Hello Ada," in parts["text/plain"]
    assert "<strong>test email</strong>" in parts["text/html"]
    email.refresh_from_db()
    assert email.status == EmailStatus.SENT
    assert message["X-Relance-Message"] == email.public_id


def test_resending_a_sent_message_sends_nothing(django_capture_on_commit_callbacks):
    email = _send(django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        emails.resend(email)
    assert len(mail.outbox) == 1
