"""The backtest in the browser (issue 14): started from an automation's page, its progress follows
the worker live, its chart and tables pass axe-core; the builder backtests its unsaved draft."""

from playwright.sync_api import expect

from automations.models import Backtest
from automations.services.backtests import run_backtest
from automations.services.definitions import automation_create
from tests.automations.test_backtest import overdue, paid
from tests.browser.conftest import log_in
from tests.browser.test_accessibility import axe_violations

OVERDUE = "invoice.overdue"
STEPS = [
    {"action": "send_team_email", "delay": {"amount": 1, "unit": "days"},
     "params": {"recipient": "eddie@team.example", "message": "Overdue {number}"}},
    {"action": "void_invoice", "delay": {"amount": 18, "unit": "days"}, "params": {}},
]  # fmt: skip


def test_an_editor_backtests_an_automation_and_reads_the_chart_and_the_objects(page, editor):
    chase = automation_create(name="Chase", trigger=OVERDUE, filters=[], steps=STEPS)
    invoice = overdue(20)
    paid(invoice, 5)
    log_in(page, "eddie", "pw-eddie")
    page.goto(f"/automations/{chase.public_id}/")
    page.get_by_role("link", name="Backtest").click()
    page.get_by_label("Days of history").fill("30")
    page.get_by_role("button", name="Run the backtest").click()

    expect(page.get_by_role("heading", name="Backtest of “Chase”")).to_be_visible()
    expect(page.get_by_role("img", name="Backtest figures over the last 30 days")).to_be_visible()
    ended = page.locator('tr[data-figure="ended-early"]')
    expect(ended).to_contain_text("1")
    ended.get_by_text("1 object").click()
    expect(ended.get_by_role("link", name=invoice.public_id)).to_be_visible()
    assert axe_violations(page) == []


def test_the_progress_of_a_queued_backtest_updates_until_its_figures_show(page, editor, viewer):
    chase = automation_create(name="Chase", trigger=OVERDUE, filters=[], steps=STEPS)
    overdue(3)
    backtest = Backtest.objects.create(
        automation=chase, trigger=OVERDUE, days=30,
        definition={"name": "Chase", "version": 1, "filters": [], "steps": STEPS, "draft": False},
    )  # fmt: skip
    log_in(page, "vera", "pw-vera")
    page.goto(f"/automations/backtests/{backtest.public_id}/")
    expect(page.get_by_role("heading", name="Waiting for a worker")).to_be_visible()
    assert axe_violations(page) == []
    run_backtest(backtest.pk)  # the worker
    expect(page.get_by_role("heading", name="What it would have done")).to_be_visible()
    expect(page.locator('tr[data-figure="started"]')).to_contain_text("1")
    expect(page.get_by_role("button", name="Run it again")).to_have_count(0)  # a viewer


def test_the_builder_backtests_its_draft_before_it_is_saved(page, editor):
    chase = automation_create(name="Chase", trigger=OVERDUE, filters=[], steps=STEPS)
    overdue(3)
    log_in(page, "eddie", "pw-eddie")
    page.goto(f"/automations/{chase.public_id}/edit/")
    page.get_by_label("Name", exact=True).fill("Chase, edited")
    page.get_by_role("button", name="Backtest this draft").click()

    expect(page.get_by_role("heading", name="Backtest of the draft “Chase, edited”")).to_be_visible()
    expect(page.locator('tr[data-figure="started"]')).to_contain_text("1")
    assert chase.versions.count() == 1  # nothing saved
