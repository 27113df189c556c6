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

`deliver_many` does the same for many deliveries at once: a receiver's answer time is spent
waiting, so one worker keeps up to CONCURRENCY requests in flight on a thread pool, while
claiming and recording stay in the worker's own thread (the pool threads never touch the
database).
"""

import contextvars
import functools
import random
import ssl
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import certifi
import httpx
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q

from billing import clock
from notifications import queue
from notifications.backoff import doubling_wait
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
# Requests in flight per worker process (settings.WEBHOOK_CONCURRENCY, if set): 300 deliveries/s to
# receivers answering in 50 ms need 15 in flight; a worker also has up to as many again claimed.
CONCURRENCY = 16
DRAIN_SECONDS = 10  # a task stops taking more after this; in-flight work ends well within django-q2's timeout


@dataclass(frozen=True)
class Outcome:
    succeeded: bool
    status_code: int | None = None
    excerpt: str = ""
    error: str = ""
    duration_ms: int = 0


def retry_delay(attempt: int, rng: random.Random | None = None) -> timedelta:
    """Exponential backoff with ±20 % jitter: 30 s, 1 min, 2 min … capped at 6 h."""
    base = doubling_wait(FIRST_RETRY, attempt, longest=MAX_RETRY_DELAY)
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


def send(delivery: WebhookDelivery, clients: "Clients | None" = None) -> Outcome:
    """Check, sign and POST one delivery. No database access: it runs on deliver_many's threads."""
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
        response = post(target, delivery.body.encode(), headers, clients)
    except httpx.TimeoutException:
        return Outcome(False, error="Timed out", duration_ms=_ms(started))
    except httpx.HTTPError as exc:
        return Outcome(False, error=f"{type(exc).__name__}: {exc}"[:500], duration_ms=_ms(started))
    code = response.status_code
    ok = 200 <= code < 300
    error = "" if ok else f"Answered HTTP {code}" + (" (redirects are not followed)" if 300 <= code < 400 else "")
    return Outcome(ok, code, response.text[:EXCERPT], error, _ms(started))


def post(target: Target, body: bytes, headers: dict[str, str], clients: "Clients | None" = None) -> httpx.Response:
    """POST to the checked address, with the endpoint's host name for Host, SNI and the certificate."""
    address = f"[{target.address}]" if ":" in target.address else target.address
    default_port = 443 if target.scheme == "https" else 80
    host_header = target.host if target.port == default_port else f"{target.host}:{target.port}"
    url = f"{target.scheme}://{address}:{target.port}{target.path}"
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    with (clients or Clients()).client(target) as client:
        return client.post(url, content=body, headers={**headers, "Host": host_header}, extensions=extensions)


@functools.lru_cache(maxsize=8)
def _ssl_context(cafile: str) -> ssl.SSLContext:
    # Loading a CA bundle costs ~30 ms of CPU (more than the rest of a delivery): once per process.
    return ssl.create_default_context(cafile=cafile)


class Clients:
    """HTTP clients for a batch of deliveries, one per checked destination, reused across its requests.

    A client's pooled connections are keyed by the address it connects to, so clients are kept
    apart by host name too: a TLS connection set up (SNI, certificate) for one host name is never
    reused for another name that happens to resolve to the same address. Without `keep` (a single
    delivery), each request gets a client of its own, closed after it.
    """

    def __init__(self, *, keep: bool = False) -> None:
        self.keep = keep
        self._clients: dict[tuple[str, str, str, int], httpx.Client] = {}
        self._lock = threading.Lock()

    def _new(self) -> httpx.Client:
        cafile = settings.WEBHOOK_CA_BUNDLE or certifi.where()
        return httpx.Client(
            timeout=httpx.Timeout(settings.WEBHOOK_TIMEOUT_SECONDS), follow_redirects=False, trust_env=False,
            verify=_ssl_context(cafile), limits=httpx.Limits(max_connections=_concurrency()),
        )  # fmt: skip

    @contextmanager
    def client(self, target: Target) -> Iterator[httpx.Client]:
        if not self.keep:
            with self._new() as client:
                yield client
            return
        key = (target.scheme, target.host, target.address, target.port)
        with self._lock:
            if key not in self._clients:
                self._clients[key] = self._new()
            client = self._clients[key]
        yield client

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()


def record(delivery: WebhookDelivery, outcome: Outcome, *, started_at: datetime) -> DeliveryAttempt:
    """Log the attempt and decide what comes next, releasing the claim."""
    [attempt] = record_many([(delivery, outcome, started_at)])
    return attempt


def record_many(results: list[tuple[WebhookDelivery, Outcome, datetime]]) -> list[DeliveryAttempt]:
    """Log attempts (delivery, outcome, started at) in one transaction, releasing their claims.

    Successes with the same status code are closed by one UPDATE; each failure gets its own
    next attempt time (the backoff has jitter), or is marked failed past its retry window.
    """
    now = clock.now()
    succeeded: dict[int | None, list[int]] = {}
    with transaction.atomic():
        attempts = DeliveryAttempt.objects.bulk_create(
            DeliveryAttempt(
                delivery=delivery,
                number=delivery.attempt_count,
                started_at=started_at,
                duration_ms=outcome.duration_ms,
                status_code=outcome.status_code,
                response_excerpt=outcome.excerpt,
                error=outcome.error,
                succeeded=outcome.succeeded,
            )  # fmt: skip
            for delivery, outcome, started_at in results
        )
        for delivery, outcome, _ in results:
            if outcome.succeeded:
                succeeded.setdefault(outcome.status_code, []).append(delivery.pk)
                continue
            fields = {"claimed_until": None, "last_status_code": outcome.status_code, "last_error": outcome.error}
            next_at = now + retry_delay(delivery.attempt_count)
            if next_at > delivery.retry_until:
                fields |= {"status": DeliveryStatus.FAILED, "failed_at": now, "next_attempt_at": None}
            else:
                fields["next_attempt_at"] = next_at
            WebhookDelivery.objects.filter(pk=delivery.pk).update(**fields)
        for code, pks in succeeded.items():
            WebhookDelivery.objects.filter(pk__in=pks).update(
                claimed_until=None, last_status_code=code, last_error="",
                status=DeliveryStatus.SUCCEEDED, delivered_at=now, next_attempt_at=None,
            )  # fmt: skip
    return attempts


