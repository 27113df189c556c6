"""The builder: create and edit an automation on one page.

One <form>: every builder control (add or remove a condition or a step, move a step, change the
trigger or an action) posts the whole form with a `builder_action` and gets the form back, as
the "builder" fragment for htmx or as the whole page without JavaScript. Only "Save automation"
(`builder_action=save`, or no builder_action at all) saves. A save that fails answers 400 with
the form and its problems inline; builder actions answer 200.
"""

from dataclasses import dataclass, field

from django.contrib import messages
from django.db.models import Case, Q, When
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from automations import builder_post, selectors
from automations.engine.accounts import default_currency
from automations.engine.actions import ACTIONS
from automations.engine.actions.email_customer import PLACEHOLDERS as EMAIL_PLACEHOLDERS
from automations.engine.actions.email_customer import PURPOSES
from automations.engine.actions.send_team_email import PLACEHOLDERS, team_members
from automations.engine.dry_run import draft_automation, draft_dry_run, load_object
from automations.engine.filters import FILTERS
from automations.engine.matching import in_priority_order
from automations.engine.scheduling import ANCHORED_UNITS, UNITS
from automations.models import Automation, Run, RunStatus
from automations.services.definitions import (
    ENDS_AT_ANCHOR,
    MAX_STEPS,
    DefinitionError,
    automation_create,
    automation_update,
    clean_name,
    runs_on_old_versions,
    validate_definition,
)
from automations.services.summary import plural, summarize
from automations.triggers import TRIGGERS
from automations.views.backfill import offer_url as backfill_offer_url
from automations.views.dry_run import in_words, object_url, search_context
from billing.errors import DomainError
from billing.models import Product, RetryPolicy
from billing.models.retries import EndBehavior, ScheduleKind
from billing.payments import FAILURE_CODES
from frame.htmx import HtmxHttpRequest, wants_fragment
from frame.permissions import editor_required

PRODUCTS_SHOWN = 200
SAVE, REFRESH = "save", "refresh"
INCOMPLETE = "Complete the steps to see a summary."


@dataclass
class Summary:
    text: str
    partial: bool = False  # some conditions or steps have problems and are left out


@dataclass
class Page:
    """Everything the template needs besides the draft."""

    draft: builder_post.Draft
    automation: Automation | None = None
    errors: builder_post.SortedErrors = field(default_factory=builder_post.SortedErrors)
    show_errors: bool = False
    save_failed: bool = False
    dry_run: dict | None = None  # the "Try it on an object" box (DraftDryRun.context), None: empty


def _summary(draft: builder_post.Draft) -> Summary:
    """The plain-language summary of what validates so far.

    1. Validate the whole definition: if it is valid, summarize it.
    2. Otherwise leave out the conditions and steps with problems and validate again (twice at
       most: dropping a step can put the next one out of time order).
    3. With no valid step left, ask for the steps."""
    if draft.trigger_obj is None:
        return Summary("Choose a trigger to see a summary.")
    definition = builder_post.to_definition(draft)
    filters, steps, partial = definition["filters"], definition["steps"], False
    for _ in range(3):
        try:
            clean = validate_definition(trigger=draft.trigger, filters=filters, steps=steps)
        except DefinitionError as exc:
            bad = {tuple(key.split(".")[:2]) for key in exc.errors}
            if ("trigger",) in bad or ("steps",) in bad and not steps:
                break
            filters = [f for i, f in enumerate(filters) if ("filters", str(i)) not in bad]
            steps = [s for i, s in enumerate(steps) if ("steps", str(i)) not in bad]
            partial = True
            if not steps:
                break
        else:
            return Summary(summarize(trigger=clean.trigger, filters=clean.filters, steps=clean.steps), partial)
    return Summary(INCOMPLETE, partial)


