"""The recovery analytics page, its CSV, its definitions and the panel on an automation's page:
viewers and editors read them; a period the page cannot show is a 400 that says why."""

import csv
import io
import re

import pytest
import time_machine
from django.urls import reverse

from automations.views.analytics import readme_definitions
from tests.automations.test_analytics import at, dataset  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db

PERIOD = {"from": "2026-03-02", "to": "2026-03-15"}


def text(response) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


def test_it_shows_the_figures_of_the_period_to_a_viewer(viewer_client, dataset):  # noqa: F811
    response = viewer_client.get(reverse("analytics"), PERIOD)
    assert response.status_code == 200
    page = text(response)
    assert "From 2026-03-02 to 2026-03-15 (14 days)" in page
    assert "1610.00 EUR failed: 8 invoices" in page
    assert "750.00 EUR recovered: 6 invoices" in page
    assert "87.0% recovery rate by amount (62.5% by count)" in page
    assert "4.5 days median time to recover" in page
    assert "140.00 EUR lost: 2 invoices" in page
    assert "Not converted: 1 failed, 1 recovered and 0 lost invoices in GBP" in page


def test_it_names_the_automation_and_version_each_recovery_is_credited_to(viewer_client, dataset):  # noqa: F811
    a, _ = dataset
    page = text(viewer_client.get(reverse("analytics"), PERIOD))
    assert "Chase failed payments v2 2 200.00" in page
    assert "Chase failed payments v1 1 100.00" in page
    assert "Overdue reminders v1 1 50.00" in page
    assert "No automation — 2 400.00" in page
    assert (
        f'href="{reverse("automation_detail", args=[a.public_id])}"'
        in viewer_client.get(reverse("analytics"), PERIOD).content.decode()
    )


def test_it_draws_the_weekly_series_as_an_accessible_svg_beside_its_table(viewer_client, dataset):  # noqa: F811
    html = viewer_client.get(reverse("analytics"), PERIOD).content.decode()
    svg = html[html.index("<svg") : html.index("</svg>")]
    assert 'role="img"' in svg and "<title" in svg and "<desc" in svg
    assert "Week of 2026-03-02: failed 380.00, recovered 400.00, lost 0.00" in svg
    assert svg.count('class="an-bar an-bar-') == 6  # two weeks, three bars each
    assert "style=" not in html
    assert "2026-03-09 5 1230.00 4 350.00 2 140.00" in text(viewer_client.get(reverse("analytics"), PERIOD))


def test_it_splits_by_trigger_and_decline_type(viewer_client, dataset):  # noqa: F811
    page = text(viewer_client.get(reverse("analytics"), PERIOD))
    assert "Subscription payment fails 3 300.00" in page
    assert "Hard decline 3 1180.00 2 1100.00 93.2%" in page
    assert "Not recorded 1 60.00 0 0.00 0.0%" in page


def test_it_shows_the_last_30_days_by_default_and_the_presets(editor_client):
    response = editor_client.get(reverse("analytics"))
    assert response.status_code == 200
    page = text(response)
    assert "(30 days)" in page and "Nothing recovered in this period." in page
    assert "(365 days)" in text(editor_client.get(reverse("analytics"), {"days": "365"}))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"days": "7"}, "Choose a period of 30, 90, 365 days"),
        ({"from": "2026-03-15", "to": "2026-03-02"}, "is before its start"),
        ({"from": "tomorrow", "to": "2026-03-02"}, "as YYYY-MM-DD"),
        ({"from": "2026-03-02"}, "Enter both dates"),
        ({"from": "0001-01-01", "to": "2026-03-02"}, "between 2000 and 9000"),
    ],
)
def test_it_refuses_a_period_it_cannot_show(viewer_client, params, message):
    response = viewer_client.get(reverse("analytics"), params)
    assert response.status_code == 400
    assert message in text(response)
    csv_response = viewer_client.get(reverse("analytics_csv"), params)
    assert csv_response.status_code == 400
    assert message in csv_response.content.decode()


