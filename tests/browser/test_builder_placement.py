"""The builder places a new automation among its trigger's others before saving: by drag and drop
or with the Up/Down buttons from the keyboard, the "never reached" notes following each move."""

import pytest
from playwright.sync_api import expect

from automations.engine.matching import in_priority_order
from automations.services.definitions import automation_create
from tests.browser.conftest import log_in

OVERDUE = "invoice.overdue"
VOID = [{"action": "void_invoice", "delay": {"amount": 3, "unit": "days"}, "params": {}}]
LARGE = [{"type": "invoice_amount", "params": {"min": "100"}}]
SHADOWED_BY_MINE = "never reached: “Mine” above it matches every event"


@pytest.fixture
def neighbours(editor):
    """Two automations of 'Invoice is overdue': one for large invoices, then one for all."""
    large = automation_create(name="Large", trigger=OVERDUE, filters=LARGE, steps=VOID)
    catch_all = automation_create(name="Catch all", trigger=OVERDUE, filters=[], steps=VOID)
    return large, catch_all


def _start_new_overdue_automation(page) -> None:
    log_in(page, "eddie", "pw-eddie")
    page.goto("/automations/new/")
    page.get_by_label("Name", exact=True).fill("Mine")
    page.get_by_role("radio", name="Invoice is overdue").check()
    if page.get_by_label("Step 1 action").count() == 0:
        page.get_by_role("button", name="Add step").click()
    page.get_by_label("Step 1 action").select_option(label="Void invoice")
    expect(page.get_by_text("This action has no settings.")).to_be_visible()  # the builder is redrawn


def _rows(page) -> list[str]:
    rows = page.locator("#placement .place-name")
    return [rows.nth(i).inner_text() for i in range(rows.count())]


def _save(page) -> None:
    page.get_by_role("button", name="Save automation").click()
    page.wait_for_url("**/automations/auto_*/")


def test_an_editor_drags_the_new_automation_to_the_top_and_saves_it_there(page, neighbours):
    large, catch_all = neighbours
    _start_new_overdue_automation(page)
    placement = page.locator("#placement")
    expect(placement.locator("[data-draft]")).to_contain_text("never reached: “Catch all” above it matches every event")
    assert _rows(page) == ["Large", "Catch all", "Mine"]

    handle = placement.locator("[data-draft] .drag-handle")
    with page.expect_response(lambda r: "/automations/new/" in r.url and r.request.method == "POST"):
        handle.drag_to(placement.locator(f'[data-automation="{large.public_id}"]'), target_position={"x": 10, "y": 2})
    expect(placement.locator(f'[data-automation="{catch_all.public_id}"]')).to_contain_text(SHADOWED_BY_MINE)
    assert _rows(page) == ["Mine", "Large", "Catch all"]
    expect(page.locator("#place_before")).to_have_value(large.public_id)

    _save(page)
    assert [a.name for a in in_priority_order(OVERDUE)] == ["Mine", "Large", "Catch all"]


def test_the_up_and_down_buttons_move_it_from_the_keyboard_and_keep_the_focus(page, neighbours):
    large, catch_all = neighbours
    _start_new_overdue_automation(page)
    up = page.get_by_role("button", name="Move this automation up")
    up.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#place_before")).to_have_value(catch_all.public_id)
    expect(page.get_by_role("button", name="Move this automation up")).to_be_focused()
    assert _rows(page) == ["Large", "Mine", "Catch all"]

    page.keyboard.press("Enter")  # to the top: Up is disabled there, so the focus goes to Down
    expect(page.locator("#place_before")).to_have_value(large.public_id)
    expect(page.get_by_role("button", name="Move this automation down")).to_be_focused()
    expect(page.get_by_role("button", name="Move this automation up")).to_be_disabled()

    page.keyboard.press("Enter")  # one place down again
    expect(page.locator("#place_before")).to_have_value(catch_all.public_id)
    expect(page.locator(f'#placement [data-automation="{catch_all.public_id}"]')).to_contain_text(SHADOWED_BY_MINE)

    _save(page)
    assert [a.name for a in in_priority_order(OVERDUE)] == ["Large", "Mine", "Catch all"]
