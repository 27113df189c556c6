"""The browser can reach the dashboard: log in, land on the overview, log out."""

from playwright.sync_api import expect

from tests.browser.conftest import log_in


def test_an_editor_logs_in_and_sees_the_overview(page, editor):
    log_in(page, "eddie", "pw-eddie")
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    expect(page.get_by_text("Editor", exact=True)).to_be_visible()


def test_a_wrong_password_is_refused_with_a_message(page, editor):
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("eddie")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url("/accounts/login/")
    expect(page.locator("main")).to_contain_text("enter a correct username and password")
