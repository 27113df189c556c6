"""An automation's page (definition, versions, runs by status) and a run's timeline, with cancel."""

import re
from datetime import timedelta
from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone

from automations.engine.dispatch import dispatch_due
from automations.models import Run, RunStep
from automations.services.definitions import automation_create, automation_update
from billing import services
from billing.models import RetryPolicy
from tests.automations.test_engine import VOID, _overdue_invoice, automation
from tests.automations.test_services_runs import make_run
from tests.factories import DECLINED_CARD, make_customer, make_invoice, make_price

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
LATER_VOID = {**VOID, "delay": {"amount": 3, "unit": "days"}}
YEARLY = [{"type": "subscription_interval", "params": {"interval": "year"}}]


def detail(auto, **query) -> str:
    return reverse("automation_detail", args=[auto.public_id]) + (
        "?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else ""
    )


def run_url(run) -> str:
    return reverse("run_detail", args=[run.automation.public_id, run.public_id])


def cancel_url(run) -> str:
    return reverse("run_cancel", args=[run.automation.public_id, run.public_id])


def run_ids(html: str) -> list[str]:
    return re.findall(r'<tr data-run="(run_\w+)">', html)


# --- The automation's page ------------------------------------------------------------------------


def test_the_page_shows_the_definition_summary_filters_steps_and_an_edit_link(editor_client, editor):
    RetryPolicy.objects.create(name="Annual", schedule_kind="day_offsets", day_offsets=[3, 7])
    steps = [
        {"action": "set_retry_policy", "delay": {"amount": 0, "unit": "days"}, "params": {"policy": "Annual"}},
        {"action": "cancel_subscription", "delay": {"amount": 7, "unit": "days"}, "params": {}},
    ]
    auto = automation_create(
        name="Annual dunning", trigger="subscription.payment_failed", filters=YEARLY, steps=steps, user=editor
    )
    text = editor_client.get(detail(auto)).text
    assert "<h1>Annual dunning" in text
    assert "Subscription payment fails" in text
    assert (
        "When a subscription payment fails, for yearly subscriptions: start retry policy Annual, wait 7 days, "
        "cancel the subscription"
    ) in text
    assert "<strong>Subscription interval</strong>: yearly subscriptions" in text
    assert "7 days after the previous step" in text and "right after the trigger" in text
    assert f'href="{reverse("automation_edit", args=[auto.public_id])}">Edit</a>' in text
    assert ">Turn off</button>" in text


def step_parameters(html: str) -> list[list[tuple[str, str]]]:
    """Each step's parameters as (name, value) pairs, as the Steps list of the page shows them."""
    steps = html[html.index('<ol class="steps">') :]
    steps = steps[: steps.index("</ol>")]
    items = steps.split("<li")[1:]
    pairs = [re.findall(r"<dt>(.*?)</dt>\s*<dd>(.*?)</dd>", item, flags=re.S) for item in items]
    return [[(name, " ".join(re.sub(r"<[^>]+>", " ", value).split())) for name, value in p] for p in pairs]


def test_the_page_shows_every_parameter_of_every_step(editor_client, editor):
    RetryPolicy.objects.create(
        name="Annual", schedule_kind="day_offsets", day_offsets=[3, 7], end_behavior="mark_unpaid"
    )
    new_policy = {"name": "Quick", "max_retries": 2, "within_days": 5, "end_behavior": "cancel_subscription"}
    steps = [
        {"action": "set_retry_policy", "delay": {"amount": 0, "unit": "days"}, "params": {"policy": "Annual"}},
        {"action": "set_retry_policy", "delay": {"amount": 0, "unit": "days"}, "params": {"new_policy": new_policy}},
        {
            "action": "send_team_email",
            "delay": {"amount": 1, "unit": "days"},
            "params": {"recipient": editor.email, "message": "Invoice {number} failed."},
        },
        {
            "action": "send_custom_event_webhook",
            "delay": {"amount": 0, "unit": "days"},
            "params": {"label": "win_back"},
        },
        {"action": "cancel_subscription", "delay": {"amount": 7, "unit": "days"}, "params": {}},
    ]
    auto = automation_create(name="Everything", trigger="subscription.payment_failed", filters=[], steps=steps)
    assert step_parameters(editor_client.get(detail(auto)).text) == [
        [
            ("Retry policy", "Annual"),
            ("Schedule", "retry on days 3, 7 after the first failure"),
            ("After the last failed retry", "Mark the subscription unpaid"),
        ],
        [
            ("Retry policy", "Quick (created when the step first runs)"),
            ("Schedule", "up to 2 retries within 5 days"),
            ("After the last failed retry", "Cancel the subscription"),
        ],
        [("Recipient", editor.email), ("Message", "Invoice {number} failed.")],
        [("Event label", "win_back")],
        [],
    ]