def _trigger_rows(draft: builder_post.Draft) -> list[dict]:
    return [
        {"trigger": t, "id": "trigger-" + t.key.replace(".", "-"), "checked": t.key == draft.trigger}
        for t in TRIGGERS.values()
    ]


def _filter_rows(page: Page) -> list[dict]:
    rows = []
    for index, row in enumerate(page.draft.filters):
        flt = FILTERS.get(row.type)
        rows.append(
            {
                "index": index,
                "number": index + 1,
                "row": row,
                "label": flt.label if flt else "Unknown condition",
                "errors": page.errors.filters.get(index, {}) if page.show_errors else {},
                "prefix": f"filter-{index}-",
                "focus": page.draft.focus == f"filter-{index}-first",
            }
        )
    return rows


def _step_rows(page: Page) -> list[dict]:
    rows, count = [], len(page.draft.steps)
    for index, row in enumerate(page.draft.steps):
        rows.append(
            {
                "index": index,
                "number": index + 1,
                "row": row,
                "action": ACTIONS.get(row.action),
                "errors": page.errors.steps.get(index, {}) if page.show_errors else {},
                "prefix": f"step-{index}-",
                "first": index == 0,
                "last": index == count - 1,
            }
        )
    return rows


def _products(draft: builder_post.Draft) -> tuple[list[Product], bool]:
    """The chosen products and the first active ones by name, PRODUCTS_SHOWN at most besides the
    chosen ones (one query), and whether some active products were left out."""
    chosen = {p for row in draft.filters if row.type == "product" for p in row.params.get("products", [])}
    limit = PRODUCTS_SHOWN + len(chosen)
    rows = list(
        Product.objects.filter(Q(active=True) | Q(public_id__in=chosen)).order_by(
            Case(When(public_id__in=chosen, then=0), default=1), "name", "id"
        )[: limit + 1]
    )
    return sorted(rows[:limit], key=lambda p: (p.name, p.pk)), len(rows) > limit


def _placement(draft: builder_post.Draft, automation: Automation | None) -> selectors.Placement | None:
    if draft.trigger_obj is None:
        return None
    return selectors.builder_placement(
        draft.trigger,
        automation=automation,
        name=draft.name,
        matches_all=not draft.filters,
        place_before=draft.place_before,
    )


def _move_place(draft: builder_post.Draft, automation: Automation | None, direction: str) -> None:
    """Move the draft one row up or down among its trigger's automations; the focus stays on the
    button moved with, or goes to the other one at either end (where this one is disabled)."""
    placement = _placement(draft, automation)
    if placement is None or direction not in ("up", "down") or len(placement.rows) < 2:
        return
    draft.place_before = placement.moved(direction)
    others = [row.rank.key for row in placement.rows if not row.is_draft]
    at_top = bool(others) and draft.place_before == others[0]
    at_bottom = draft.place_before == ""
    if (direction == "up" and at_top) or (direction == "down" and at_bottom):
        direction = "down" if direction == "up" else "up"
    draft.focus = f"place-{direction}"


