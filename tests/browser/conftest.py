"""Browser tests: Playwright for Python driving Debian's Chromium against `live_server`.

Every test here is marked `browser`; without /usr/bin/chromium it is skipped, except in CI where
that fails. A failed test leaves a full-page screenshot in var/browser-failures/. A test whose pages
broke the Content-Security-Policy or threw an uncaught script error fails at teardown, with the
browser's messages.
"""

import os
import re
from pathlib import Path

import pytest

from tests.browser.screens import CHROMIUM, FAILURES

LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if Path(item.fspath).is_relative_to(here):
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="package")
def browser():
    """One Chromium for the browser tests, closed when they are done.

    Playwright's sync API runs an event loop in this thread, so Django would refuse the tests' own
    (synchronous, safe) ORM calls: DJANGO_ALLOW_ASYNC_UNSAFE is set for these tests only, never
    for the subprocesses of other tests (`check --deploy` rightly refuses it).
    """
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser, live_server, request):
    """A fresh browser context on the live server; screenshots itself if the test fails."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    problems = watch_for_script_problems(page)
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        FAILURES.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=FAILURES / f"{request.node.name}.png", full_page=True)
    context.close()
    if problems:
        pytest.fail("The browser reported:\n" + "\n".join(f"  {problem}" for problem in problems), pytrace=False)


CSP_REFUSAL = re.compile(r"Content[- ]Security[- ]Policy", re.IGNORECASE)


def watch_for_script_problems(page) -> list[str]:
    """A list that fills with the page's CSP violations (Chromium reports them in the console: "Refused
    to … because it violates the following Content Security Policy directive …") and uncaught errors."""
    problems = []

    def on_console(message) -> None:
        if CSP_REFUSAL.search(message.text):
            problems.append(f"{page.url}: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"{page.url}: uncaught {error.name}: {error.message}"))
    return problems


def log_in(page, username: str, password: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