def test_the_page_shows_a_customer_emails_own_subject_and_body_or_says_it_uses_the_default(viewer_client):
    own = {"subject": "About {number}", "body": "Hello {customer}, please pay: {pay_link}"}
    steps = [
        {"action": "email_customer", "delay": VOID["delay"], "params": own},
        {"action": "email_customer", "delay": VOID["delay"], "params": {}},
    ]
    auto = automation_create(name="Nudge", trigger="invoice.overdue", filters=[], steps=steps)
    default = "the default (in the customer's language)"
    shown = [
        [(name, unescape(value)) for name, value in step]
        for step in step_parameters(viewer_client.get(detail(auto)).text)
    ]
    assert shown == [
        [("Subject", "About {number}"), ("Body", "Hello {customer}, please pay: {pay_link}")],
        [("Subject", default), ("Body", default)],
    ]


def test_the_page_shows_the_survey_link_of_a_cancellation_email(viewer_client):
    with_link = {"survey_url": "https://team.example/survey"}
    auto = automation(
        "subscription.canceled", [{"action": "send_cancellation_email", "delay": VOID["delay"], "params": with_link}]
    )
    without = automation(
        "subscription.canceled", [{"action": "send_cancellation_email", "delay": VOID["delay"], "params": {}}]
    )
    assert step_parameters(viewer_client.get(detail(auto)).text) == [[("Survey link", "https://team.example/survey")]]
    assert 'href="https://team.example/survey"' in viewer_client.get(detail(auto)).text
    assert step_parameters(viewer_client.get(detail(without)).text) == [[("Survey link", "none")]]


def test_the_version_history_says_who_saved_each_version_and_how_many_runs_it_has(editor_client, editor):
    auto = automation_create(name="Chase", trigger="invoice.overdue", filters=[], steps=[VOID], user=editor)
    make_run(auto)
    make_run(auto, status="completed")
    automation_update(automation=auto, filters=[], steps=[LATER_VOID], user=editor)
    text = editor_client.get(detail(auto)).text
    history = text[text.index("Version history") : text.index('id="runs-heading"')]
    rows = re.findall(r"<tr>\s*<td>(\d)(.*?)</tr>", history, re.S)
    assert [number for number, _ in rows] == ["2", "1"]
    assert "Current" in rows[0][1] and "eddie" in rows[0][1] and "wait 3 days" in rows[0][1]
    assert re.search(r'<td class="num">0</td>\s*$', rows[0][1])
    assert re.search(r'<td class="num">2</td>\s*$', rows[1][1])


def test_viewers_see_the_page_without_edit_or_toggle(viewer_client):
    auto = automation("invoice.overdue", [VOID], name="Seen")
    text = viewer_client.get(detail(auto)).text
    assert "<h1>Seen" in text
    assert "Edit</a>" not in text and "Turn off" not in text
    assert reverse("automation_toggle", args=[auto.public_id]) not in text


