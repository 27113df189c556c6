"""Templated email: rendered once, recorded, sent by a worker, retried with backoff on errors.

A message is a row first (in the caller's transaction), so an SMTP outage loses nothing: the
send is retried on a growing delay and, after the last try, the message is marked failed and
shown as such in the email log.
"""

import logging
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from email import policy as mail_policy
from email.headerregistry import HeaderRegistry

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, mailers
from django.db import connection, transaction
from django.db.models import F, Q
from django.template.loader import get_template

from billing import clock
from notifications import queue
from notifications.models import EmailStatus, OutboundEmail

logger = logging.getLogger(__name__)

LEASE = timedelta(seconds=90)
RETRY_DELAYS = [timedelta(minutes=m) for m in (1, 5, 15, 60, 180, 360, 720)]  # then failed

_send_later: ContextVar[list[int] | None] = ContextVar("send_later", default=None)


@contextmanager
def sending_later():
    """Within it, a recorded message gets no send task: once its transaction commits, its id is
    added to the list this yields, and the caller sends them (`send`) when it is done, saving a
    task per message. One the caller never sends (its worker died) is sent by the sweep."""
    ids: list[int] = []
    token = _send_later.set(ids)
    try:
        yield ids
    finally:
        _send_later.reset(token)


def send_templated_email(
    *,
    to: list[str],
    template: str,
    context: dict,
    source: str = "",
    idempotency_key: str | None = None,
    from_email: str | None = None,
    test_clock: str | None = None,
) -> OutboundEmail:
    """Render `<template>_subject.txt`, `.txt` and `.html`, record the message, and queue it.

    A message about an object on a test clock (`test_clock`: the clock's id) is recorded as
    simulated, at the clock's time, and never sent over SMTP.

    With an `idempotency_key` already used, the existing message is returned and nothing new
    is sent (an automation step that runs twice sends one email).
    """
    message = Message(to, template, context, source, idempotency_key, from_email, test_clock)
    return send_templated_emails([message])[0]


@dataclass
class Message:
    """One email to render and record (`send_templated_emails`)."""

    to: list[str]
    template: str
    context: dict
    source: str = ""
    idempotency_key: str | None = None
    from_email: str | None = None
    test_clock: str | None = None


def send_templated_emails(messages: list[Message]) -> list[OutboundEmail]:
    """`send_templated_email` for many messages at once (a batch of automation steps): each
    template is looked up once and rendered with each message's context, the messages are
    recorded with one insert, and one query finds those whose `idempotency_key` was used
    already (their existing message is returned instead). Returns one message per given one."""
    if any(not message.to for message in messages):
        raise ValueError("An email needs at least one recipient")
    keys = [message.idempotency_key for message in messages if message.idempotency_key]
    existing = {email.idempotency_key: email for email in OutboundEmail.objects.filter(idempotency_key__in=keys)}
    templates: dict[str, object] = {}

    def render(name: str, context: dict) -> str:
        if name not in templates:
            templates[name] = get_template(name)
        return templates[name].render(context)

    now = clock.now()
    emails, new = [], []
    for message in messages:
        if message.idempotency_key in existing:
            emails.append(existing[message.idempotency_key])
            continue
        template, context = message.template, message.context
        subject = " ".join(render(f"{template}_subject.txt", context).split())
        email = OutboundEmail(
            idempotency_key=message.idempotency_key, source=message.source[:200], template=template,
            from_email=message.from_email or settings.DEFAULT_FROM_EMAIL, recipients=list(message.to),
            subject=subject[:300], text_body=render(f"{template}.txt", context),
            html_body=render(f"{template}.html", context), status=EmailStatus.QUEUED, next_attempt_at=now,
            created=now, test_clock_id=message.test_clock,
        )  # fmt: skip
        if message.test_clock:
            email.status, email.next_attempt_at = EmailStatus.SIMULATED, None
        emails.append(email)
        new.append(email)
        if message.idempotency_key:
            existing[message.idempotency_key] = email  # the same key twice in one call: one message
    with transaction.atomic(savepoint=False):  # the caller's transaction if any
        OutboundEmail.objects.bulk_create(new)
        queued = [email.pk for email in new if email.status == EmailStatus.QUEUED]
        if queued and (later := _send_later.get()) is not None:
            transaction.on_commit(lambda: later.extend(queued))
        else:
            for email_id in queued:
                queue.enqueue_email(email_id)
    return emails


