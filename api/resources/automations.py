"""Automations (Relance's own): list, retrieve, export one as a document, import one.

The document is automations.services.documents' (`"object": "automation_document"`). An import
is validated as the builder's save: a refusal answers 400 with `param` = the field of the first
problem ("steps.2.params.recipient") and every problem in the message and in `errors`.
"""

import json
from datetime import datetime

from ninja import Router

from api.encoding import boolean, known, params, text
from api.errors import INVALID_REQUEST, StripeError, invalid, missing
from api.lists import stripe_list
from automations.models import Automation
from automations.services.documents import MAX_BYTES, DocumentError, automation_export, automation_import

router = Router(tags=["automations"])

DOCUMENT_HINT = (
    'Send the document as JSON: a form parameter `document` holding it as text, or a JSON body {"document": {…}}.'
)


class DocumentRefused(StripeError):
    """400 with every problem of the document in `errors` besides the usual fields."""

    def __init__(self, errors: dict[str, str]):
        listed = "; ".join(f"{field}: {message}" for field, message in errors.items())
        super().__init__(
            400, INVALID_REQUEST, f"The document cannot be imported: {listed}", param=next(iter(errors), None)
        )
        self.errors = errors

    def body(self) -> dict:
        body = super().body()
        body["error"]["errors"] = self.errors
        return body


def _ts(value: datetime | None) -> int | None:
    return int(value.timestamp()) if value else None


def serialize(automation: Automation) -> dict:
    """The automation with its document's fields (its current definition), its place and state."""
    document = automation_export(automation)
    archived = automation.archived_at is not None
    return {
        "id": automation.public_id,
        "object": "automation",
        "name": automation.name,
        "trigger": automation.trigger,
        "enabled": automation.enabled and not archived,
        "priority": None if archived else automation.priority,
        "archived": archived,
        "filters": document["filters"],
        "steps": document["steps"],
        "definition_version": automation.current_version.number if automation.current_version else None,
        "created": _ts(automation.created),
        "updated": _ts(automation.updated),
        "livemode": False,
    }


def _automation(id: str) -> Automation:
    automation = Automation.objects.select_related("current_version").filter(public_id=id).first()
    if automation is None:
        missing("automation", id)
    return automation


@router.get("", summary="List automations", response={200: dict})
def list_automations(request):
    """Newest first. Filters: trigger, enabled (true/false), archived (false by default: only the
    automations in use; true: only the archived ones). Pagination: limit, starting_after, ending_before."""
    values = params(request)
    known(values, "trigger", "enabled", "archived", "limit", "starting_after", "ending_before")
    automations = Automation.objects.select_related("current_version")
    automations = automations.filter(archived_at__isnull=not boolean(values, "archived"))
    if trigger := text(values, "trigger", max_length=60):
        automations = automations.filter(trigger=trigger)
    if (enabled := boolean(values, "enabled")) is not None:
        automations = automations.filter(enabled=enabled)
    return stripe_list(request, automations, serialize, url="/v1/automations")


def _request_document(request) -> tuple[object, bool]:
    """The document and `enabled`, from form parameters (`document` as JSON text) or a JSON body."""
    if len(request.body) > MAX_BYTES + 4096:
        invalid(f"The document is too large: at most {MAX_BYTES // 1024} KB.", param="document")
    values = params(request)  # a JSON body is read as it is
    known(values, "document", "enabled")
    raw = values.get("document")
    if raw is None:
        invalid(f"Missing required param: document. {DOCUMENT_HINT}", param="document")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            where = (
                f" ({exc.msg}, line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
            )
            invalid(f"Invalid document: not valid JSON{where}. {DOCUMENT_HINT}", param="document")
    elif request.content_type != "application/json":
        # document[name]=… in brackets: every value is text and empty lists vanish; JSON keeps the types.
        invalid(f"Invalid document: expected JSON text. {DOCUMENT_HINT}", param="document")
    return raw, bool(boolean(values, "enabled"))


@router.post("/import", summary="Import an automation", response={200: dict})
def import_automation(request):
    """Parameters: document (the JSON of an exported automation), enabled (false by default: the
    imported automation starts no runs until turned on). It goes last in its trigger's order; a
    name already in use gets " (imported)". A refusal lists every problem by field in `errors`."""
    document, enabled = _request_document(request)
    try:
        automation = automation_import(document, enabled=enabled)
    except DocumentError as exc:
        raise DocumentRefused(exc.errors) from None
    return serialize(automation)


@router.get("/{id}", summary="Retrieve an automation", response={200: dict})
def retrieve(request, id: str):
    known(params(request))
    return serialize(_automation(id))


@router.get("/{id}/export", summary="Export an automation as a document", response={200: dict})
def export(request, id: str):
    """The document to import elsewhere: self-contained (retry policies inline), without ids."""
    known(params(request))
    return automation_export(_automation(id))