def test_the_runs_table_links_each_run_and_its_object_and_shows_the_next_step(
    viewer_client, django_capture_on_commit_callbacks
):
    auto = automation("invoice.overdue", [LATER_VOID])
    invoice = _overdue_invoice(django_capture_on_commit_callbacks)
    run = Run.objects.get()
    text = viewer_client.get(detail(auto)).text
    assert run_ids(text) == [run.public_id]
    assert f'href="{run_url(run)}"' in text
    assert f'<a href="{reverse("invoice_detail", args=[invoice.public_id])}">{invoice.public_id}</a>' in text
    assert '<span class="badge badge-active">Active</span>' in text
    assert "1. Void invoice" in text


def test_runs_of_quotes_and_subscriptions_link_to_their_pages(viewer_client):
    auto = automation("invoice.overdue", [VOID])
    make_run(auto, object_type="quote", object_id="qt_1")
    make_run(auto, object_type="subscription", object_id="sub_1")
    text = viewer_client.get(detail(auto)).text
    assert f'href="{reverse("quote_detail", args=["qt_1"])}"' in text
    assert f'href="{reverse("subscription_detail", args=["sub_1"])}"' in text


@pytest.mark.parametrize(
    ("status", "expected"),
    [("active", {"active"}), ("completed", {"completed"}), ("ended", {"ended"}), ("canceled", {"canceled"}),
     ("failed", {"failed"}), ("all", {"active", "completed", "ended", "canceled", "failed"})],
)  # fmt: skip
def test_the_runs_can_be_filtered_by_status(viewer_client, status, expected):
    auto = automation("invoice.overdue", [VOID])
    by_id = {make_run(auto, status=s).public_id: s for s in ["active", "completed", "ended", "canceled", "failed"]}
    text = viewer_client.get(detail(auto, status=status)).text
    assert {by_id[i] for i in run_ids(text)} == expected
    assert re.search(rf'<option value="{status}" selected>', text)


def test_an_htmx_filter_returns_only_the_results(viewer_client):
    auto = automation("invoice.overdue", [VOID])
    make_run(auto, status="completed")
    response = viewer_client.get(detail(auto, status="completed"), **HTMX)
    assert response.text.lstrip().startswith('<div id="results"')
    assert "<html" not in response.text and len(run_ids(response.text)) == 1
    assert response.headers["Vary"] == "HX-Request" or "HX-Request" in response.headers["Vary"]


def test_an_unknown_status_is_ignored_with_a_message(viewer_client):
    auto = automation("invoice.overdue", [VOID])
    make_run(auto)
    response = viewer_client.get(detail(auto, status="<script>"))
    assert response.status_code == 200
    assert "Unknown run status: showing all runs." in response.text and len(run_ids(response.text)) == 1
    assert "<script>" not in response.text.split('id="results"')[1]


def test_runs_are_paginated_25_a_page_with_links_that_keep_the_filter(viewer_client):
    auto = automation("invoice.overdue", [VOID])
    start = timezone.now()
    for i in range(30):
        make_run(auto, status="completed", started_at=start - timedelta(minutes=i))
    text = viewer_client.get(detail(auto, status="completed")).text
    assert len(run_ids(text)) == 25 and "30 runs · page 1 of 2" in text
    assert 'href="?status=completed&amp;page=2"' in text
    assert len(run_ids(viewer_client.get(detail(auto, status="completed", page=2)).text)) == 5
    for bad in ["99", "x", "-1"]:
        assert viewer_client.get(detail(auto, page=bad)).status_code == 200


def test_no_runs_yet_says_so(viewer_client):
    auto = automation("invoice.overdue", [VOID])
    assert "No runs yet." in viewer_client.get(detail(auto)).text
    text = viewer_client.get(detail(auto, status="failed")).text
    assert "No failed runs." in text


def test_an_unknown_automation_or_run_is_not_found(viewer_client):
    auto, other = automation("invoice.overdue", [VOID]), automation("invoice.overdue", [VOID])
    run = make_run(other)
    assert viewer_client.get(reverse("automation_detail", args=["auto_nope"])).status_code == 404
    assert viewer_client.get(reverse("run_detail", args=[auto.public_id, "run_nope"])).status_code == 404
    assert viewer_client.get(reverse("run_detail", args=[auto.public_id, run.public_id])).status_code == 404


