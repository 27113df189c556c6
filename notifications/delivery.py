"""Sending webhook deliveries: claim from the database, sign, POST to the checked address, log.

1. Claim: a conditional UPDATE that must touch exactly one row takes the delivery for a lease
   (longer than the HTTP timeout) and counts the attempt; a second worker finds nothing to take.
2. Check the URL again (SSRF) and connect to the address that was checked, not a new lookup.
3. POST the stored body, signed with the endpoint's secret(s); redirects are not followed.
4. Record the attempt; a 2xx is success, anything else is retried with exponential backoff
   and jitter for up to 3 days, then the delivery is marked failed.
A worker that dies after claiming leaves the lease to expire; the sweep then tries again, with
the same event id, so receivers can deduplicate. Nothing is sent to a disabled endpoint: its
deliveries wait until it is enabled again.
"""

import random
import ssl
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q

from billing import clock
from notifications.models import DeliveryAttempt, DeliveryStatus, WebhookDelivery, WebhookEndpoint
from notifications.services.endpoints import signing_secrets
from notifications.services.events import RETRY_WINDOW
from notifications.signing import signature_header
from notifications.ssrf import Target, UnsafeURL, check_url

LEASE = timedelta(seconds=60)
FIRST_RETRY = timedelta(seconds=30)
MAX_RETRY_DELAY = timedelta(hours=6)
EXCERPT = 300
USER_AGENT = "Relance-Webhooks/1.0"


@dataclass(frozen=True)
class Outcome:
    succeeded: bool
    status_code: int | None = None
    excerpt: str = ""
    error: str = ""
    duration_ms: int = 0


def retry_delay(attempt: int, rng: random.Random | None = None) -> timedelta:
    """Exponential backoff with ±20 % jitter: 30 s, 1 min, 2 min … capped at 6 h."""
    base = min(FIRST_RETRY * 2 ** (attempt - 1), MAX_RETRY_DELAY)
    return base * (rng or random).uniform(0.8, 1.2)


def claim(delivery_id: int, now: datetime) -> bool:
    """Take a due, unclaimed delivery for one attempt. True when this worker got it.

    Every condition stays on the delivery row itself (no join), so that PostgreSQL re-checks
    them all on the row version it finally locks: a worker that waited for another's claim then
    finds the row claimed and takes nothing. (A join would make Django wrap the UPDATE in an
    `id IN (subquery)` evaluated on the old snapshot, and both workers would take it.)
    """
    claimable = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    taken = (
        WebhookDelivery.objects.filter(pk=delivery_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
        .filter(claimable, endpoint__in=WebhookEndpoint.objects.filter(enabled=True))
        .update(claimed_until=now + LEASE, attempt_count=F("attempt_count") + 1)
    )
    return taken == 1


def deliver(delivery_id: int) -> DeliveryAttempt | None:
    """Make one attempt at a delivery if it is due and no other worker holds it."""
    now = clock.now()
    if not claim(delivery_id, now):
        return None
    delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)
    outcome = send(delivery)
    return record(delivery, outcome, started_at=now)


def send(delivery: WebhookDelivery) -> Outcome:
    endpoint = delivery.endpoint
    try:
        target = check_url(endpoint.url)
    except UnsafeURL as exc:
        return Outcome(False, error=f"Refused: {exc}")
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Stripe-Signature": signature_header(signing_secrets(endpoint), timestamp, delivery.body),
    }
    started = time.monotonic()
    try:
        response = post(target, delivery.body.encode(), headers)
    except httpx.TimeoutException:
        return Outcome(False, error="Timed out", duration_ms=_ms(started))
    except httpx.HTTPError as exc:
        return Outcome(False, error=f"{type(exc).__name__}: {exc}"[:500], duration_ms=_ms(started))
    code = response.status_code
    ok = 200 <= code < 300
    error = "" if ok else f"Answered HTTP {code}" + (" (redirects are not followed)" if 300 <= code < 400 else "")
    return Outcome(ok, code, response.text[:EXCERPT], error, _ms(started))


def post(target: Target, body: bytes, headers: dict[str, str]) -> httpx.Response:
    """POST to the checked address, with the endpoint's host name for Host, SNI and the certificate."""
    address = f"[{target.address}]" if ":" in target.address else target.address
    default_port = 443 if target.scheme == "https" else 80
    host_header = target.host if target.port == default_port else f"{target.host}:{target.port}"
    url = f"{target.scheme}://{address}:{target.port}{target.path}"
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    timeout = httpx.Timeout(settings.WEBHOOK_TIMEOUT_SECONDS)
    verify = ssl.create_default_context(cafile=settings.WEBHOOK_CA_BUNDLE) if settings.WEBHOOK_CA_BUNDLE else True
    with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False, verify=verify) as client:
        return client.post(url, content=body, headers={**headers, "Host": host_header}, extensions=extensions)


def record(delivery: WebhookDelivery, outcome: Outcome, *, started_at: datetime) -> DeliveryAttempt:
    """Log the attempt and decide what comes next, releasing the claim."""
    now = clock.now()
    with transaction.atomic():
        attempt = DeliveryAttempt.objects.create(
            delivery=delivery, number=delivery.attempt_count, started_at=started_at,
            duration_ms=outcome.duration_ms, status_code=outcome.status_code,
            response_excerpt=outcome.excerpt, error=outcome.error, succeeded=outcome.succeeded,
        )  # fmt: skip
        fields = {"claimed_until": None, "last_status_code": outcome.status_code, "last_error": outcome.error}
        if outcome.succeeded:
            fields |= {"status": DeliveryStatus.SUCCEEDED, "delivered_at": now, "next_attempt_at": None}
        else:
            next_at = now + retry_delay(delivery.attempt_count)
            if next_at > delivery.retry_until:
                fields |= {"status": DeliveryStatus.FAILED, "failed_at": now, "next_attempt_at": None}
            else:
                fields["next_attempt_at"] = next_at
        WebhookDelivery.objects.filter(pk=delivery.pk).update(**fields)
    return attempt


def due_delivery_ids(limit: int = 500) -> list[int]:
    now = clock.now()
    return list(
        WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now, endpoint__enabled=True)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )


def deliver_due() -> int:
    """The sweep: attempt every delivery that is due (new, to retry, or left by a dead worker)."""
    return sum(1 for delivery_id in due_delivery_ids() if deliver(delivery_id) is not None)


def resend(delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again now, by hand, with the same event id (after success or failure too).

    It gets a new 3-day retry window. An attempt in progress keeps its claim: the resend goes
    out after it, never beside it.
    """
    from notifications.tasks import enqueue_delivery

    now = clock.now()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.PENDING, next_attempt_at=now, failed_at=None, retry_until=now + RETRY_WINDOW
    )
    enqueue_delivery(delivery.pk)
    delivery.refresh_from_db()
    return delivery


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
