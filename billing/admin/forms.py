"""Forms of the billing admin shared by several admins, and those of the actions' intermediate pages."""

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from billing import clock
from billing.models import PauseBehavior


def currency_choices() -> list[tuple[str, str]]:
    return [(code, code) for code in settings.CURRENCIES]


class DocumentAddForm(forms.ModelForm):
    """The add form of an invoice or a quote."""

    currency = forms.ChoiceField(choices=[("", "The customer's currency"), *currency_choices()], required=False)


class LineForm(forms.ModelForm):
    """A line takes its description and amount from its price, unless they are given."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("description", "unit_amount"):
            if name in self.fields:
                self.fields[name].required = False


class FutureDateTimeField(forms.DateTimeField):
    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")

    def __init__(self, **kwargs):
        kwargs["help_text"] = f"{kwargs.get('help_text', '')} Time zone: {settings.TIME_ZONE}.".lstrip()
        super().__init__(**kwargs)

    def validate(self, value):
        super().validate(value)
        if value is not None and value <= clock.now():
            raise ValidationError("Choose a time in the future.")


class CancelAtForm(forms.Form):
    cancel_at = FutureDateTimeField(label="Cancel at")


class PauseCollectionForm(forms.Form):
    behavior = forms.ChoiceField(
        label="While paused",
        choices=PauseBehavior.choices,
        initial=PauseBehavior.KEEP_AS_DRAFT,
        help_text="What happens to the invoice of each period while collection is paused.",
    )
    starts_at = FutureDateTimeField(label="Pause from", required=False, help_text="Leave empty to pause now.")
    resumes_at = FutureDateTimeField(
        label="Resume on", required=False, help_text="Leave empty to pause until collection is resumed by hand."
    )

    def clean(self):
        data = super().clean()
        starts_at, resumes_at = data.get("starts_at"), data.get("resumes_at")
        if resumes_at and resumes_at <= (starts_at or clock.now()):
            self.add_error("resumes_at", "Collection must resume after the pause starts.")
        return data