def test_the_runs_page_keeps_a_fixed_number_of_queries(viewer_client, django_assert_max_num_queries):
    auto = automation("invoice.overdue", [VOID, LATER_VOID])
    for i in range(60):
        make_run(auto, status=["active", "completed", "ended"][i % 3], object_id=f"in_{i}")
    with django_assert_max_num_queries(17):  # 3 for the recovery panel (currency, versions, figures)
        response = viewer_client.get(detail(auto))
    assert len(run_ids(response.text)) == 25
    with django_assert_max_num_queries(10):
        viewer_client.get(detail(auto, status="active", page=2), **HTMX)


# --- A run's timeline -----------------------------------------------------------------------------


def test_the_timeline_shows_the_event_each_step_its_outcome_and_the_next_step(
    viewer_client, django_capture_on_commit_callbacks
):
    memo = {"action": "mark_invoice_uncollectible", "delay": {"amount": 0, "unit": "days"}, "params": {}}
    auto = automation("invoice.overdue", [memo, LATER_VOID], name="Chase")
    _overdue_invoice(django_capture_on_commit_callbacks)
    dispatch_due()
    run = Run.objects.get()
    RunStep.objects.filter(run=run, position=1).update(result={"email": "em_123"})
    text = viewer_client.get(run_url(run)).text
    event = run.event
    assert f"<code>invoice.overdue</code> at {event.created:%Y-%m-%d %H:%M:%S}" in text
    assert f"<code>{event.public_id}</code>" in text
    steps = re.findall(r'<li class="timeline-step (step-\w+)[^"]*" data-step="(\d)"', text)
    assert steps == [("step-succeeded", "1"), ("step-pending", "2")]
    assert "Mark invoice uncollectible" in text and "email: <code>em_123</code>" in text
    assert "3 days after the previous step" in text
    second = run.steps.get(position=2)
    next_step = text[text.index("<dt>Next step</dt>") :]
    assert re.match(
        rf"<dt>Next step</dt>\s*<dd>\s*2\. Void invoice —\s*{second.scheduled_at:%Y-%m-%d %H:%M}", next_step
    )
    assert re.search(r'<li class="timeline-step step-pending is-next" data-step="2"\s*aria-current="step"', text)
    assert auto.name in text


def test_the_timeline_of_an_anchored_run_shows_its_date_and_skip_reasons(viewer_client):
    reminder = {"action": "send_invoice_will_be_due_webhook", "delay": {"amount": 3, "unit": "days",
                "direction": "before"}, "params": {}}  # fmt: skip
    auto = automation("invoice.due_date_upcoming", [reminder])
    anchor = timezone.now() + timedelta(days=1)
    run = make_run(auto, anchor_at=anchor)
    RunStep.objects.filter(run=run).update(status="skipped", error="Its time had passed when the run started.")
    text = viewer_client.get(run_url(run)).text
    assert f"<dt>Steps timed from</dt><dd>{anchor:%Y-%m-%d %H:%M}</dd>" in text
    assert "3 days before the due date" in text
    assert "<dt>Skipped because</dt>" in text and "Its time had passed when the run started." in text


