"""Settings → Audit log: every change a person or an API key made, newest first, filtered by
who, what and when. Everyone with a role reads it; nobody changes it (there is no write here)."""

from datetime import date

from django import forms
from django.http import HttpResponse
from django.views.decorators.http import require_safe

from audit import selectors
from audit.words import OBJECT_TYPES
from frame.htmx import HtmxHttpRequest
from frame.lists import ListFilterForm, ListPage, render_list

FIRST_YEAR, LAST_YEAR = 2000, 9000


class AuditFilterForm(ListFilterForm):
    """Search, who, what and a range of days; a bad value is reported and ignored."""

    who = forms.ChoiceField(required=False, label="Who")
    what = forms.ChoiceField(required=False, label="What", choices=[("", "Anything")] + list(OBJECT_TYPES.items()))
    since = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        del self.fields["status"]  # entries have no status
        self.fields["q"].label = "Object"
        self.fields["who"].choices = [("", "Anyone")] + selectors.actors()

    def clean_since(self):
        return _a_day_in_range(self.cleaned_data["since"])

    def clean_until(self):
        return _a_day_in_range(self.cleaned_data["until"])

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error("until", "The end comes before the start.")  # also drops it from cleaned_data
        return cleaned

    def filters(self) -> dict:
        return {name: self.cleaned_data.get(name) or "" for name in ("q", "who", "what", "since", "until")}


def _a_day_in_range(day: date | None) -> date | None:
    """Days far from now are no filter a person means, and at the ends of the calendar a day's
    start in another time zone (or the day after) does not exist."""
    if day is not None and not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise forms.ValidationError(f"Choose a day between the years {FIRST_YEAR} and {LAST_YEAR}.")
    return day


def _select(*, q, who, what, since, until):
    return selectors.entry_list(q=q, who=who, what=what, since=since or None, until=until or None)


ENTRIES = ListPage("audit/entry_list.html", AuditFilterForm, _select)


@require_safe
def entry_list(request: HtmxHttpRequest) -> HttpResponse:
    return render_list(request, ENTRIES)