def _context(request, page: Page) -> dict:
    draft = page.draft
    trigger = draft.trigger_obj
    used = {row.type for row in draft.filters}
    kinds = {row.action for row in draft.steps}
    context = {
        "page": page,
        "draft": draft,
        "automation": page.automation,
        "trigger": trigger,
        "anchor": builder_post.anchor_name(trigger) if trigger and trigger.is_anchored else "",
        "ends_at_anchor": ENDS_AT_ANCHOR.get(trigger.key, "") if trigger else "",
        "trigger_rows": _trigger_rows(draft),
        "filter_rows": _filter_rows(page),
        "step_rows": _step_rows(page),
        "filter_choices": [
            f for f in FILTERS.values() if trigger and trigger.key in f.allowed_triggers and f.key not in used
        ],
        "action_choices": [a for a in ACTIONS.values() if trigger and trigger.key in a.allowed_triggers],
        "units": list(ANCHORED_UNITS if trigger and trigger.is_anchored else UNITS),
        "max_steps": MAX_STEPS,
        "errors": page.errors if page.show_errors else builder_post.SortedErrors(),
        "summary": _summary(draft),
        "form_url": reverse("automation_edit", args=[page.automation.public_id])
        if page.automation
        else reverse("automation_new"),
        "currency": default_currency() if "invoice_amount" in used else "",
        "failure_codes": list(FAILURE_CODES.items()) if "failure_code" in used else [],
        "placeholders": ["{" + p + "}" for p in PLACEHOLDERS],
        "placement": _placement(draft, page.automation),
    }
    context |= page.dry_run or _dry_run_box(draft, page.automation, context["form_url"])
    if "product" in used:
        context["products"], context["more_products"] = _products(draft)
    if "set_retry_policy" in kinds:
        context["retry_policies"] = list(RetryPolicy.objects.values_list("name", flat=True))
        context["schedule_kinds"] = ScheduleKind.choices
        context["end_behaviors"] = EndBehavior.choices
    if "email_customer" in kinds:
        context["email_purpose"] = PURPOSES.get(trigger.key) if trigger else None
        context["email_placeholders"] = ["{" + p + "}" for p in EMAIL_PLACEHOLDERS]
    if "send_team_email" in kinds:
        context["team_emails"] = list(team_members().values_list("email", flat=True)[:100])
    if page.automation is not None:
        version = page.automation.current_version
        context["version_number"] = version.number if version else 0
        context["active_runs"] = Run.objects.filter(automation=page.automation, status=RunStatus.ACTIVE).count()
    return context