def test_steps_after_a_waiting_step_show_no_misleading_time(viewer_client, django_capture_on_commit_callbacks):
    RetryPolicy.objects.create(name="Annual", schedule_kind="day_offsets", day_offsets=[3, 7])
    steps = [
        {"action": "set_retry_policy", "delay": {"amount": 0, "unit": "minutes"}, "params": {"policy": "Annual"}},
        {"action": "cancel_subscription", "delay": {"amount": 7, "unit": "days"}, "params": {}},
        {"action": "mark_invoice_uncollectible", "delay": {"amount": 0, "unit": "days"}, "params": {}},
    ]
    automation("subscription.payment_failed", steps)
    with django_capture_on_commit_callbacks(execute=True):
        services.subscription_create(
            customer=make_customer(default_payment_method=DECLINED_CARD), items=[(make_price(), 1)]
        )
    dispatch_due()
    run = Run.objects.get(trigger="subscription.payment_failed")
    first = run.steps.get(position=1)
    assert first.status == "pending" and "waiting" in first.result
    text = viewer_client.get(run_url(run)).text
    assert f"waiting: {first.result['waiting']}; looks again at {first.scheduled_at:%Y-%m-%d %H:%M}" in text
    assert text.count("after the previous step <span") == 2
    for step in run.steps.filter(position__gt=1):
        assert f"{step.scheduled_at:%Y-%m-%d %H:%M}" not in text.split('id="timeline-heading"')[1]


def test_a_finished_run_has_no_next_step_and_no_cancel_button(editor_client):
    auto = automation("invoice.overdue", [VOID])
    run = make_run(auto, status="ended", reason="invoice paid")
    text = editor_client.get(run_url(run)).text
    assert "Ended: invoice paid" in text and "None: the run is ended." in text
    assert "Cancel run" not in text


# --- Canceling a run --------------------------------------------------------------------------------


def test_editors_get_a_cancel_button_that_opens_a_confirmation_dialog(editor_client):
    run = make_run(automation("invoice.overdue", [LATER_VOID]))
    text = editor_client.get(run_url(run)).text
    assert 'data-opens-dialog="cancel-run-dialog" aria-haspopup="dialog">Cancel run</button>' in text
    assert '<dialog id="cancel-run-dialog"' in text
    assert '<input type="hidden" name="confirm" value="yes">' in text


def test_canceling_without_confirmation_asks_on_a_page_first(editor_client):
    run = make_run(automation("invoice.overdue", [LATER_VOID]))
    response = editor_client.post(cancel_url(run))
    assert response.status_code == 200 and "Cancel this run?" in response.text
    assert "<dialog" not in response.text and "Yes, cancel the run</button>" in response.text
    assert Run.objects.get(pk=run.pk).status == "active"


def test_a_confirmed_cancel_cancels_the_run_and_its_pending_steps(editor_client):
    run = make_run(automation("invoice.overdue", [LATER_VOID]))
    response = editor_client.post(cancel_url(run), {"confirm": "yes"})
    assert response.status_code == 302 and response.url == run_url(run)
    run.refresh_from_db()
    assert (run.status, run.reason) == ("canceled", "canceled by eddie")
    assert run.steps.get().status == "canceled"
    assert "none of its remaining steps will happen" in editor_client.get(response.url).text


def test_a_finished_run_cannot_be_canceled(editor_client):
    run = make_run(automation("invoice.overdue", [VOID]), status="completed")
    response = editor_client.post(cancel_url(run), {"confirm": "yes"})
    assert response.status_code == 409 and "already finished (completed)" in response.text
    assert Run.objects.get(pk=run.pk).status == "completed"


def test_viewers_cannot_cancel_a_run_and_see_no_button(viewer_client):
    run = make_run(automation("invoice.overdue", [LATER_VOID]))
    assert "Cancel run" not in viewer_client.get(run_url(run)).text
    assert viewer_client.post(cancel_url(run), {"confirm": "yes"}).status_code == 403
    assert Run.objects.get(pk=run.pk).status == "active"


def test_cancel_is_post_only_and_unknown_runs_are_not_found(editor_client):
    run = make_run(automation("invoice.overdue", [LATER_VOID]))
    assert editor_client.get(cancel_url(run)).status_code == 405
    url = reverse("run_cancel", args=[run.automation.public_id, "run_nope"])
    assert editor_client.post(url, {"confirm": "yes"}).status_code == 404


def test_the_invoice_in_a_run_exists_as_a_page(viewer_client):
    invoice = make_invoice()
    assert viewer_client.get(reverse("invoice_detail", args=[invoice.public_id])).status_code == 200
