"""The dry run's pages: "Which automation would run?" for an invoice, subscription or quote
(viewers too: it only reads), and the builder's search for an object to try the draft on.

The answers come from `automations.engine.dry_run`; this module puts them in words.
"""

import re
from dataclasses import dataclass
from datetime import datetime

from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_safe

from automations.engine.actions import ACTIONS
from automations.engine.dry_run import TriggerPlan, dry_run, load_object
from automations.engine.objects import OBJECT_MODELS
from automations.services.summary import ANCHOR_NAMES, anchored_delay_words, duration_words
from automations.triggers import PAYMENT_FAILED, TRIGGERS
from billing import selectors as billing_selectors
from frame.htmx import HtmxHttpRequest, wants_fragment
from frame.permissions import editor_required

PAGE = "automations/dry_run.html"
SEARCH_PAGE = "automations/dry_run_search.html"
PUBLIC_ID = re.compile(r"[A-Za-z0-9_]{1,64}")
DRAFT = "automations/_dry_run_draft.html"
MATCHES_SHOWN = 6
QUERY_MAX_LENGTH = 100
KIND_WORDS = "invoice, subscription or quote"


@dataclass(frozen=True)
class StepInWords:
    position: int
    label: str
    timing: str  # "wait 3 days", "2 days before the due date"
    at: datetime
    passed: bool  # would be skipped: its time has passed


@dataclass(frozen=True)
class ContenderInWords:
    name: str
    public_id: str  # "" for the builder's draft
    is_draft: bool
    verdicts: list
    matched: bool
    is_winner: bool
    not_reached: bool  # below the winner: never checked by the engine


@dataclass(frozen=True)
class PlanInWords:
    key: str
    label: str
    anchor_name: str  # "the due date" (date-anchored triggers)
    anchor: datetime | None
    now: datetime
    contenders: list[ContenderInWords]
    winner: ContenderInWords | None
    steps: list[StepInWords]
    outcome: str
    would_start: bool


def _steps(plan: TriggerPlan, contender) -> list[StepInWords]:
    anchor = ANCHOR_NAMES.get(plan.trigger.anchor_field, "the date")
    rows = []
    for step in contender.steps:
        action = ACTIONS.get(step.action)
        if plan.trigger.is_anchored:
            timing = anchored_delay_words(step.delay, anchor)
        elif step.delay.get("amount"):
            timing = f"wait {duration_words(step.delay)}"
        else:
            timing = "at once"
        rows.append(StepInWords(step.position, action.label if action else step.action, timing, step.at, step.passed))
    return rows


def _outcome(plan: TriggerPlan, kind: str) -> str:
    anchor = ANCHOR_NAMES.get(plan.trigger.anchor_field, "the date")
    if plan.missing_anchor:
        return f"No run would start: the {kind} has no {anchor.removeprefix('the ')} to time the steps from."
    if plan.ending is not None:
        return f"No run would start: {plan.ending.already}."
    if not plan.contenders:
        text = "No run would start: no automation of this trigger is enabled"
        return text + (": the default retry settings would apply." if plan.trigger.key == PAYMENT_FAILED else ".")
    if plan.winner is None:
        text = "No run would start: no automation matches"
        return text + (": the default retry settings would apply." if plan.trigger.key == PAYMENT_FAILED else ".")
    name = "This draft" if plan.winner.is_draft else f"“{plan.winner.automation.name}”"
    if plan.all_steps_passed and plan.winner.steps:
        return f"{name} would start, but the time of every step has passed: they would all be skipped."
    return f"{name} would start."


def in_words(plan: TriggerPlan, kind: str) -> PlanInWords:
    """A trigger's plan as the dry run pages show it."""
    winner_index = plan.contenders.index(plan.winner) if plan.winner else len(plan.contenders)
    contenders = [
        ContenderInWords(
            name=contender.automation.name,
            public_id=contender.automation.public_id,
            is_draft=contender.is_draft,
            verdicts=contender.verdicts,
            matched=contender.matched,
            is_winner=index == winner_index,
            not_reached=index > winner_index,
        )
        for index, contender in enumerate(plan.contenders)
    ]
    winner = contenders[winner_index] if plan.winner else None
    return PlanInWords(
        key=plan.trigger.key,
        label=plan.trigger.label,
        anchor_name=ANCHOR_NAMES.get(plan.trigger.anchor_field, "") if plan.trigger.is_anchored else "",
        anchor=plan.anchor,
        now=plan.now,
        contenders=contenders,
        winner=winner,
        steps=_steps(plan, plan.winner) if plan.winner and not plan.missing_anchor else [],
        outcome=_outcome(plan, kind),
        would_start=plan.would_start,
    )