def _render(request: HtmxHttpRequest, page: Page, *, status: int = 200) -> HttpResponse:
    template = "automations/builder.html"
    if wants_fragment(request):
        template += "#builder"
    response = render(request, template, _context(request, page), status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response


def _validate(draft: builder_post.Draft) -> dict[str, str]:
    """The problems a save would report, without saving."""
    definition = builder_post.to_definition(draft)
    errors: dict[str, str] = {}
    clean_name(draft.name, errors)
    try:
        validate_definition(**definition)
    except DefinitionError as exc:
        errors |= exc.errors
    return errors


def _save(request, draft: builder_post.Draft, automation: Automation | None) -> Automation:
    definition = builder_post.to_definition(draft) | {"place_before": draft.place_before}
    if automation is None:
        return automation_create(name=draft.name, user=request.user, **definition)
    return automation_update(automation=automation, name=draft.name, user=request.user, **definition)


def _saved_message(automation: Automation, before_version: int | None) -> str:
    version = automation.current_version
    if before_version is None:
        trigger = TRIGGERS[automation.trigger]
        count = len(selectors.priority_order(automation.trigger))
        if automation.priority < count:
            return (
                f"Created “{automation.name}”. It is number {automation.priority} of the {count} automations "
                f"of '{trigger.label}'."
            )
        return f"Created “{automation.name}”. It is checked after the other automations of '{trigger.label}'."
    if version.number == before_version:
        return (
            f"Saved “{automation.name}”. The conditions and steps did not change: it stays at version {version.number}."
        )
    text = f"Saved version {version.number}."
    if old := runs_on_old_versions(automation):
        on_previous = Run.objects.filter(
            automation=automation, status=RunStatus.ACTIVE, version__number=before_version
        ).count()
        which = f"version {before_version}" if on_previous == old else "the versions they started with"
        text += f" {old} {plural(old, 'run')} in progress {plural(old, 'keeps', 'keep')} {which}."
    return text


def _builder(request: HtmxHttpRequest, automation: Automation | None) -> HttpResponse:
    """The builder's GET and POST for a new automation (automation=None) or an existing one.

    1. GET: the draft from the current version (edit) or empty (new, a valid ?trigger= preselects).
    2. POST: read the draft; the trigger of a saved automation never changes; a trigger changed
       since the form was drawn drops what the new one does not allow.
    3. A builder action changes the draft and re-renders it (200).
    4. Save: valid → create or update, redirect to the automation with a message; otherwise
       re-render with the problems inline (400)."""
    if request.method != "POST":
        if automation is not None:
            version = automation.current_version
            draft = builder_post.draft_from_definition(
                name=automation.name,
                trigger=automation.trigger,
                filters=version.filters if version else [],
                steps=version.steps if version else [],
            )
        else:
            trigger = request.GET.get("trigger", "")
            draft = builder_post.Draft(trigger=trigger if trigger in TRIGGERS else "")
        return _render(request, Page(draft=draft, automation=automation))

    draft = builder_post.parse_post(request.POST)
    if automation is not None:
        draft.trigger = automation.trigger
    elif draft.trigger and draft.trigger not in TRIGGERS:
        draft.notices.append("That trigger does not exist: choose one of the list.")
        draft.trigger = ""
    previous = request.POST.get("previous_trigger", "")
    trigger_changed = automation is None and previous in TRIGGERS and draft.trigger != previous
    if trigger_changed:
        draft.place_before = None  # a place among the other trigger's automations
        before = (len(draft.filters), len(draft.steps), [(s.amount, s.unit, s.direction) for s in draft.steps])
        builder_post.change_trigger(draft, previous)
        after = (len(draft.filters), len(draft.steps), [(s.amount, s.unit, s.direction) for s in draft.steps])
        trigger_changed = before != after  # something the user should look at before saving

    # The summary refresh on any change says so in the query string (the form's own hx-post).
    action = request.POST.get("builder_action") or request.GET.get("builder_action") or SAVE
    if action != SAVE:
        verb, _, direction = action.partition(":")
        if verb == "move_place":
            _move_place(draft, automation, direction)
        builder_post.apply_action(draft, action, new_filter=request.POST.get("new_filter", ""))
        if not draft.focus and request.htmx and request.htmx.trigger:
            # The controls are disabled during the request (so the focus is lost): give it back.
            draft.focus = request.htmx.trigger
        page = Page(draft=draft, automation=automation, show_errors=draft.validated)
        if page.show_errors:
            page.errors = builder_post.sort_errors(_validate(draft), draft)
        tried = _try_draft(request, draft, automation, action)
        page.dry_run = tried.context
        if tried.errors and not page.show_errors:  # "Try it" on a draft with problems: show them inline
            page.show_errors, page.errors = True, builder_post.sort_errors(tried.errors, draft)
        return _render(request, page, status=tried.status)

    draft.validated = True
    page = Page(draft=draft, automation=automation, show_errors=True, save_failed=True)
    if trigger_changed:
        draft.notices.append("Nothing was saved: the trigger changed. Check the steps, then save again.")
        page.errors = builder_post.sort_errors(_validate(draft), draft)
        return _render(request, page, status=400)
    before_version = None
    if automation is not None:
        before_version = automation.current_version.number if automation.current_version else 0
    try:
        saved = _save(request, draft, automation)
    except DefinitionError as exc:
        page.errors = builder_post.sort_errors(exc.errors, draft)
        return _render(request, page, status=400)
    except DomainError as exc:  # archived meanwhile, …
        page.errors = builder_post.SortedErrors(general=[exc.message])
        return _render(request, page, status=400)
    messages.success(request, _saved_message(saved, before_version))
    # A new automation: first the offer to start runs for objects already in its trigger's state.
    url = (before_version is None and backfill_offer_url(saved)) or reverse("automation_detail", args=[saved.public_id])
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)


# --- Dry run of the draft (issue 14): try it on an existing object before saving ---------------

DRY_RUN = "dry_run"  # builder_action "dry_run:<public id>": try the draft on that object
DRY_RUN_FOCUS = "dry-run-result"


@dataclass
class DraftDryRun:
    context: dict
    status: int = 200
    errors: dict[str, str] = field(default_factory=dict)  # the draft's problems, when a try found some