def _due(now: datetime):
    return WebhookDelivery.objects.filter(
        status=DeliveryStatus.PENDING, next_attempt_at__lte=now, endpoint__enabled=True
    ).filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))


def due_delivery_ids(limit: int = 500) -> list[int]:
    return list(_due(clock.now()).order_by("next_attempt_at").values_list("pk", flat=True)[:limit])


def claim_many(limit: int, *, among: Iterable[int] | None = None) -> list[WebhookDelivery]:
    """Claim up to `limit` due deliveries (only `among` these ids, if given), loaded with their endpoints.

    The candidate rows are locked with SKIP LOCKED, so workers claiming at the same time take
    disjoint sets without waiting for each other, and PostgreSQL re-checks the conditions on
    each row it locks. Holding those locks, one conditional UPDATE takes them all for a lease
    and counts their attempts; the claim commits as one transaction. A database without row
    locks (SQLite) takes each row with `claim`'s own conditional UPDATE instead.
    """
    now = clock.now()
    candidates = _due(now).select_related("endpoint").select_for_update(skip_locked=True, of=("self",))
    if among is not None:
        candidates = candidates.filter(pk__in=list(among))
    with transaction.atomic():
        locked = list(candidates.order_by("next_attempt_at")[:limit])
        if not connection.features.has_select_for_update_skip_locked:
            claimed = [delivery for delivery in locked if claim(delivery.pk, now)]
        elif locked:
            claimed = locked
            taken = (
                WebhookDelivery.objects.filter(pk__in=[d.pk for d in locked], status=DeliveryStatus.PENDING)
                .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now), next_attempt_at__lte=now)
                .update(claimed_until=now + LEASE, attempt_count=F("attempt_count") + 1)
            )
            if taken != len(locked):  # cannot happen while the rows are locked; claim nothing then
                raise RuntimeError(f"Claimed {taken} of {len(locked)} locked webhook deliveries")
        else:
            claimed = []
    for delivery in claimed:
        delivery.attempt_count += 1
        delivery.claimed_until = now + LEASE
    return claimed


def deliver_many(delivery_ids: Iterable[int] = (), *, drain: bool = True, seconds: float = DRAIN_SECONDS) -> int:
    """Send these deliveries and, with `drain`, whatever else is due; return how many attempts were made.

    1. Claim a batch (the given ids first) and hand it to a pool of CONCURRENCY threads, which
       check, sign and POST (no database access there).
    2. As attempts finish, record them here, every finished one of a round in one transaction:
       each attempt is recorded exactly once, by the worker that claimed it.
    3. When half the threads are free, claim more: never more than 2 × CONCURRENCY claimed and
       unfinished, so each claimed delivery starts within one HTTP timeout, well inside its lease.
    4. Stop claiming when nothing is due or after `seconds`; wait for the requests in flight.
    """
    concurrency = _concurrency()
    wanted = list(delivery_ids)
    deadline = time.monotonic() + seconds
    attempts = 0
    clients = Clients(keep=True)
    in_flight: dict[Future, WebhookDelivery] = {}
    exhausted = False
    try:
        with ThreadPoolExecutor(concurrency, thread_name_prefix="webhook") as pool:
            while True:
                room = 2 * concurrency - len(in_flight)
                if not exhausted and len(in_flight) <= concurrency:
                    batch = claim_many(room, among=wanted) if wanted else []
                    wanted = []
                    if drain and len(batch) < room and time.monotonic() < deadline:
                        batch += claim_many(room - len(batch))
                    exhausted = not drain or not batch or time.monotonic() >= deadline
                    for delivery in batch:
                        # The pool's threads start with an empty context: give them this one (the clock's).
                        run = contextvars.copy_context().run
                        in_flight[pool.submit(run, _attempt, delivery, clients)] = delivery
                if not in_flight:
                    break
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                finished = [(in_flight.pop(future), *future.result()) for future in done]
                record_many(finished)
                attempts += len(finished)
    finally:
        clients.close()  # the pool has waited for its threads by now
    return attempts


def _concurrency() -> int:
    return getattr(settings, "WEBHOOK_CONCURRENCY", CONCURRENCY)


def _attempt(delivery: WebhookDelivery, clients: Clients) -> tuple[Outcome, datetime]:
    started_at = clock.now()
    try:
        return send(delivery, clients), started_at
    except Exception as exc:  # recorded and retried like any failure, not left to the lease of the whole batch
        return Outcome(False, error=f"{type(exc).__name__}: {exc}"[:500]), started_at


def deliver_due() -> int:
    """The sweep: attempt every delivery that is due (new, to retry, or left by a dead worker)."""
    return deliver_many()


def resend(delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again now, by hand, with the same event id (after success or failure too).

    It gets a new 3-day retry window. An attempt in progress keeps its claim: the resend goes
    out after it, never beside it.
    """
    now = clock.now()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.PENDING, next_attempt_at=now, failed_at=None, retry_until=now + RETRY_WINDOW
    )
    queue.enqueue_delivery(delivery.pk)
    delivery.refresh_from_db()
    return delivery


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