@pytest.mark.parametrize("value", ["nul\x00byte", "9" * 40, "2026-13-45", "<script>", "  ", "\u202e"])
def test_hostile_dates_are_refused_with_a_reason(viewer_client, value):
    for name in ("analytics", "analytics_csv"):
        response = viewer_client.get(reverse(name), {"from": value, "to": "2026-03-02", "days": value})
        assert response.status_code == 400, (name, value)
        assert "Enter" in response.content.decode()


def test_the_csv_has_the_totals_the_weekly_series_and_the_splits(viewer_client, dataset):  # noqa: F811
    response = viewer_client.get(reverse("analytics_csv"), PERIOD)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="recovery-2026-03-02-to-2026-03-15.csv"'
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == [
        "section", "label", "failed_count", "failed_amount", "recovered_count", "recovered_amount",
        "lost_count", "lost_amount", "not_converted", "currency",
    ]  # fmt: skip
    assert rows[1:] == [
        ["total", "2026-03-02 to 2026-03-15", "8", "1610.00", "6", "750.00", "2", "140.00", "2", "EUR"],
        ["week", "2026-03-02", "3", "380.00", "2", "400.00", "0", "0.00", "0", "EUR"],
        ["week", "2026-03-09", "5", "1230.00", "4", "350.00", "2", "140.00", "2", "EUR"],
        ["automation", "Chase failed payments v2", "", "", "2", "200.00", "", "", "1", "EUR"],
        ["automation", "Chase failed payments v1", "", "", "1", "100.00", "", "", "0", "EUR"],
        ["automation", "Overdue reminders v1", "", "", "1", "50.00", "", "", "0", "EUR"],
        ["automation", "No automation", "", "", "2", "400.00", "", "", "0", "EUR"],
        ["trigger", "Subscription payment fails", "", "", "3", "300.00", "", "", "1", "EUR"],
        ["trigger", "Invoice is overdue", "", "", "1", "50.00", "", "", "0", "EUR"],
        ["trigger", "No automation", "", "", "2", "400.00", "", "", "0", "EUR"],
        ["decline_type", "Hard decline", "3", "1180.00", "2", "1100.00", "", "", "0", "EUR"],
        ["decline_type", "Soft decline", "4", "370.00", "3", "300.00", "", "", "2", "EUR"],
        ["decline_type", "Not recorded", "1", "60.00", "0", "0.00", "", "", "0", "EUR"],
    ]


def test_the_page_links_its_definitions_which_are_the_readmes(viewer_client):
    html = viewer_client.get(reverse("analytics")).content.decode()
    assert f'href="{reverse("analytics_definitions")}"' in html
    response = viewer_client.get(reverse("analytics_definitions"))
    assert response.status_code == 200
    page = text(response)
    assert "Recovered : invoices paid in the period" in page
    assert "Recovered by : the automation and version of the run that was active" in page
    assert len(readme_definitions()) >= 2


def test_an_automation_page_shows_what_its_runs_recovered_by_version(viewer_client, dataset):  # noqa: F811
    a, b = dataset
    with time_machine.travel(at(16), tick=False):  # the last 30 days: 15 February to 16 March
        response = viewer_client.get(reverse("automation_detail", args=[a.public_id]))
        other = text(viewer_client.get(reverse("automation_detail", args=[b.public_id])))
    assert response.status_code == 200
    page = text(response)
    assert "Recovered by this automation In the last 30 days" in page
    assert "v2 2 200.00 v1 1 100.00 Total 3 300.00" in page
    assert "1 invoice in GBP (no exchange rate) counted but left out of the amounts" in page
    assert f'href="{reverse("analytics")}?days=30"' in response.content.decode()
    assert "v1 1 50.00 Total 1 50.00" in other


def test_an_automation_page_says_when_it_recovered_nothing(viewer_client, dataset):  # noqa: F811
    a, _ = dataset
    page = text(viewer_client.get(reverse("automation_detail", args=[a.public_id])))
    assert "Nothing recovered in the last 30 days." in page


def test_a_signed_in_user_without_a_role_sees_nothing(client, outsider):
    client.force_login(outsider)
    assert client.get(reverse("analytics")).status_code == 403
    assert client.get(reverse("analytics_csv")).status_code == 403