def _dry_run_box(draft: builder_post.Draft, automation: Automation | None, form_url: str, query: str = "") -> dict:
    """The "Try it on an object" box with no object tried (the matches of a search typed before)."""
    return search_context(trigger=draft.trigger, query=query, form_url=form_url) | {
        "dry_run_automation": automation.public_id if automation else "",
        "dry_run_object": None,
        "dry_run_object_id": "",
        "dry_run_object_url": "",
        "dry_run_plan": None,
        "dry_run_error": "",
        "dry_run_incomplete": False,
        "dry_run_notes": [],
    }


def _try_draft(request, draft: builder_post.Draft, automation: Automation | None, action: str) -> DraftDryRun:
    """The "Try it on an object" box after a builder action.

    1. The object: the one a "Try" button names (`dry_run:<id>`), else the one tried before (a
       hidden field keeps it, so the answer follows the draft as it changes).
    2. Validate the draft as a save would (validate_definition; the name does not matter here). A
       draft with problems is not tried: a "Try" answers 400 with the problems inline.
    3. Check it on the object, after the enabled automations placed above it (engine.dry_run):
       writes nothing."""
    verb, _, chosen = action.partition(":")
    asked = verb == DRY_RUN
    if not asked:
        chosen = request.POST.get("dry_run_object", "")
    elif not chosen:  # without JavaScript: the id typed in the box
        chosen = request.POST.get("dry_run_pick", "").strip()
    form_url = reverse("automation_edit", args=[automation.public_id]) if automation else reverse("automation_new")
    box = _dry_run_box(draft, automation, form_url, request.POST.get("dry_run_q", ""))
    trigger = draft.trigger_obj
    if trigger is None or not chosen:
        if asked:
            box["dry_run_error"] = "Choose a trigger, then an object to try the draft on."
            return DraftDryRun(box, 400)
        return DraftDryRun(box)
    obj = load_object(trigger.object_type, chosen)
    if obj is None:
        if not asked:  # the trigger changed to another kind of object: start again
            return DraftDryRun(box)
        box["dry_run_error"] = f"There is no {trigger.object_type} with the id “{chosen[:100]}”."
        return DraftDryRun(box, 404)
    box |= {"dry_run_object": obj, "dry_run_object_id": obj.public_id, "dry_run_object_url": object_url(obj)}
    try:
        clean = validate_definition(**builder_post.to_definition(draft))
    except DefinitionError as exc:
        if not asked:  # a redraw while the draft is being edited: no alarm
            box["dry_run_incomplete"] = True
            return DraftDryRun(box)
        box["dry_run_error"] = "Fix the problems in the draft to try it."
        return DraftDryRun(box, 400, exc.errors)
    placement = _placement(draft, automation)
    above = {row.rank.key for row in placement.rows[: placement.index]} if placement else set()
    candidate = draft_automation(
        name=draft.name.strip() or "This draft", trigger=clean.trigger, filters=clean.filters, steps=clean.steps
    )
    others = [a for a in in_priority_order(clean.trigger) if a.public_id in above]
    box["dry_run_plan"] = in_words(draft_dry_run(obj, candidate, above=others), obj._meta.verbose_name)
    if automation is not None and not automation.enabled:
        box["dry_run_notes"].append("This automation is off: it starts no run until it is turned on.")
    if asked:
        draft.focus = DRY_RUN_FOCUS
    return DraftDryRun(box)


@editor_required
@require_http_methods(["GET", "POST"])
def automation_new(request: HtmxHttpRequest) -> HttpResponse:
    return _builder(request, None)


@editor_required
@require_http_methods(["GET", "POST"])
def automation_edit(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    automation = get_object_or_404(
        Automation.objects.select_related("current_version"), public_id=public_id, archived_at__isnull=True
    )
    return _builder(request, automation)
