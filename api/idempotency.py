"""`Idempotency-Key` on POST requests, as Stripe does it.

1. The first request with a key claims it (a row with no status yet) before it runs.
2. A repeat with the same key, method, path and parameters gets the first response again, with the
   header `Idempotent-Replayed: true`; while the first is still running it gets 409 (the SDK retries).
3. The same key with other parameters is refused: 400 `idempotency_error`.
4. Only a response that changed something is kept: a success, or a declined payment (402: the
   attempt is recorded). Any other refusal changed nothing, so the key is released and a corrected
   request may use it, as Stripe does for requests that fail validation. Keys expire after 24 hours
   (an expired row is replaced; `idempotency_purge` deletes them in bulk).
"""

import hashlib
import json
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.utils import timezone

from api.encoding import params
from api.errors import StripeError
from api.models import ApiKey, IdempotentRequest

LIFETIME = timedelta(hours=24)
MAX_KEY_LENGTH = 255
KEPT_REFUSALS = {402}  # a declined payment is an outcome: its attempt is recorded


def _kept(status: int) -> bool:
    return status < 400 or status in KEPT_REFUSALS


def fingerprint(request) -> str:
    canonical = json.dumps([request.method, request.path, params(request)], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _claim(api_key: ApiKey, key: str, request, digest: str) -> IdempotentRequest | None:
    """Claim the key (None) or return the request that holds it."""
    now = timezone.now()
    for _ in range(2):
        try:
            with transaction.atomic():
                IdempotentRequest.objects.create(
                    api_key=api_key, key=key, method=request.method, path=request.path[:500],
                    fingerprint=digest, created=now,
                )  # fmt: skip
            return None
        except IntegrityError:
            held = IdempotentRequest.objects.filter(api_key=api_key, key=key).first()
            if held is None:
                continue  # released meanwhile: claim again
            if held.created <= now - LIFETIME:
                IdempotentRequest.objects.filter(pk=held.pk, created=held.created).delete()
                continue
            return held
    raise StripeError(409, "invalid_request_error", "This idempotency key is being used by another request.")


def idempotent(request, api_key: ApiKey, call) -> HttpResponse:
    """Run `call()` once per idempotency key (see the module's docstring)."""
    key = request.headers.get("Idempotency-Key", "")
    if request.method != "POST" or not key:
        return call()
    if len(key) > MAX_KEY_LENGTH or "\x00" in key:
        raise StripeError(
            400, "invalid_request_error", f"Idempotency-Key has at most {MAX_KEY_LENGTH} characters.",
            param="Idempotency-Key",
        )  # fmt: skip
    digest = fingerprint(request)
    held = _claim(api_key, key, request, digest)
    if held is not None:
        if held.fingerprint != digest or held.method != request.method or held.path != request.path[:500]:
            raise StripeError(
                400, "idempotency_error",
                "Keys for idempotent requests can only be used with the same parameters they were first used "
                f"with. Try using a key other than '{key}' if you meant to execute a different request.",
            )  # fmt: skip
        if held.status is None:
            raise StripeError(
                409, "invalid_request_error",
                "There is currently another in-progress request using this Idempotency-Key. Retry later.",
            )  # fmt: skip
        replay = HttpResponse(held.body, status=held.status, content_type="application/json")
        replay["Idempotent-Replayed"] = "true"
        replay["Idempotency-Key"] = key
        return replay
    try:
        response = call()
    except BaseException:
        IdempotentRequest.objects.filter(api_key=api_key, key=key).delete()
        raise
    if not _kept(response.status_code) or getattr(response, "streaming", False):
        IdempotentRequest.objects.filter(api_key=api_key, key=key).delete()
    else:
        IdempotentRequest.objects.filter(api_key=api_key, key=key).update(
            status=response.status_code, body=response.content.decode()
        )
    response["Idempotency-Key"] = key
    return response


def idempotency_purge() -> int:
    """Delete the keys older than 24 hours; returns how many."""
    deleted, _ = IdempotentRequest.objects.filter(created__lte=timezone.now() - LIFETIME).delete()
    return deleted
