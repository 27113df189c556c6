"""Forms for the dashboard: list filters, the account settings, and the transitions that take input."""

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import DomainNameValidator

from billing import selectors
from billing.models import (
    AccountSettings,
    InvoiceStatus,
    PauseBehavior,
    QuoteStatus,
    RetryPolicy,
    SubscriptionStatus,
)
from billing.models.account import DEFAULT_ACCENT_COLOR
from billing.models.retries import MAX_RETRIES, MAX_RETRY_DAYS
from billing.services.exchange_rates import clean_currency_code, clean_rate_value
from frame.lists import ListFilterForm


class CustomerFilterForm(ListFilterForm):
    status_choices = [
        (selectors.HAS_OPEN_INVOICES, "With open invoices"),
        (selectors.HAS_PAST_DUE, "With a past-due or unpaid subscription"),
    ]


class InvoiceFilterForm(ListFilterForm):
    status_choices = [*InvoiceStatus.choices, (selectors.OVERDUE, "Overdue (open, past due date)")]


class SubscriptionFilterForm(ListFilterForm):
    status_choices = SubscriptionStatus.choices


class QuoteFilterForm(ListFilterForm):
    status_choices = [*QuoteStatus.choices, (selectors.EXPIRING, "Expiring within 7 days")]


def _split(value: str) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


class CommaSeparatedField(forms.CharField):
    """A list entered as comma-separated text; shows a stored list the same way."""

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return ", ".join(str(item) for item in value)
        return value


class DayOffsetsField(CommaSeparatedField):
    def to_python(self, value) -> list[int]:
        days = []
        for part in _split(super().to_python(value)):
            if not (part.isascii() and part.isdigit()):
                raise ValidationError(f"“{part[:20]}” is not a whole number of days. Enter days like 1, 3, 7.")
            if len(part) > 3:  # int() refuses very long digit strings, and no retry is that far
                raise ValidationError(f"“{part[:20]}” is too many days: each day is from 1 to {MAX_RETRY_DAYS}.")
            days.append(int(part))
        return days


class DomainsField(CommaSeparatedField):
    def to_python(self, value) -> list[str]:
        domains: list[str] = []
        validate = DomainNameValidator(accept_idna=False)
        for part in _split(super().to_python(value)):
            domain = part.lower().removeprefix("@")
            try:
                validate(domain)
            except ValidationError:
                raise ValidationError(f"“{part}” is not a domain name. Enter domains like acme.com.") from None
            if domain not in domains:
                domains.append(domain)
        return domains


SCHEDULE_LABELS = {
    "schedule_kind": "Retry schedule",
    "max_retries": "Number of retries",
    "within_days": "Within (days)",
    "end_behavior": "After the last retry fails",
}


