"""Sending a worker's batch of emails together (send_many): claimed in one query, sent over one
mail connection, each recorded as it goes out; a refused one is retried later on its own."""

from datetime import UTC, datetime, timedelta
from smtplib import SMTPRecipientsRefused

import pytest
import time_machine
from aiosmtpd.controller import Controller
from django.core import mail
from django.core.mail.backends import locmem
from django.utils import timezone

from notifications import email as emails
from notifications.models import EmailStatus, OutboundEmail
from tests.notifications.test_email import _free_port, _smtp_at

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
REFUSED = "bounce@customer.example"


class MailServer(locmem.EmailBackend):
    """The locmem outbox behind a mail server that counts the connections made to it and refuses
    one recipient (as an SMTP server answers 550 to RCPT TO)."""

    connections = 0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        type(self).connections += 1

    def send_messages(self, messages):
        for message in messages:
            if REFUSED in message.to:
                raise SMTPRecipientsRefused({REFUSED: (550, b"5.1.1 mailbox unavailable")})
        return super().send_messages(messages)


@pytest.fixture
def mail_server(settings):
    settings.MAILERS = {"default": {"BACKEND": f"{__name__}.MailServer"}}
    MailServer.connections = 0
    return MailServer


def _queued(*recipients: str) -> list[OutboundEmail]:
    """Recorded and due, with no send task of their own (as a batch of steps records them)."""
    with emails.sending_later():
        return [
            emails.send_templated_email(to=[to], template="emails/test_message", context={"name": to})
            for to in recipients
        ]


def _row(email: OutboundEmail) -> tuple:
    email.refresh_from_db()
    return (
        email.status,
        email.attempt_count,
        email.claimed_until,
        email.next_attempt_at,
        email.sent_at,
        email.last_error,
    )


def test_a_batch_sends_every_due_email_over_one_connection_and_records_each_as_sent(mail_server):
    with time_machine.travel(NOW, tick=False):
        batch = _queued("ada@relance.example", "grace@relance.example", "alan@relance.example")
        assert emails.send_many([email.pk for email in batch]) == 3
    assert [message.to for message in mail.outbox] == [[email.recipients[0]] for email in batch]
    assert [message.extra_headers["X-Relance-Message"] for message in mail.outbox] == [e.public_id for e in batch]
    assert mail_server.connections == 1
    for email in batch:
        assert _row(email) == (EmailStatus.SENT, 1, None, None, NOW, "")


def test_a_refused_email_is_retried_later_with_its_error_and_does_not_stop_the_others(mail_server):
    with time_machine.travel(NOW, tick=False):
        first, refused, last = _queued("ada@relance.example", REFUSED, "grace@relance.example")
        assert emails.send_many([first.pk, refused.pk, last.pk]) == 2
    assert [message.to for message in mail.outbox] == [["ada@relance.example"], ["grace@relance.example"]]
    assert mail_server.connections == 1
    assert _row(first) == _row(last) == (EmailStatus.SENT, 1, None, None, NOW, "")
    status, attempts, claimed_until, next_attempt_at, sent_at, error = _row(refused)
    assert (status, attempts, claimed_until, sent_at) == (EmailStatus.QUEUED, 1, None, None)
    assert next_attempt_at == NOW + emails.RETRY_DELAYS[0]
    assert error.startswith("SMTPRecipientsRefused") and REFUSED in error


def test_a_refused_email_on_its_last_try_is_marked_failed(mail_server):
    [email] = _queued(REFUSED)
    OutboundEmail.objects.filter(pk=email.pk).update(attempt_count=len(emails.RETRY_DELAYS))
    assert emails.send_many([email.pk]) == 0
    email.refresh_from_db()
    assert email.status == EmailStatus.FAILED and email.failed_at is not None and email.next_attempt_at is None
    assert email.attempt_count == len(emails.RETRY_DELAYS) + 1
    assert "SMTPRecipientsRefused" in email.last_error


def test_emails_not_queued_not_due_or_claimed_by_another_worker_are_left_alone(mail_server):
    with time_machine.travel(NOW, tick=False):
        due, sent, failed, later, claimed = _queued(*(f"{name}@relance.example" for name in "abcde"))
        OutboundEmail.objects.filter(pk=sent.pk).update(status=EmailStatus.SENT, sent_at=NOW, next_attempt_at=None)
        OutboundEmail.objects.filter(pk=failed.pk).update(status=EmailStatus.FAILED, failed_at=NOW)
        OutboundEmail.objects.filter(pk=later.pk).update(next_attempt_at=NOW + timedelta(minutes=5), attempt_count=1)
        OutboundEmail.objects.filter(pk=claimed.pk).update(claimed_until=NOW + emails.LEASE, attempt_count=1)
        others = [sent, failed, later, claimed]
        before = [_row(email) for email in others]
        assert emails.send_many([due.pk, *(email.pk for email in others)]) == 1
    assert [message.to for message in mail.outbox] == [["a@relance.example"]]
    assert _row(due)[0] == EmailStatus.SENT
    assert [_row(email) for email in others] == before


def test_an_email_whose_claim_ran_out_is_sent_by_the_batch(mail_server):
    with time_machine.travel(NOW, tick=False):
        [email] = _queued("ada@relance.example")
        # Claimed by a worker that died: its lease ran out a second ago.
        OutboundEmail.objects.filter(pk=email.pk).update(claimed_until=NOW - timedelta(seconds=1), attempt_count=1)
        assert emails.send_many([email.pk]) == 1
    assert _row(email) == (EmailStatus.SENT, 2, None, None, NOW, "")
    assert len(mail.outbox) == 1


def test_a_batch_with_nothing_to_send_connects_to_no_mail_server(mail_server):
    [sent] = _queued("ada@relance.example")
    OutboundEmail.objects.filter(pk=sent.pk).update(status=EmailStatus.SENT)
    assert emails.send_many([]) == 0
    assert emails.send_many([sent.pk]) == 0
    assert mail_server.connections == 0 and mail.outbox == []


class _Sessions:
    """An SMTP server's view: one EHLO per session, the messages received."""

    def __init__(self):
        self.sessions = 0
        self.messages = []

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 Message accepted"


def test_a_batch_reaches_a_real_smtp_server_in_one_session(settings):
    server = _Sessions()
    port = _free_port()
    controller = Controller(server, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        _smtp_at(settings, port)
        batch = _queued("ada@relance.example", "grace@relance.example", "alan@relance.example")
        assert emails.send_many([email.pk for email in batch]) == 3
    finally:
        controller.stop()
    assert len(server.messages) == 3
    assert server.sessions == 1


def test_a_batch_whose_mail_server_is_down_is_retried_later_with_the_error_on_each_email(settings):
    _smtp_at(settings, _free_port())  # nothing listens there
    batch = _queued("ada@relance.example", "grace@relance.example")
    assert emails.send_many([email.pk for email in batch]) == 0
    for email in OutboundEmail.objects.filter(pk__in=[e.pk for e in batch]):
        assert email.status == "queued" and email.attempt_count == 1 and email.claimed_until is None
        assert "ConnectionRefusedError" in email.last_error and email.next_attempt_at > timezone.now()
