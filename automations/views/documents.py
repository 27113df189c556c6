"""Automations as JSON in the dashboard: download an automation's document, and import one.

The import page takes a .json file (or pasted JSON) and answers with a preview: the summary of
what would be created and every problem, field by field; nothing is saved. The preview carries
the document in a hidden field; "Save as new automation" posts it back and only then creates it.
A document that cannot be read or imported answers 400 with the page and the reason.
"""

import json
import re

from django import forms
from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_http_methods, require_safe

from automations import selectors
from automations.models import Automation
from automations.services.documents import (
    MAX_BYTES,
    DocumentError,
    automation_export,
    automation_import,
    preview,
)
from frame.htmx import HtmxHttpRequest
from frame.permissions import editor_required

IMPORT = "automations/import.html"
PREVIEW, SAVE = "preview", "save"
ROWS = {"filters": "Condition", "steps": "Step"}
FIELD_NAMES = {"document": "Document", "object": "Object", "version": "Version", "name": "Name", "trigger": "Trigger"}


class DocumentForm(forms.Form):
    file = forms.FileField(
        required=False, label="JSON file", help_text="An automation exported from Relance (.relance.json)."
    )
    text = forms.CharField(
        required=False,
        label="Or paste the JSON",
        strip=False,
        widget=forms.Textarea(attrs={"rows": 10, "spellcheck": "false"}),
    )


class DocumentUnreadable(ValueError):
    """The upload is not a JSON document this page can read; the message says why."""


def _read(raw: bytes | str) -> object:
    size = len(raw.encode() if isinstance(raw, str) else raw)
    if size > MAX_BYTES:
        raise DocumentUnreadable(f"The document is too large ({size // 1024} KB): at most {MAX_BYTES // 1024} KB.")
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise DocumentUnreadable("The file is not UTF-8 text: upload the .json file Relance exported.") from None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise DocumentUnreadable(
            f"This is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
        ) from None
    except RecursionError:
        raise DocumentUnreadable("This JSON is nested too deeply to be an automation document.") from None


def _uploaded(form: DocumentForm) -> object:
    """The document of the file, else of the pasted text."""
    upload = form.cleaned_data["file"]
    if upload is not None:
        if upload.size > MAX_BYTES:
            raise DocumentUnreadable(
                f"The file is too large ({upload.size // 1024} KB): at most {MAX_BYTES // 1024} KB."
            )
        return _read(upload.read())
    text = form.cleaned_data["text"]
    if not text.strip():
        raise DocumentUnreadable("Choose a .json file or paste the document.")
    return _read(text)


def field_label(key: str) -> str:
    """Where a problem is, in words: "steps.2.params.recipient" → "Step 3 › recipient"."""
    parts = key.split(".")
    if parts[0] in ROWS and len(parts) >= 2 and parts[1].isascii() and parts[1].isdigit():
        rest = [p for p in parts[2:] if p != "params"]
        return " › ".join([f"{ROWS[parts[0]]} {int(parts[1]) + 1}", *rest])
    return FIELD_NAMES.get(key, key.replace("_", " ").capitalize())


def _context(form: DocumentForm, document=None, error: str = "", errors: dict | None = None, enabled=False) -> dict:
    context = {"form": form, "error": error, "enabled": enabled, "max_kb": MAX_BYTES // 1024}
    if document is not None:
        result = preview(document)
        problems = errors if errors is not None else result.errors
        context |= {
            "preview": result,
            "problems": [(field_label(k), k, v) for k, v in problems.items()],
            "document_json": json.dumps(document, ensure_ascii=False, separators=(",", ":")),
        }
    return context


@require_http_methods(["GET", "HEAD", "POST"])
@editor_required
def automation_import_view(request: HtmxHttpRequest) -> HttpResponse:
    """GET: the upload form. POST `step=preview` (with `file` or `text`): the preview, nothing
    saved. POST `step=save` (with `document`, `enabled`): create the automation, off unless
    `enabled=on`, and go to its page."""
    if request.method != "POST":
        return render(request, IMPORT, _context(DocumentForm()))
    enabled = request.POST.get("enabled") == "on"
    if request.POST.get("step") == SAVE:
        form = DocumentForm()
        try:
            document = _read(request.POST.get("document", ""))
        except DocumentUnreadable as exc:
            return render(request, IMPORT, _context(form, error=str(exc)), status=400)
        try:
            automation = automation_import(document, user=request.user, enabled=enabled)
        except DocumentError as exc:
            return render(request, IMPORT, _context(form, document, errors=exc.errors, enabled=enabled), status=400)
        state = "on" if automation.enabled else "off: turn it on when you are ready"
        messages.success(
            request, f"“{automation.name}” imported as a new automation, last in its trigger's order, {state}."
        )
        return redirect("automation_detail", public_id=automation.public_id)
    form = DocumentForm(request.POST, request.FILES)
    if not form.is_valid():
        return render(request, IMPORT, _context(form, error="The upload could not be read."), status=400)
    try:
        document = _uploaded(form)
    except DocumentUnreadable as exc:
        return render(request, IMPORT, _context(form, error=str(exc)), status=400)
    context = _context(form, document, enabled=enabled)
    return render(request, IMPORT, context, status=400 if context["problems"] else 200)


def download_name(name: str) -> str:
    """`<name>.relance.json`, without characters a file name or a header cannot hold."""
    safe = re.sub(r'[\x00-\x1f\x7f/\\:*?"<>|]+', "-", name).strip(" .-") or "automation"
    return f"{safe[:150]}.relance.json"


@require_safe
def automation_export_view(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    """The automation's document as a download (viewers too: reading it changes nothing)."""
    try:
        automation = selectors.automation_detail(public_id)
    except Automation.DoesNotExist:
        raise Http404("No such automation.") from None
    body = json.dumps(automation_export(automation), ensure_ascii=False, indent=2) + "\n"
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(True, download_name(automation.name))
    return response
