"""The browser tests notice what the Content-Security-Policy refuses, and the dashboard's pages send one.

Every `page` of the browser tests is watched (conftest.watch_for_script_problems): a test whose pages
broke the policy fails at teardown. These tests check that the watch sees a refusal at all.
"""

import pytest

from tests.browser.conftest import watch_for_script_problems

POLICY = "default-src 'self'; script-src 'self'; style-src 'self'"


@pytest.fixture
def bare_page(browser, live_server):
    """A page of its own, not watched by the `page` fixture (these tests provoke what it fails on)."""
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def _serve(page, body: str) -> None:
    page.route(
        "**/probe/",
        lambda route: route.fulfill(
            status=200, content_type="text/html", headers={"Content-Security-Policy": POLICY}, body=body
        ),
    )


def test_it_reports_an_inline_script_the_policy_refuses(bare_page):
    problems = watch_for_script_problems(bare_page)
    _serve(bare_page, "<!doctype html><title>probe</title><script>document.title = 'ran'</script>")
    bare_page.goto("/probe/")
    assert bare_page.title() == "probe"  # refused, not run
    assert len(problems) == 1, problems
    assert "violates the following Content Security Policy directive" in problems[0]


def test_it_reports_an_inline_style_the_policy_refuses(bare_page):
    problems = watch_for_script_problems(bare_page)
    _serve(bare_page, '<!doctype html><title>probe</title><p style="color: red">red</p>')
    bare_page.goto("/probe/")
    bare_page.wait_for_timeout(200)  # the refusal is reported as the element is styled
    assert any("style-src" in problem for problem in problems), problems


def test_it_reports_an_uncaught_script_error(bare_page):
    problems = watch_for_script_problems(bare_page)
    bare_page.route(
        "**/probe.js", lambda route: route.fulfill(content_type="text/javascript", body="undefinedThing();")
    )
    _serve(bare_page, '<!doctype html><title>probe</title><script src="/probe.js"></script>')
    bare_page.goto("/probe/")
    assert any("ReferenceError" in problem for problem in problems), problems


def test_a_well_behaved_page_reports_nothing(bare_page):
    problems = watch_for_script_problems(bare_page)
    bare_page.route("**/probe.js", lambda route: route.fulfill(content_type="text/javascript", body="void 0;"))
    _serve(bare_page, '<!doctype html><title>probe</title><script src="/probe.js"></script>')
    bare_page.goto("/probe/")
    assert problems == []


def test_the_dashboards_pages_send_a_policy_that_allows_scripts_and_styles_from_self_only(page, editor):
    response = page.goto("/accounts/login/")
    policy = response.headers.get("content-security-policy", "")
    assert policy, "no Content-Security-Policy header: the browser tests' watch would see nothing"
    directives = dict((d.strip().split(" ", 1) + [""])[:2] for d in policy.split(";") if d.strip())
    assert directives.get("script-src", directives.get("default-src", "")).split()[0] == "'self'", policy
    assert "'unsafe-inline'" not in policy, policy