@contextmanager
def _unflushed():
    """Within it, the sender's own records (claims, "sent" marks) commit without waiting for
    the disk (PostgreSQL's `synchronous_commit` off for this session until the block ends): a
    flush costs milliseconds, more than the statement, once per message. What a database crash
    may forget is the last of these marks: a message is then sent once more, as when a worker
    dies between sending a message and recording it."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO OFF")
    try:
        yield
    finally:
        with suppress(Exception), connection.cursor() as cursor:  # a lost connection is replaced anyway
            cursor.execute("RESET synchronous_commit")


def claim(email_id: int, now) -> bool:
    claimable = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    taken = (
        OutboundEmail.objects.filter(pk=email_id, status=EmailStatus.QUEUED, next_attempt_at__lte=now)
        .filter(claimable)
        .update(claimed_until=now + LEASE, attempt_count=F("attempt_count") + 1)
    )
    return taken == 1


class _HeaderClasses(HeaderRegistry):
    """The standard header registry, but each header's class made once: the standard one makes
    a new class for every header of every message (a fifth of building a message)."""

    def __init__(self):
        super().__init__()
        self._made: dict[str, type] = {}

    def __getitem__(self, name: str) -> type:
        key = name.lower()
        if (made := self._made.get(key)) is None:
            made = self._made[key] = super().__getitem__(name)
        return made


# The policies Django's mail backends build messages with, each with its header classes made once.
_POLICIES = {
    policy: policy.clone(header_factory=_HeaderClasses()) for policy in (mail_policy.default, mail_policy.SMTP)
}


class _Alternatives(EmailMultiAlternatives):
    def message(self, *, policy=mail_policy.default):
        return super().message(policy=_POLICIES.get(policy, policy))


def _message(email: OutboundEmail, connection=None) -> EmailMultiAlternatives:
    message = _Alternatives(
        subject=email.subject, body=email.text_body, from_email=email.from_email, to=email.recipients,
        headers={"X-Relance-Message": email.public_id}, connection=connection,
    )  # fmt: skip
    if email.html_body:
        message.attach_alternative(email.html_body, "text/html")
    return message


def _sent(email: OutboundEmail) -> None:
    # One statement per message sent, written by hand: the ORM's building of it cost more than
    # the database's work (bench: due_steps, a third of whose steps send an email).
    table = connection.ops.quote_name(OutboundEmail._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET status = %s, sent_at = %s, claimed_until = NULL, next_attempt_at = NULL, "
            "last_error = '' WHERE id = %s",
            [EmailStatus.SENT.value, clock.now(), email.pk],
        )


def send(email_id: int) -> bool | None:
    """Try to send one queued message. True if sent, False if it failed this time, None if not ours."""
    with _unflushed():
        return _send(email_id)


def _send(email_id: int) -> bool | None:
    now = clock.now()
    if not claim(email_id, now):
        return None
    email = OutboundEmail.objects.get(pk=email_id)
    try:
        _message(email).send()
    except Exception as exc:  # SMTP errors, refused connections, timeouts: all retried
        _not_sent(email, exc)
        return False
    _sent(email)
    return True


def send_many(email_ids: list[int]) -> int:
    """Send queued messages together (a worker's batch of steps): claimed in one query, sent over
    one connection to the mail server, each recorded as sent right after it went out (so a worker
    that dies repeats at most the one message it was sending). Returns how many were sent."""
    if not email_ids:
        return 0
    with _unflushed():
        return _send_many(email_ids)


def _send_many(email_ids: list[int]) -> int:
    now = clock.now()
    with transaction.atomic():
        emails = list(
            OutboundEmail.objects.filter(pk__in=email_ids, status=EmailStatus.QUEUED, next_attempt_at__lte=now)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
            .select_for_update(skip_locked=True)
            .order_by("pk")
        )
        OutboundEmail.objects.filter(pk__in=[email.pk for email in emails]).update(
            claimed_until=now + LEASE, attempt_count=F("attempt_count") + 1
        )
    if not emails:
        return 0
    for email in emails:
        email.attempt_count += 1
    connection = mailers.default
    try:
        connection.open()  # one session for the batch (send() would open and close one per message)
    except Exception as exc:  # the mail server is down: every message is retried later
        for email in emails:
            _not_sent(email, exc)
        return 0
    sent = 0
    try:
        for email in emails:
            try:
                _message(email, connection).send()
            except Exception as exc:  # SMTP errors, refused recipients, timeouts: all retried
                _not_sent(email, exc)
                continue
            _sent(email)
            sent += 1
    finally:
        with suppress(Exception):
            connection.close()
    return sent


def _not_sent(email: OutboundEmail, exc: Exception) -> None:
    logger.warning("email %s not sent (attempt %s): %s", email.public_id, email.attempt_count, exc)
    _failed(email, f"{type(exc).__name__}: {exc}"[:500])


def _failed(email: OutboundEmail, error: str) -> None:
    now = clock.now()
    fields = {"claimed_until": None, "last_error": error}
    if email.attempt_count > len(RETRY_DELAYS):
        fields |= {"status": EmailStatus.FAILED, "failed_at": now, "next_attempt_at": None}
    else:
        fields["next_attempt_at"] = now + RETRY_DELAYS[email.attempt_count - 1]
    OutboundEmail.objects.filter(pk=email.pk).update(**fields)


def send_due(limit: int = 500) -> int:
    """The sweep: send every queued message that is due (new, to retry, or left by a dead worker)."""
    now = clock.now()
    ids = list(
        OutboundEmail.objects.filter(status=EmailStatus.QUEUED, next_attempt_at__lte=now)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(1 for email_id in ids if send(email_id) is not None)


def resend(email: OutboundEmail) -> OutboundEmail:
    """Queue a failed message again, now. Sent, queued and simulated (test clock) messages are left alone."""
    OutboundEmail.objects.filter(pk=email.pk, status=EmailStatus.FAILED).update(
        status=EmailStatus.QUEUED, next_attempt_at=clock.now(), failed_at=None, claimed_until=None
    )
    queue.enqueue_email(email.pk)
    email.refresh_from_db()
    return email
