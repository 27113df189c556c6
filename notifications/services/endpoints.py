"""Webhook endpoint services: create, update, enable/disable, roll the secret, delete."""

from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction

import audit
from billing import clock
from billing.errors import DomainError
from notifications.event_types import WEBHOOK_EVENT_TYPES
from notifications.models import WebhookEndpoint
from notifications.signing import new_secret
from notifications.ssrf import UnsafeURL, check_url

MAX_GRACE = timedelta(days=7)
AUDITED = ("url", "enabled_events", "description", "enabled")  # never the secrets


class EndpointError(DomainError):
    """An endpoint change that cannot be made, with a message a person understands."""


@dataclass(frozen=True)
class NewSecret:
    endpoint: WebhookEndpoint
    secret: str  # shown to the user once


def _clean(url: str, enabled_events: list[str], description: str) -> tuple[str, list[str], str]:
    url, description = url.strip(), description.strip()
    if len(description) > 300:
        raise EndpointError("The description can be at most 300 characters.")
    try:
        check_url(url)
    except UnsafeURL as exc:
        raise EndpointError(str(exc)) from None
    unknown = sorted(set(enabled_events) - set(WEBHOOK_EVENT_TYPES))
    if unknown:
        raise EndpointError(f"Unknown event type(s): {', '.join(unknown)}.")
    if not enabled_events:
        raise EndpointError("Choose at least one event type to send.")
    return url, sorted(set(enabled_events)), description


def endpoint_create(*, url: str, enabled_events: list[str], description: str = "") -> NewSecret:
    """Add an endpoint with a new signing secret (returned once, in full)."""
    url, events, description = _clean(url, enabled_events, description)
    secret = new_secret()
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.create(
            url=url, enabled_events=events, description=description, secret=secret
        )
        audit.record("webhook_endpoint.created", endpoint, after=audit.fields(endpoint, *AUDITED))
    return NewSecret(endpoint, secret)


def endpoint_update(
    *, endpoint: WebhookEndpoint, url: str, enabled_events: list[str], description: str = ""
) -> WebhookEndpoint:
    url, events, description = _clean(url, enabled_events, description)
    before = audit.fields(endpoint, *AUDITED)
    endpoint.url, endpoint.enabled_events, endpoint.description = url, events, description
    with transaction.atomic():
        endpoint.save(update_fields=["url", "enabled_events", "description", "updated"])
        audit.record("webhook_endpoint.updated", endpoint, before=before, after=audit.fields(endpoint, *AUDITED))
    return endpoint


def endpoint_set_enabled(*, endpoint: WebhookEndpoint, enabled: bool) -> WebhookEndpoint:
    """Turn sending on or off. While off, new events are not queued and queued ones wait."""
    before = {"enabled": endpoint.enabled}
    endpoint.enabled = enabled
    with transaction.atomic():
        endpoint.save(update_fields=["enabled", "updated"])
        action = "webhook_endpoint.enabled" if enabled else "webhook_endpoint.disabled"
        audit.record(action, endpoint, before=before, after={"enabled": enabled})
    return endpoint


def endpoint_roll_secret(*, endpoint: WebhookEndpoint, grace: timedelta) -> NewSecret:
    """Replace the signing secret; the old one keeps signing too until `grace` has passed."""
    if grace < timedelta(0) or grace > MAX_GRACE:
        raise EndpointError("The old secret can keep working for at most 7 days.")
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        secret = new_secret()
        if grace:
            endpoint.previous_secret = endpoint.secret
            endpoint.previous_secret_expires_at = clock.now() + grace
        else:
            endpoint.previous_secret, endpoint.previous_secret_expires_at = "", None
        endpoint.secret = secret
        endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at", "updated"])
        audit.record(
            "webhook_endpoint.secret_rolled",
            endpoint,
            summary=f"New signing secret; the old one keeps signing for {grace.total_seconds() / 3600:g} hours."
            if grace
            else "New signing secret.",
            after={"previous_secret_expires_at": endpoint.previous_secret_expires_at},
        )
    return NewSecret(endpoint, secret)


def endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    """Delete the endpoint and its delivery log."""
    public_id, label, before = endpoint.public_id, str(endpoint), audit.fields(endpoint, *AUDITED)
    with transaction.atomic():
        endpoint.delete()
        audit.record("webhook_endpoint.deleted", object_id=public_id, label=label, before=before)


def signing_secrets(endpoint: WebhookEndpoint) -> list[str]:
    """The secrets that sign a delivery now: the current one, plus the old one during its grace."""
    secrets_in_use = [endpoint.secret]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires and expires > clock.now():
        secrets_in_use.append(endpoint.previous_secret)
    return secrets_in_use
