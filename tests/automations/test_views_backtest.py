"""The backtest pages: start one from an automation's page or the builder's draft, follow its
progress, read its table and chart; editors start backtests, viewers read them."""

import re

import pytest
from django.urls import reverse

from automations.models import Backtest
from automations.services import backtests
from tests.automations.test_backtest import memo, overdue, paid, void
from tests.automations.test_engine import automation

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def start_url(auto) -> str:
    return reverse("automation_backtest", args=[auto.public_id])


def detail_url(backtest) -> str:
    return reverse("backtest_detail", args=[backtest.public_id])


def draft_post(**fields) -> dict:
    return {
        "name": "Draft chase",
        "trigger": "invoice.overdue",
        "step-0-action": "send_team_email",
        "step-0-amount": "1",
        "step-0-unit": "days",
        "step-0-recipient": "eddie@team.example",  # the editor: a team member
        "step-0-message": "Overdue {number}",
        **fields,
    }


@pytest.fixture
def chase(db):
    return automation("invoice.overdue", [memo(1), void(18)], name="Chase")


def test_the_automation_page_links_to_its_backtests(viewer_client, chase):
    html = viewer_client.get(reverse("automation_detail", args=[chase.public_id])).content.decode()
    assert f'href="{start_url(chase)}"' in html


def test_an_editor_starts_a_backtest_and_reads_its_table_and_chart(editor_client, chase):
    invoice = overdue(20)
    paid(invoice, 5)
    response = editor_client.post(start_url(chase), {"days": "30"})
    backtest = Backtest.objects.get()
    assert response.status_code == 302 and response["Location"] == detail_url(backtest)
    assert (backtest.automation, backtest.days, backtest.status) == (chase, 30, "done")
    html = editor_client.get(detail_url(backtest)).content.decode()
    assert "<svg" in html and "<title" in html and "<desc" in html
    assert 'role="img"' in html and " style=" not in html
    row = re.search(r'<tr data-figure="ended-early">.*?</tr>', html, re.S).group(0)
    assert ">1<" in row and reverse("invoice_detail", args=[invoice.public_id]) in row
    assert re.search(r'<tr data-step="2">.*?Void invoice', html, re.S)
    assert "hx-trigger" not in html  # finished: no polling


def test_a_queued_backtest_shows_its_progress_and_polls_until_it_is_done(editor_client, chase):
    backtest = Backtest.objects.create(automation=chase, trigger=chase.trigger, days=30, progress=40, status="running",
                                       definition={"name": "Chase", "filters": [], "steps": [memo(1)]})  # fmt: skip
    html = editor_client.get(detail_url(backtest)).content.decode()
    assert 'hx-trigger="every 1s"' in html and 'value="40"' in html
    fragment = editor_client.get(detail_url(backtest), **HTMX).content.decode()
    assert fragment.lstrip().startswith('<div id="report"') and "<html" not in fragment
    backtests.run_backtest(backtest.pk)
    fragment = editor_client.get(detail_url(backtest), **HTMX).content.decode()
    assert "hx-trigger" not in fragment and "<svg" in fragment


@pytest.mark.parametrize("days", ["0", "366", "abc", ""])
def test_a_number_of_days_outside_1_to_365_is_refused_with_a_message(editor_client, chase, days):
    response = editor_client.post(start_url(chase), {"days": days})
    assert response.status_code == 400
    assert "Choose a number of days from 1 to 365." in response.content.decode()
    assert not Backtest.objects.exists()


def test_backtesting_again_with_bad_days_answers_400(editor_client, chase):
    editor_client.post(start_url(chase), {"days": "30"})
    backtest = Backtest.objects.get()
    response = editor_client.post(reverse("backtest_again", args=[backtest.public_id]), {"days": "400"})
    assert response.status_code == 400 and "from 1 to 365" in response.content.decode()
    response = editor_client.post(reverse("backtest_again", args=[backtest.public_id]), {"days": "7"})
    assert response.status_code == 302 and Backtest.objects.filter(days=7).exists()


def test_a_viewer_reads_backtests_but_cannot_start_one(viewer_client, editor, chase):
    backtest = backtests.backtest_automation(automation=chase, days=30, user=editor)
    assert viewer_client.get(start_url(chase)).status_code == 200
    assert viewer_client.get(detail_url(backtest)).status_code == 200
    assert viewer_client.post(start_url(chase), {"days": "30"}).status_code == 403
    assert viewer_client.post(reverse("backtest_again", args=[backtest.public_id]), {"days": "7"}).status_code == 403
    assert viewer_client.post(reverse("backtest_draft"), draft_post()).status_code == 403
    assert Backtest.objects.count() == 1
    assert "Run the backtest" not in viewer_client.get(start_url(chase)).content.decode()


def test_the_builder_draft_is_backtested_last_among_its_triggers_automations(editor_client, chase):
    invoice = overdue(3)
    response = editor_client.post(reverse("backtest_draft"), draft_post())
    backtest = Backtest.objects.get()
    assert response.status_code == 302 and backtest.automation is None and backtest.definition["draft"]
    assert backtest.result["taken"][0]["objects"] == [invoice.public_id]  # Chase is checked first
    html = editor_client.get(detail_url(backtest)).content.decode()
    assert "the draft" in html and "Draft chase" in html


def test_a_draft_placed_first_takes_the_events(editor_client, chase):
    overdue(3)
    editor_client.post(reverse("backtest_draft"), draft_post(place_before=chase.public_id))
    assert Backtest.objects.get().result["started"]["count"] == 1


def test_an_invalid_draft_answers_400_with_its_problems(editor_client):
    response = editor_client.post(reverse("backtest_draft"), draft_post(**{"step-0-recipient": ""}))
    assert response.status_code == 400
    assert not Backtest.objects.exists()
    assert 'role="alert"' in response.content.decode()


def test_an_unknown_backtest_is_404(viewer_client):
    assert viewer_client.get(reverse("backtest_detail", args=["bt_nope"])).status_code == 404
