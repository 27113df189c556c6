"""API keys: creating one (the full key is returned once), recognising a bearer, revoking."""

import hashlib
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

import audit
from api.models import ApiKey, KeyKind
from billing.errors import DomainError

# A key's `last_used_at` is written at most this often (not a write per request).
LAST_USE_PRECISION = timedelta(minutes=1)


class ApiKeyError(DomainError):
    """An API key operation that cannot be done."""


@dataclass(frozen=True)
class NewKey:
    api_key: ApiKey
    secret: str  # the full key: shown once, never stored


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def api_key_create(*, name: str, read_only: bool = False, user=None) -> NewKey:
    """A new secret (`sk_…`) or restricted read-only (`rk_…`) key."""
    name = (name or "").strip()
    if not name:
        raise ApiKeyError("An API key needs a name (what uses it).")
    if len(name) > 200:
        raise ApiKeyError("An API key's name has at most 200 characters.")
    if any(unicodedata.category(char) == "Cc" for char in name):
        # PostgreSQL stores no NUL, and a tab or a line break would break the lists that show the name.
        raise ApiKeyError("An API key's name cannot contain control characters (line breaks, tabs, NUL).")
    kind = KeyKind.RESTRICTED if read_only else KeyKind.SECRET
    secret = ("rk_" if read_only else "sk_") + "test_" + secrets.token_urlsafe(32).replace("-", "x").replace("_", "y")
    with transaction.atomic():
        api_key = ApiKey.objects.create(name=name, kind=kind, hashed=digest(secret), last4=secret[-4:], created_by=user)
        audit.record(
            "api_key.created",
            api_key,
            summary=f"{api_key.get_kind_display()} key {api_key.redacted}",
            after=audit.fields(api_key, "name", "kind", "redacted"),
        )
    return NewKey(api_key, secret)


def api_key_list():
    """Every key, newest first, with who created it (revoked keys included: they say when)."""
    return ApiKey.objects.select_related("created_by")


def authenticate(secret: str) -> ApiKey | None:
    """The live key whose secret this is (its last use recorded), or None."""
    if not secret or not secret.startswith(("sk_", "rk_")) or len(secret) > 200:
        return None
    api_key = ApiKey.objects.filter(hashed=digest(secret), revoked_at__isnull=True).first()
    if api_key is None:
        return None
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at >= LAST_USE_PRECISION:
        ApiKey.objects.filter(pk=api_key.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USE_PRECISION)
        ).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key


def api_key_revoke(*, api_key: ApiKey, user=None) -> ApiKey:
    """Revoke the key: requests with it are refused from now on."""
    with transaction.atomic():
        revoked = ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        api_key.refresh_from_db()
        if revoked:  # a key revoked twice (two editors at once) is recorded once
            audit.record(
                "api_key.revoked",
                api_key,
                summary=f"{api_key.get_kind_display()} key {api_key.redacted}",
                before={"revoked_at": None},
                after=audit.fields(api_key, "revoked_at"),
            )
    return api_key
