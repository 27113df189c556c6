"""What the billing admins share: actions that call a service per object, saves through services."""

from collections.abc import Callable

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import ActionLocation, helpers
from django.contrib.admin.utils import flatten_fieldsets, model_ngettext
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse

from billing.admin.forms import LineForm
from billing.errors import DomainError
from billing.services import LineItem

CHANGE_FORM_ACTION = f"{ActionLocation.CHANGE_FORM.value}-action"


# --- Actions: one service call per selected object --------------------------------------------


def transition(description: str, description_plural: str):
    """An action on the change list and on each object's page, for users who may change objects."""
    return admin.action(
        description=description,
        description_plural=description_plural,
        permissions=["change"],
        location=[ActionLocation.CHANGE_LIST, ActionLocation.CHANGE_FORM],
    )


def report(modeladmin, request, count: int, done: str) -> None:
    """One success message for all: "2 invoices voided"."""
    if count:
        noun = model_ngettext(modeladmin.opts, count)
        modeladmin.message_user(request, f"{count} {noun} {done}.", messages.SUCCESS)


def apply_each(modeladmin, request, queryset, service, *, done: str = "", **kwargs) -> list[tuple]:
    """Call `service` on each selected object separately and return (object, result) of the successes.

    A refusal (a DomainError: billing's, the automations' or the endpoints') becomes an error
    message naming the object and leaves the others alone; the successes are summed up in one
    message when `done` is given.
    """
    results = []
    for obj in queryset:
        try:
            results.append((obj, service(**{modeladmin.opts.model_name: obj}, **kwargs)))
        except DomainError as exc:
            modeladmin.message_user(request, f"{obj}: {exc.message}", messages.ERROR)
    if done:
        report(modeladmin, request, len(results), done)
    return results


def confirm_then(
    modeladmin,
    request,
    queryset,
    perform,
    *,
    action: str,
    title: str,
    question: str,
    form_class: type[forms.Form] | None = None,
    button: str = "Yes, I’m sure",
):
    """Django's delete_selected pattern: an intermediate page that posts back to the same action.

    Until the page comes back confirmed (with its form, if any, valid) the page is returned to
    be shown; then `perform(cleaned_data)` runs and the admin goes back where the action started.
    """
    confirmed = request.POST.get("post") == "yes"
    form = form_class(request.POST if confirmed else None) if form_class else None
    if confirmed and (form is None or form.is_valid()):
        perform(form.cleaned_data if form else {})
        return None
    media = modeladmin.media + form.media if form else modeladmin.media
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "question": question,
        "button": button,
        "opts": modeladmin.opts,
        "queryset": queryset,
        "form": form,
        "media": media,
        "action_name": action,
        # An action started on an object's page posts back there, under the change form's prefix.
        "action_field": CHANGE_FORM_ACTION if CHANGE_FORM_ACTION in request.POST else "action",
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
    }
    request.current_app = modeladmin.admin_site.name
    return TemplateResponse(request, "admin/billing/action_confirmation.html", context)


# --- Saving through services ------------------------------------------------------------------


def changed(form, *fields: str) -> dict:
    """The cleaned values of those of `fields` the user changed."""
    return {name: form.cleaned_data[name] for name in fields if name in form.changed_data}


def adopt(obj, saved) -> None:
    """Turn the admin's unsaved `obj` into the row a create service saved.

    The admin goes on with its own instance (change message, log entry, redirect), so it takes
    over the saved row's state, primary key included.
    """
    vars(obj).update(vars(saved))


def unsaved_rows(formsets, model) -> list:
    """The rows entered in the inline of `model`, unsaved: the create service saves them."""
    rows = []
    for formset in formsets:
        # save(commit=False) also gives the admin's change message its list of added rows.
        new = formset.save(commit=False)
        if formset.model is model:
            rows = new
    return rows


def line_item(row) -> LineItem:
    return LineItem(
        price=row.price,
        product=row.product,
        quantity=row.quantity,
        description=row.description,
        unit_amount=row.unit_amount,
    )


class ServiceAdmin(admin.ModelAdmin):
    """A model admin whose saves go through billing services.

    The change form edits only `editable_fields(obj)`; everything else it shows is read-only.
    If a service refuses during the save, the view's transaction rolls back and the submitted
    form comes back with the service's reason.
    """

    add_form: type[forms.ModelForm] | None = None
    add_fieldsets: tuple | None = None

    def editable_fields(self, obj) -> tuple[str, ...]:
        return ()

    def get_fieldsets(self, request, obj=None):
        if obj is None and self.add_fieldsets is not None:
            return self.add_fieldsets
        return super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        editable = self.editable_fields(obj)
        return [name for name in flatten_fieldsets(self.fieldsets) if name not in editable]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None and self.add_form is not None:
            kwargs.setdefault("form", self.add_form)
        form_class = super().get_form(request, obj, change=change, **kwargs)
        refusal = getattr(request, "billing_refusal", None)
        if refusal is None:
            return form_class

        class RefusedForm(form_class):
            def clean(self):
                super().clean()
                raise ValidationError(refusal)

        return RefusedForm

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as exc:
            # The save ran in the view's transaction, now rolled back: show the form again.
            request.billing_refusal = exc.message
            return super().changeform_view(request, object_id, form_url, extra_context)

    def has_delete_permission(self, request, obj=None):
        return False  # no service deletes billing records; void or cancel them instead


# --- Read-only records and inlines ------------------------------------------------------------


class ReadOnly:
    """Mixin for records written by the services only: they can be looked at, never added, changed or deleted."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class CreationOnlyInline(admin.TabularInline):
    """Rows entered when their object is created: no service changes them afterwards."""

    can_delete = False

    def get_extra(self, request, obj=None, **kwargs):
        return 1 if obj is None else 0

    def has_add_permission(self, request, obj):
        return obj is None

    def has_change_permission(self, request, obj=None):
        return obj is None


class LineInline(admin.TabularInline):
    """The lines of an invoice or a quote: they can change while it is a draft."""

    form = LineForm
    fields = ("price", "product", "description", "quantity", "unit_amount", "amount")
    readonly_fields = ("amount",)
    autocomplete_fields = ("price", "product")

    def _editable(self, obj) -> bool:
        return obj is None or obj.status == "draft"

    def get_extra(self, request, obj=None, **kwargs):
        return 1 if self._editable(obj) else 0

    def has_add_permission(self, request, obj):
        return self._editable(obj)

    def has_change_permission(self, request, obj=None):
        return self._editable(obj)

    def has_delete_permission(self, request, obj=None):
        return obj is not None and self._editable(obj)


class DraftLinesAdmin:
    """Saving the edited lines of a draft invoice or quote, then its total through `recalculate`."""

    line_model: type
    recalculate: Callable  # the service, as a staticmethod: staticmethod(services.invoice_recalculate)

    def save_formset(self, request, form, formset, change):
        if formset.model is not self.line_model:
            return super().save_formset(request, form, formset, change)
        # Complete each line from its price like the create services do; save_related then
        # recalculates the total through the service.
        for row in formset.save(commit=False):
            row.description, row.unit_amount, row.product = line_item(row).resolve()
            row.amount = row.unit_amount * row.quantity
            row.save()
        for row in formset.deleted_objects:
            row.delete()

    def save_changed_lines(self, request, form, formsets) -> None:
        super().save_related(request, form, formsets, True)
        document = form.instance
        lines_changed = any(fs.model is self.line_model and fs.has_changed() for fs in formsets)
        if lines_changed and document.status == "draft":
            self.recalculate(**{document._meta.model_name: document})
