"""Helpers shared by the dashboard views."""

import json
from dataclasses import dataclass

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Model
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django_htmx.middleware import HtmxDetails

from billing import selectors
from billing.models import Event


class HtmxHttpRequest(HttpRequest):
    """A request that went through django-htmx's middleware."""

    htmx: HtmxDetails


def wants_fragment(request: HtmxHttpRequest) -> bool:
    """An htmx swap wants the fragment; a history restore after a cache miss needs the whole page."""
    return bool(request.htmx) and not request.htmx.history_restore_request


def admin_url(request: HttpRequest, obj: Model) -> str | None:
    """The object's admin change page, for staff, when the admin has one."""
    if not request.user.is_staff:
        return None
    opts = obj._meta
    try:
        return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    except NoReverseMatch:
        return None


def admin_changelist_url(request: HttpRequest, app_label: str, model_name: str) -> str | None:
    if not request.user.is_staff:
        return None
    try:
        return reverse(f"admin:{app_label}_{model_name}_changelist")
    except NoReverseMatch:
        return None


@dataclass(frozen=True)
class EventRow:
    event: Event
    payload: str


def event_rows(public_id: str) -> list[EventRow]:
    """The object's newest events, each with its payload as indented JSON."""
    return [
        EventRow(event, json.dumps(event.as_payload(), indent=2, cls=DjangoJSONEncoder))
        for event in selectors.object_events(public_id)
    ]


def detail_context(request: HttpRequest, obj) -> dict:
    return {
        "object": obj,
        "events": event_rows(obj.public_id),
        "events_limit": selectors.EVENTS_SHOWN,
        "admin_url": admin_url(request, obj),
    }
