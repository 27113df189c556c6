"""The forms of the test clock pages: a new clock, an advance, a customer on a clock. Moments are
entered and shown in UTC, whatever the account's time zone: a clock's time is stated in UTC."""

from datetime import UTC, datetime, timedelta

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from automations import clock_selectors as selectors
from billing.forms import MomentField
from billing.models import Interval, TestClock
from billing.payments.test_gateway import TEST_CARDS
from billing.services.subscriptions import add_interval


class UtcMomentField(MomentField):
    """A `datetime-local` moment read and shown in UTC."""

    def to_python(self, value):
        with timezone.override(UTC):
            return super().to_python(value)

    def prepare_value(self, value):
        if isinstance(value, datetime) and timezone.is_aware(value):
            return value.astimezone(UTC).replace(tzinfo=None)
        return value


class ClockForm(forms.Form):
    name = forms.CharField(label="Name", max_length=200, help_text="E.g. “Annual dunning rehearsal”.")
    frozen_time = UtcMomentField(label="Start time (UTC)", help_text="The clock's customers start at this moment.")

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("frozen_time", timezone.now().replace(second=0, microsecond=0))


# The quick jumps of the advance form: a day, a week, a month ahead of the clock's time.
JUMPS = {
    "1d": ("+1 day", lambda moment: moment + timedelta(days=1)),
    "1w": ("+1 week", lambda moment: moment + timedelta(weeks=1)),
    "1m": ("+1 month", lambda moment: add_interval(moment, Interval.MONTH)),
}


class AdvanceForm(forms.Form):
    to = UtcMomentField(label="Advance to (UTC)", required=False)
    jump = forms.ChoiceField(choices=[(key, label) for key, (label, _) in JUMPS.items()], required=False)

    def __init__(self, *args, test_clock: TestClock, latest: datetime, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.test_clock = test_clock
        if self.is_bound and self.data.get("jump"):
            # A quick button counts from the clock's time: whatever is typed in the field is left aside.
            self.data = self.data.copy()
            self.data.pop("to", None)
        attrs = self.fields["to"].widget.attrs
        attrs["min"] = f"{test_clock.frozen_time.astimezone(UTC):%Y-%m-%dT%H:%M}"
        attrs["max"] = f"{latest.astimezone(UTC):%Y-%m-%dT%H:%M}"
        self.fields["to"].help_text = f"At most {latest.astimezone(UTC):%Y-%m-%d %H:%M} UTC in one advance."
        if not self.is_bound:
            self.initial["to"] = JUMPS["1d"][1](test_clock.frozen_time)

    def clean(self):
        data = super().clean()
        if data.get("jump"):
            data["to"] = JUMPS[data["jump"]][1](self.test_clock.frozen_time)
        elif not data.get("to") and "to" not in self.errors:
            self.add_error("to", "Pick the moment to advance to, or one of the quick buttons.")
        return data


class PriceChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return selectors.price_label(obj)


class ClockCustomerForm(forms.Form):
    name = forms.CharField(label="Name", max_length=200)
    email = forms.EmailField(label="Email", max_length=254)
    card = forms.ChoiceField(
        label="Test card",
        choices=[(number, f"{number} — {card.label}") for number, card in TEST_CARDS.items()],
        help_text="The test gateway's outcome depends on the card.",
    )
    price = PriceChoiceField(
        label="Subscribe to",
        queryset=selectors.subscribable_prices(),
        to_field_name="public_id",
        required=False,
        empty_label="No subscription",
        help_text="The subscription starts at the clock's time; its first invoice is charged at once.",
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def clean_price(self):
        price = self.cleaned_data.get("price")
        if price is not None and not price.is_recurring:
            raise ValidationError("Choose a recurring price.")
        return price


def first_error(form: forms.Form) -> str:
    """The form's first message, for the page's alert."""
    for errors in form.errors.values():
        if errors:
            return str(errors[0])
    return ""