class RetryScheduleForm(forms.ModelForm):
    """What the account defaults and a named retry policy share: the schedule's fields."""

    day_offsets = DayOffsetsField(
        required=False,
        label="Retry days",
        help_text="Days after the first failure, comma-separated, e.g. 1, 3, 5, 7 (for the 'chosen days' schedule).",
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["max_retries"].widget.attrs.update(min=0, max=MAX_RETRIES)
        self.fields["within_days"].widget.attrs.update(min=1, max=MAX_RETRY_DAYS)

    def _update_errors(self, errors):
        # A field that could not be parsed keeps its old value on the instance, so the model's
        # complaint about that old value would only confuse: keep the form's own message.
        if hasattr(errors, "error_dict"):
            for name in [name for name in errors.error_dict if name in self._errors]:
                del errors.error_dict[name]
            if not errors.error_dict:
                return
        super()._update_errors(errors)


class AccountSettingsForm(RetryScheduleForm):
    """The account defaults; the model's clean() checks the retry schedule as a whole."""

    default_currency = forms.ChoiceField(choices=[(code, code) for code in settings.CURRENCIES])
    team_email_domains = DomainsField(
        required=False,
        label="Team email domains",
        help_text="Company domains that team emails may go to, comma-separated, e.g. acme.com, acme.co.uk.",
    )

    class Meta:
        model = AccountSettings
        fields = [
            "default_currency",
            "schedule_kind",
            "max_retries",
            "within_days",
            "day_offsets",
            "end_behavior",
            "team_email_domains",
            "business_name",
            "support_email",
            "logo_url",
            "accent_color",
        ]
        labels = SCHEDULE_LABELS | {
            "business_name": "Business name",
            "support_email": "Support email",
            "logo_url": "Logo address",
            "accent_color": "Accent colour",
        }
        widgets = {"accent_color": forms.TextInput(attrs={"type": "color"})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["accent_color"].required = False  # blank: the default colour

    def clean_accent_color(self) -> str:
        return (self.cleaned_data.get("accent_color") or DEFAULT_ACCENT_COLOR).lower()


# --- Settings: retry policies and exchange rates ---------------------------------------------


class RetryPolicyForm(RetryScheduleForm):
    """A named retry policy; billing.services.retry_policies checks and saves it."""

    class Meta:
        model = RetryPolicy
        fields = ["name", "schedule_kind", "max_retries", "within_days", "day_offsets", "end_behavior"]
        labels = SCHEDULE_LABELS
        help_texts = {"name": "Automations choose the policy by this name, e.g. “Annual plans”."}

    def validate_unique(self):
        pass  # the service checks the name, case-insensitively

    def schedule(self) -> dict:
        """The cleaned schedule fields, as the services take them (after is_valid())."""
        return {name: self.cleaned_data[name] for name in self.Meta.fields if name != "name"}


class ExchangeRateForm(forms.Form):
    """One currency's rate against the base currency; the service checks the code and bounds."""

    currency = forms.CharField(
        label="Currency",
        max_length=3,
        help_text="Three-letter code, e.g. USD.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "list": "currency-codes", "size": 4}),
    )
    value = forms.DecimalField(
        label="Rate",
        max_digits=13,
        decimal_places=6,
        help_text="Units of this currency for 1 unit of the base currency, e.g. 1.08.",
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def clean_currency(self) -> str:
        try:
            return clean_currency_code(self.cleaned_data["currency"])
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["currency"]) from None

    def clean_value(self):
        try:
            return clean_rate_value(self.cleaned_data["value"])
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["value"]) from None


# --- Transitions that take input (billing.views.controls) ----------------------------------------

EARLIEST_YEAR, LATEST_YEAR = 2000, 2100


class MomentField(forms.DateTimeField):
    """A date and time from a `datetime-local` input (a bare date means midnight), in the
    current time zone, within years a billing date can sensibly have."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")

    def to_python(self, value):
        moment = super().to_python(value)
        if moment is not None and not EARLIEST_YEAR <= moment.year <= LATEST_YEAR:
            raise ValidationError(f"Enter a date between {EARLIEST_YEAR} and {LATEST_YEAR}.", code="out_of_range")
        return moment


class TransitionForm(forms.Form):
    """A form of a transition: its cleaned data become the service's keyword arguments."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def service_kwargs(self) -> dict:
        return dict(self.cleaned_data)


class InvoiceDueDateForm(TransitionForm):
    due_date = MomentField(label="Due date", help_text="A date in the past is allowed: the invoice becomes overdue.")

    def __init__(self, *args, obj=None, **kwargs):
        super().__init__(*args, **kwargs)
        if obj is not None and obj.due_date and not self.is_bound:
            self.initial["due_date"] = obj.due_date


class ScheduleCancellationForm(TransitionForm):
    PERIOD_END, ON_DATE = "period_end", "date"

    when = forms.ChoiceField(
        label="Cancel the subscription",
        choices=[(PERIOD_END, "At the end of the current period"), (ON_DATE, "On a date")],
        widget=forms.RadioSelect,
        initial=PERIOD_END,
    )
    cancel_at = MomentField(label="Cancellation date", required=False, help_text="Only with “On a date”.")

    def __init__(self, *args, obj=None, **kwargs):
        super().__init__(*args, **kwargs)

    def clean(self):
        data = super().clean()
        if data.get("when") == self.ON_DATE and not data.get("cancel_at") and "cancel_at" not in self.errors:
            self.add_error("cancel_at", "Choose the cancellation date.")
        return data

    def service_kwargs(self) -> dict:
        if self.cleaned_data["when"] == self.PERIOD_END:
            return {"at_period_end": True}
        return {"at": self.cleaned_data["cancel_at"]}


class PauseCollectionForm(TransitionForm):
    behavior = forms.ChoiceField(
        label="Invoices during the pause", choices=PauseBehavior.choices, initial=PauseBehavior.KEEP_AS_DRAFT
    )
    starts_at = MomentField(label="Pause starts", required=False, help_text="Leave empty to pause now.")
    resumes_at = MomentField(label="Resumes on", required=False, help_text="Leave empty to pause until resumed.")

    def __init__(self, *args, obj=None, **kwargs):
        super().__init__(*args, **kwargs)