def object_url(obj) -> str:
    return reverse(f"{obj._meta.model_name}_detail", args=[obj.public_id])


@require_safe
def object_dry_run(request: HtmxHttpRequest, kind: str, public_id: str) -> HttpResponse:
    """Which automation each trigger of the object would start now, and when its steps would
    run. An htmx request (the object page's panel) gets the result fragment."""
    obj = load_object(kind, public_id) if kind in OBJECT_MODELS else None
    if obj is None:
        what = kind if kind in OBJECT_MODELS else KIND_WORDS
        context = {"missing": f"There is no {what} with the id “{public_id[:100]}”."}
        return render(request, PAGE, context, status=404)
    words = obj._meta.verbose_name
    context = {
        "object": obj,
        "kind": words,
        "object_url": object_url(obj),
        "plans": [in_words(plan, words) for plan in dry_run(obj)],
        "heading_level": 3 if wants_fragment(request) else 2,
    }
    template = PAGE + "#result" if wants_fragment(request) else PAGE
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


# --- The builder's object search ----------------------------------------------------------------


@dataclass(frozen=True)
class Match:
    public_id: str
    label: str


def _label(obj) -> str:
    kind = obj._meta.model_name
    parts = [obj.public_id]
    if getattr(obj, "number", ""):
        parts.append(obj.number)
    parts.append(obj.customer.name or obj.customer.email)
    if kind in ("invoice", "quote"):
        parts.append(str(obj.total))
    parts.append(obj.get_status_display().lower())
    return " · ".join(parts)


SEARCHES = {
    "invoice": billing_selectors.invoice_list,
    "subscription": billing_selectors.subscription_list,
    "quote": billing_selectors.quote_list,
}


def find_objects(kind: str, query: str, limit: int = MATCHES_SHOWN) -> list[Match]:
    """The newest objects of `kind` whose id, number or customer name or email matches `query`."""
    query = query.strip()[:QUERY_MAX_LENGTH]
    if not query or kind not in SEARCHES:
        return []
    rows = SEARCHES[kind](q=query).order_by("-created", "-id")[:limit]
    return [Match(obj.public_id, _label(obj)) for obj in rows]


def search_context(*, trigger: str, query: str, form_url: str) -> dict:
    """What the builder's "Try it on" box shows for a query: the matches of the trigger's kind."""
    spec = TRIGGERS.get(trigger)
    kind = spec.object_type if spec else ""
    query = query.strip()
    too_long = len(query) > QUERY_MAX_LENGTH
    return {
        "dry_run_kind": kind,
        "dry_run_query": query[:QUERY_MAX_LENGTH],
        "dry_run_matches": [] if too_long else find_objects(kind, query),
        "dry_run_searched": bool(query) and bool(kind),
        "dry_run_query_error": f"Type at most {QUERY_MAX_LENGTH} characters." if too_long else "",
        "form_url": form_url,
    }


@editor_required
@require_safe
def dry_run_search(request: HtmxHttpRequest) -> HttpResponse:
    """The builder's search box: a few objects of the draft's trigger kind, each with a button
    that tries the draft on it (posting the builder's form, `dry_run_automation`: the automation
    edited). Without JavaScript, a page that lists them with their ids."""
    trigger = request.GET.get("trigger", "")
    automation = request.GET.get("dry_run_automation", "")
    if trigger not in TRIGGERS:
        return HttpResponse("Choose a trigger first.", status=400, content_type="text/plain")
    if automation and not PUBLIC_ID.fullmatch(automation):
        return HttpResponse("That is not an automation's id.", status=400, content_type="text/plain")
    form_url = reverse("automation_edit", args=[automation]) if automation else reverse("automation_new")
    context = search_context(trigger=trigger, query=request.GET.get("dry_run_q", ""), form_url=form_url)
    status = 400 if context["dry_run_query_error"] else 200
    template = DRAFT + "#matches" if wants_fragment(request) else SEARCH_PAGE
    response = render(request, template, context, status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response
