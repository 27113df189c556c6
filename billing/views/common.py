"""Helpers shared by the dashboard views."""

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Model
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

from billing import selectors
from billing.models import Event


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
class Fragment:
    """A template and its context, rendered inside a detail page (`{% include f.template with f=f.context %}`)."""

    template: str
    context: dict


@dataclass(frozen=True)
class EventRow:
    event: Event
    payload: str
    notes: list[Fragment] = field(default_factory=list)  # added by detail panels, shown under the event


def event_rows(public_id: str) -> list[EventRow]:
    """The object's newest events, each with its payload as indented JSON."""
    return [
        EventRow(event, json.dumps(event.as_payload(), indent=2, cls=DjangoJSONEncoder))
        for event in selectors.object_events(public_id)
    ]


# What other apps add to a billing detail page, without billing knowing them (dependencies
# point one way: automations registers its runs and matching records here in its `ready()`).
# A provider gets the request, the object and the events shown, and returns None or a dict:
#   "template", "context": a panel shown after the object's own sections;
#   "event_template", "event_contexts": {event pk: context}: a note under each of those events.
# Providers must keep their queries bounded: one query for all the events, not one per event.
DetailPanel = Callable[[HttpRequest, Model, list[Event]], dict | None]
DETAIL_PANELS: list[DetailPanel] = []


def register_detail_panel(provider: DetailPanel) -> DetailPanel:
    """Add a provider once (ready() may run more than once in tests)."""
    if provider not in DETAIL_PANELS:
        DETAIL_PANELS.append(provider)
    return provider


def detail_context(request: HttpRequest, obj) -> dict:
    events = event_rows(obj.public_id)
    panels = []
    for provider in DETAIL_PANELS:
        extension = provider(request, obj, [row.event for row in events])
        if not extension:
            continue
        if extension.get("template"):
            panels.append(Fragment(extension["template"], extension.get("context", {})))
        notes = extension.get("event_contexts") or {}
        for row in events:
            if row.event.pk in notes:
                row.notes.append(Fragment(extension["event_template"], notes[row.event.pk]))
    return {
        "object": obj,
        "events": events,
        "events_limit": selectors.EVENTS_SHOWN,
        "panels": panels,
        "admin_url": admin_url(request, obj),
    }
