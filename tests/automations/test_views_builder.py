"""The builder page: create and edit an automation through its form, the builder actions (add,
remove, move, change trigger), inline errors, editors only, and no 500 on hostile POSTs."""

import html
import re

import pytest
from django.urls import reverse

from automations.engine.matching import in_priority_order
from automations.models import Automation, Run, RunStatus
from automations.services.definitions import automation_create
from billing import clock
from billing.models import Event, Product, RetryPolicy
from billing.services.customers import customer_create

FAILED = "subscription.payment_failed"
OVERDUE = "invoice.overdue"
DUE_SOON = "invoice.due_date_upcoming"
NEW = reverse("automation_new")

VOID = {"action": "void_invoice", "delay": {"amount": 0, "unit": "days"}, "params": {}}


def form(name="Annual subscriber dunning", trigger=FAILED, filters=(), steps=(), **extra) -> dict:
    """The builder's POST: filters as (type, {field: value}), steps as (action, amount, unit, {field: value})."""
    data = {"name": name, "trigger": trigger, "previous_trigger": trigger}
    for i, (kind, fields) in enumerate(filters):
        data[f"filter-{i}-type"] = kind
        data.update({f"filter-{i}-{k}": v for k, v in fields.items()})
    for i, (action, amount, unit, fields) in enumerate(steps):
        data |= {f"step-{i}-action": action, f"step-{i}-amount": str(amount), f"step-{i}-unit": unit}
        data.update({f"step-{i}-{k}": v for k, v in fields.items()})
    return data | extra


ANNUAL_DUNNING = form(
    filters=[("subscription_interval", {"interval": "year"})],
    steps=[
        ("set_retry_policy", 0, "days", {"policy_mode": "existing", "policy": "Annual"}),
        ("cancel_subscription", 7, "days", {}),
        ("mark_invoice_uncollectible", 0, "days", {}),
    ],
)


@pytest.fixture
def annual(db) -> RetryPolicy:
    return RetryPolicy.objects.create(name="Annual", max_retries=4, within_days=21)


def edit_url(automation) -> str:
    return reverse("automation_edit", args=[automation.public_id])


def text(response) -> str:
    """The page's visible text with tags removed and spaces collapsed."""
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode())))


def text_of(fragment: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment)))


def step_actions(response) -> list[str]:
    """The chosen action of each step, in order, as the page shows them."""
    html = response.content.decode()
    selects = re.findall(r'<select id="step-(\d+)-action".*?</select>', html, flags=re.S)
    chosen = re.findall(r'<select id="step-\d+-action".*?</select>', html, flags=re.S)
    result = []
    for block in chosen:
        match = re.search(r'<option value="([a-z_]*)" selected>', block)
        result.append(match.group(1) if match else "")
    assert len(selects) == len(result)
    return result


def start_run(automation) -> Run:
    n = Event.objects.count()
    customer_create(name=f"Customer {n}", email=f"c{n}@example.com")
    return Run.objects.create(
        automation=automation,
        version=automation.current_version,
        trigger=automation.trigger,
        event=Event.objects.order_by("-id").first(),
        object_type="invoice",
        object_id=f"in_{n}",
        status=RunStatus.ACTIVE,
        started_at=clock.now(),
    )


# Creating ---------------------------------------------------------------------------------------


def test_the_new_page_offers_every_trigger_with_its_description(editor_client):
    response = editor_client.get(NEW)
    assert response.status_code == 200
    page = text(response)
    assert "Subscription payment fails" in page
    assert "The first failed payment of a subscription invoice: retry, then decide." in page
    assert 'aria-describedby="trigger-subscription-payment_failed-description"' in response.content.decode()
    assert "Save automation" in page
    assert "{#" not in page and "#}" not in page  # no template comment shown as text


def test_it_creates_the_annual_dunning_automation_from_the_form(editor_client, editor, annual):
    response = editor_client.post(NEW, ANNUAL_DUNNING)
    automation = Automation.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("automation_detail", args=[automation.public_id])
    assert automation.name == "Annual subscriber dunning"
    assert automation.trigger == FAILED
    assert automation.created_by == editor
    version = automation.current_version
    assert version.number == 1
    assert version.filters == [{"type": "subscription_interval", "params": {"interval": "year"}}]
    assert version.steps == [
        {"action": "set_retry_policy", "delay": {"amount": 0, "unit": "days"}, "params": {"policy": "Annual"}},
        {"action": "cancel_subscription", "delay": {"amount": 7, "unit": "days"}, "params": {}},
        {"action": "mark_invoice_uncollectible", "delay": {"amount": 0, "unit": "days"}, "params": {}},
    ]
    messages = [str(m) for m in response.wsgi_request._messages]
    assert messages == [
        "Created “Annual subscriber dunning”. It is checked after the other automations of 'Subscription payment fails'."
    ]


def test_a_new_automation_goes_last_in_its_trigger_priority(editor_client, annual):
    first = automation_create(name="First", trigger=FAILED, filters=[], steps=[VOID])
    editor_client.post(NEW, ANNUAL_DUNNING)
    created = Automation.objects.exclude(pk=first.pk).get()
    assert created.priority == first.priority + 1


def placement(response) -> list[tuple[str, str]]:
    """The placement list: (name, its "never reached" note) per row, first checked first."""
    block = re.search(r'<ol id="placement".*?</ol>', response.content.decode(), flags=re.S).group(0)
    rows = re.findall(r'<li [^>]*class="place-row[^"]*"[^>]*>(.*?)</li>', block, flags=re.S)
    result = []
    for row in rows:
        name = text_of(re.search(r'<span class="place-name">(.*?)</span>', row, flags=re.S).group(1)).strip()
        note = re.search(r'<span class="never-reached"[^>]*>(.*?)</span>', row, flags=re.S)
        result.append((name, text_of(note.group(1)).strip() if note else ""))
    return result


def place_before_of(response) -> str:
    return re.search(r'<input type="hidden" name="place_before"[^>]* value="([^"]*)"', response.content.decode()).group(
        1
    )


AMOUNT = [{"type": "invoice_amount", "params": {"min": "100"}}]


def test_the_builder_shows_the_trigger_automations_with_the_new_one_last(editor_client):
    automation_create(name="Large", trigger=OVERDUE, filters=AMOUNT, steps=[VOID])
    automation_create(name="Catch all", trigger=OVERDUE, filters=[], steps=[VOID])
    response = editor_client.get(NEW + "?trigger=" + OVERDUE)
    assert placement(response) == [
        ("Large", ""),
        ("Catch all", ""),
        ("This automation", "never reached: “Catch all” above it matches every event"),
    ]
    assert place_before_of(response) == ""


def test_moving_the_new_automation_up_shows_its_place_and_who_it_now_shadows(editor_client):
    large = automation_create(name="Large", trigger=OVERDUE, filters=AMOUNT, steps=[VOID])
    catch_all = automation_create(name="Catch all", trigger=OVERDUE, filters=[], steps=[VOID])
    data = form(name="Mine", trigger=OVERDUE, steps=[("void_invoice", 0, "days", {})], place_before="")
    response = editor_client.post(NEW, data | {"builder_action": "move_place:up"}, headers={"HX-Request": "true"})
    assert placement(response) == [
        ("Large", ""),
        ("Mine", ""),
        ("Catch all", "never reached: “Mine” above it matches every event"),
    ]
    assert place_before_of(response) == catch_all.public_id
    assert re.search(r'id="place-up"[^>]*autofocus', response.content.decode())
    response = editor_client.post(NEW, data | {"place_before": catch_all.public_id, "builder_action": "move_place:up"})
    assert placement(response) == [
        ("Mine", ""),
        ("Large", "never reached: “Mine” above it matches every event"),
        ("Catch all", "never reached: “Mine” above it matches every event"),
    ]
    assert place_before_of(response) == large.public_id


def test_saving_puts_the_new_automation_at_its_chosen_place(editor_client):
    large = automation_create(name="Large", trigger=OVERDUE, filters=AMOUNT, steps=[VOID])
    automation_create(name="Catch all", trigger=OVERDUE, filters=[], steps=[VOID])
    data = form(name="Mine", trigger=OVERDUE, steps=[("void_invoice", 0, "days", {})], place_before=large.public_id)
    response = editor_client.post(NEW, data)
    assert response.status_code == 302
    assert [a.name for a in in_priority_order(OVERDUE)] == ["Mine", "Large", "Catch all"]
    assert "It is number 1 of the 3 automations of 'Invoice is overdue'." in text(editor_client.get(response.url))


@pytest.mark.parametrize("place_before", ["auto_gone", "<script>", "x" * 500])
def test_a_stale_or_made_up_place_is_refused_on_save_with_the_form(editor_client, place_before):
    automation_create(name="Large", trigger=OVERDUE, filters=AMOUNT, steps=[VOID])
    data = form(name="Mine", trigger=OVERDUE, steps=[("void_invoice", 0, "days", {})], place_before=place_before)
    response = editor_client.post(NEW, data)
    assert response.status_code == 400
    assert "The automation to place it before is no longer among those of 'Invoice is overdue'" in text(response)
    assert Automation.objects.count() == 1
    assert place_before_of(response) == ""  # shown last again, ready to save


def test_a_place_among_another_trigger_is_forgotten_when_the_trigger_changes(editor_client):
    failed = automation_create(name="Failed", trigger=FAILED, filters=[], steps=[VOID])
    automation_create(name="Overdue", trigger=OVERDUE, filters=[], steps=[VOID])
    data = form(trigger=OVERDUE, previous_trigger=FAILED, place_before=failed.public_id, builder_action="refresh")
    response = editor_client.post(NEW, data)
    assert [name for name, _ in placement(response)] == ["Overdue", "Annual subscriber dunning"]
    assert place_before_of(response) == ""
    assert "no longer among" not in text(response)


def test_the_edit_page_shows_the_automation_at_its_place_and_saves_a_move(editor_client):
    first = automation_create(name="First", trigger=OVERDUE, filters=AMOUNT, steps=[VOID])
    second = automation_create(name="Second", trigger=OVERDUE, filters=AMOUNT, steps=[VOID])
    automation_create(name="Third", trigger=OVERDUE, filters=AMOUNT, steps=[VOID])
    response = editor_client.get(edit_url(second))
    assert [name for name, _ in placement(response)] == ["First", "Second", "Third"]
    data = form(
        name="Second",
        trigger=OVERDUE,
        filters=[("invoice_amount", {"min": "100"})],
        steps=[("void_invoice", 0, "days", {})],
        place_before=first.public_id,
    )
    assert editor_client.post(edit_url(second), data).status_code == 302
    assert [a.name for a in in_priority_order(OVERDUE)] == ["Second", "First", "Third"]
    assert second.versions.count() == 1  # the same definition: only the place changed


def test_it_creates_an_inline_retry_policy_step(editor_client):
    data = form(
        steps=[
            (
                "set_retry_policy",
                0,
                "days",
                {"policy_mode": "new", "policy_name": "Patient", "schedule_kind": "day_offsets", "day_offsets": "1, 3, 7",
                 "end_behavior": "cancel_subscription"},
            )
        ]
    )  # fmt: skip
    response = editor_client.post(NEW, data)
    assert response.status_code == 302
    params = Automation.objects.get().current_version.steps[0]["params"]
    assert params["new_policy"]["name"] == "Patient"
    assert params["new_policy"]["day_offsets"] == [1, 3, 7]
    assert params["new_policy"]["end_behavior"] == "cancel_subscription"


def test_anchored_steps_are_saved_with_their_direction(editor_client, editor):
    data = form(
        name="Remind",
        trigger=DUE_SOON,
        steps=[
            (
                "send_team_email",
                3,
                "days",
                {"direction": "before", "recipient": editor.email, "message": "{number} soon"},
            ),
            (
                "send_team_email",
                1,
                "days",
                {"direction": "after", "recipient": editor.email, "message": "{number} late"},
            ),
        ],
    )
    assert editor_client.post(NEW, data).status_code == 302
    steps = Automation.objects.get().current_version.steps
    assert [s["delay"] for s in steps] == [
        {"amount": 3, "unit": "days", "direction": "before"},
        {"amount": 1, "unit": "days", "direction": "after"},
    ]


def test_a_product_condition_takes_several_products(editor_client):
    a, b = Product.objects.create(name="Alpha"), Product.objects.create(name="Beta")
    data = form(trigger=OVERDUE, steps=[("void_invoice", 0, "days", {})])
    data |= {"filter-0-type": "product", "filter-0-products": [a.public_id, b.public_id]}
    assert editor_client.post(NEW, data).status_code == 302
    assert Automation.objects.get().current_version.filters == [
        {"type": "product", "params": {"products": sorted([a.public_id, b.public_id])}}
    ]


# Builder actions --------------------------------------------------------------------------------


def test_add_step_adds_an_empty_step_and_focuses_its_action(editor_client):
    response = editor_client.post(NEW, form(builder_action="add_step"), headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<form id="builder"')  # the fragment, not the page
    assert "<html" not in html
    assert 'aria-label="Step 1 action"' in html
    assert re.search(r'id="step-0-action"[^>]*autofocus', html, flags=re.S)
    assert 'aria-label="Step 1 delay"' in html and 'aria-label="Step 1 delay unit"' in html
    assert not Automation.objects.exists()


def test_a_builder_action_without_htmx_renders_the_whole_page(editor_client):
    response = editor_client.post(NEW, form(builder_action="add_step"))
    assert response.status_code == 200
    assert "<html" in response.content.decode()
    assert not Automation.objects.exists()


def test_remove_step_removes_that_step(editor_client, annual):
    response = editor_client.post(NEW, ANNUAL_DUNNING | {"builder_action": "remove_step:1"})
    assert step_actions(response) == ["set_retry_policy", "mark_invoice_uncollectible"]


def test_move_step_up_and_down_reorders_the_steps(editor_client, annual):
    up = editor_client.post(NEW, ANNUAL_DUNNING | {"builder_action": "move_step:2:up"})
    assert step_actions(up) == ["set_retry_policy", "mark_invoice_uncollectible", "cancel_subscription"]
    assert re.search(r'id="step-1-up"[^>]*autofocus', up.content.decode(), flags=re.S)
    down = editor_client.post(NEW, ANNUAL_DUNNING | {"builder_action": "move_step:0:down"})
    assert step_actions(down) == ["cancel_subscription", "set_retry_policy", "mark_invoice_uncollectible"]


def test_add_condition_adds_a_row_of_the_chosen_type(editor_client):
    response = editor_client.post(NEW, form(builder_action="add_filter", new_filter="invoice_amount"))
    html = response.content.decode()
    assert 'name="filter-0-type" value="invoice_amount"' in html
    assert "Minimum amount (EUR)" in html
    # An amount condition is used: it is no longer offered.
    assert '<option value="invoice_amount">' not in html


def test_remove_condition_removes_it(editor_client, annual):
    response = editor_client.post(NEW, ANNUAL_DUNNING | {"builder_action": "remove_filter:0"})
    assert 'name="filter-0-type"' not in response.content.decode()


def test_changing_the_trigger_drops_what_it_does_not_allow_and_says_so(editor_client, annual):
    data = ANNUAL_DUNNING | {"trigger": OVERDUE, "builder_action": "refresh"}
    response = editor_client.post(NEW, data, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert (
        "Removed because 'Invoice is overdue' does not allow them: condition Subscription interval; "
        "steps Set retry policy, Cancel subscription."
    ) in text(response)
    assert step_actions(response) == ["mark_invoice_uncollectible"]
    assert 'name="filter-0-type"' not in response.content.decode()


def test_changing_to_a_date_anchored_trigger_times_steps_from_the_date(editor_client, editor):
    data = form(
        trigger=DUE_SOON,
        previous_trigger=OVERDUE,
        steps=[("void_invoice", 2, "days", {}), ("send_team_email", 3, "days", {"recipient": editor.email})],
        builder_action="refresh",
    )
    response = editor_client.post(NEW, data)
    html = response.content.decode()
    assert "Removed because 'Invoice due date is upcoming' does not allow them: step Void invoice." in text(response)
    assert 'name="step-0-amount" value="3"' in html  # only the email is left, 2 + 3 days after the date
    assert re.search(r'name="step-0-direction".*?<option value="after" selected>', html, flags=re.S)
    assert "the due date" in text(response)


QUOTE = "quote.expiring"
QUOTE_ENDS = "A quote is canceled at its expiry, which ends the run"


def test_quote_steps_are_offered_only_before_the_expiry_and_the_builder_says_why(editor_client):
    response = editor_client.post(
        NEW,
        form(trigger=QUOTE, steps=[("send_quote_will_expire_webhook", 3, "days", {"direction": "before"})]),
        query_params={"builder_action": "refresh"},
    )
    html = response.content.decode()
    direction = re.search(r'<select id="step-0-direction".*?</select>', html, flags=re.S).group(0)
    assert re.findall(r'<option value="(\w+)"', direction) == ["before"]
    timing = re.search(r'role="group" aria-label="Step 1 timing".*?</div>', html, flags=re.S).group(0)
    assert f"{QUOTE_ENDS}: steps can only happen before it." in text_of(timing)


def test_a_crafted_quote_step_after_the_expiry_is_refused_at_its_delay(editor_client, editor):
    params = {"direction": "after", "recipient": editor.email, "message": "{number} expired"}
    response = editor_client.post(NEW, form(trigger=QUOTE, steps=[("send_team_email", 1, "days", params)]))
    assert response.status_code == 400
    assert not Automation.objects.exists()
    assert f"{QUOTE_ENDS}: time this step before the expiry date (1 hour before at the latest)." in text(response)
    assert 'id="step-0-delay-error"' in response.content.decode()


def test_changing_to_the_quote_trigger_times_the_steps_before_the_expiry(editor_client, editor):
    data = form(
        trigger=QUOTE,
        previous_trigger=OVERDUE,
        steps=[("send_team_email", 2, "days", {"recipient": editor.email, "message": "hi"})] * 2,
        builder_action="refresh",
    )
    response = editor_client.post(NEW, data)
    html = response.content.decode()
    assert len(re.findall(r'name="step-\d-direction".*?<option value="before" selected>', html, flags=re.S)) == 2
    # 2 and 4 days after the trigger: 2 days apart still, the last 1 day before the expiry.
    assert 'name="step-0-amount" value="3"' in html and 'name="step-1-amount" value="1"' in html
    assert f"{QUOTE_ENDS}: the steps are now timed before the expiry date. Check the delays." in text(response)


def test_saving_right_after_a_trigger_change_that_dropped_steps_saves_nothing(editor_client, annual):
    response = editor_client.post(NEW, ANNUAL_DUNNING | {"trigger": OVERDUE})
    assert response.status_code == 400
    assert "Nothing was saved: the trigger changed" in text(response)
    assert not Automation.objects.exists()


def test_the_summary_follows_the_form(editor_client, annual):
    response = editor_client.post(NEW, ANNUAL_DUNNING | {"builder_action": "refresh"})
    assert (
        "When a subscription payment fails, for yearly subscriptions: start retry policy Annual, wait 7 days, "
        "cancel the subscription, mark the invoice uncollectible"
    ) in text(response)


def test_the_summary_leaves_out_incomplete_steps(editor_client, annual):
    data = ANNUAL_DUNNING | {"step-1-amount": "soon", "builder_action": "refresh"}
    page = text(editor_client.post(NEW, data))
    assert "start retry policy Annual, mark the invoice uncollectible" in page
    assert "Conditions and steps with problems are left out" in page


def test_the_summary_asks_for_steps_until_one_is_complete(editor_client):
    response = editor_client.post(NEW, form(builder_action="add_step"))
    assert "Complete the steps to see a summary." in text(response)


# Validation -------------------------------------------------------------------------------------


def test_problems_are_shown_next_to_their_fields_with_a_count_at_the_top(editor_client):
    data = form(
        name="",
        filters=[("invoice_amount", {"min": "lots"})],
        steps=[("send_team_email", 0, "days", {"recipient": "not-an-address", "message": ""})],
    )
    response = editor_client.post(NEW, data)
    assert response.status_code == 400
    html = response.content.decode()
    assert "Fix the 4 problems below" in text(response)
    assert re.search(r'id="id_name"[^>]*aria-invalid="true" aria-describedby="id_name-error"', html, flags=re.S)
    assert '<p class="field-error" id="id_name-error">Enter a name.</p>' in html
    assert 'id="filter-0-min-error">Enter an amount, e.g. 500 or 499.99.</p>' in html
    assert 'id="step-0-recipient-error">not-an-address is not a valid email address.</p>' in html
    assert 'id="step-0-message-error">Write the message to send.</p>' in html
    assert not Automation.objects.exists()


def test_a_delay_problem_is_shown_at_the_step_delay(editor_client):
    response = editor_client.post(NEW, form(trigger=OVERDUE, steps=[("void_invoice", 400, "days", {})]))
    html = response.content.decode()
    assert 'aria-describedby="step-0-delay-error"' in html
    assert 'id="step-0-delay-error">A delay can be at most 365 days (365 days).</p>' in html


def test_saving_without_steps_asks_for_one(editor_client):
    response = editor_client.post(NEW, form(trigger=OVERDUE))
    assert response.status_code == 400
    assert 'id="steps-error">Add at least one step.</p>' in response.content.decode()


def test_after_a_failed_save_builder_actions_keep_showing_the_problems(editor_client):
    response = editor_client.post(NEW, form(name="", trigger=OVERDUE, validated="1", builder_action="add_step"))
    assert response.status_code == 200
    assert "Enter a name." in text(response)


def test_after_a_failed_save_a_name_with_a_null_character_is_refused_with_a_message(editor_client):
    data = form(name="Dunning\x00", trigger=OVERDUE, validated="1", builder_action="add_step")
    response = editor_client.post(NEW, data)
    assert response.status_code == 200
    assert '<p class="field-error" id="id_name-error">Remove the null character (\\x00) from this text.</p>' in (
        response.content.decode()
    )


# Editing ----------------------------------------------------------------------------------------


@pytest.fixture
def dunning(annual, editor) -> Automation:
    return automation_create(
        name="Dunning",
        trigger=FAILED,
        filters=[],
        steps=[{"action": "set_retry_policy", "delay": {"amount": 0, "unit": "days"}, "params": {"policy": "Annual"}}],
        user=editor,
    )


def test_the_edit_page_shows_the_saved_definition_and_the_runs_that_keep_it(editor_client, dunning):
    start_run(dunning)
    start_run(dunning)
    response = editor_client.get(edit_url(dunning))
    assert response.status_code == 200
    assert step_actions(response) == ["set_retry_policy"]
    page = text(response)
    assert 'value="Dunning"' in response.content.decode()
    assert "Saving makes version 2 when the conditions or steps changed." in page
    assert "The 2 runs in progress keep the version they started with." in page
    assert '<input type="hidden" name="trigger" value="subscription.payment_failed">' in response.content.decode()
    assert 'type="radio" name="trigger"' not in response.content.decode()


def test_saving_an_edit_makes_a_new_version_and_says_which_runs_keep_the_old_one(editor_client, dunning):
    for _ in range(4):
        start_run(dunning)
    data = form(
        name="Dunning",
        steps=[
            ("set_retry_policy", 0, "days", {"policy_mode": "existing", "policy": "Annual"}),
            ("cancel_subscription", 7, "days", {}),
        ],
    )
    response = editor_client.post(edit_url(dunning), data)
    assert response.status_code == 302
    dunning.refresh_from_db()
    assert dunning.current_version.number == 2
    assert len(dunning.current_version.steps) == 2
    assert dunning.versions.count() == 2
    messages = [str(m) for m in response.wsgi_request._messages]
    assert messages == ["Saved version 2. 4 runs in progress keep version 1."]


def test_saving_an_unchanged_edit_keeps_the_version(editor_client, dunning):
    data = form(name="Dunning renamed", steps=[("set_retry_policy", 0, "days", {"policy": "Annual"})])
    response = editor_client.post(edit_url(dunning), data)
    dunning.refresh_from_db()
    assert dunning.name == "Dunning renamed"
    assert dunning.current_version.number == 1
    assert "it stays at version 1" in str(list(response.wsgi_request._messages)[0])


def test_the_trigger_of_a_saved_automation_cannot_change(editor_client, dunning):
    data = form(name="Dunning", trigger=OVERDUE, steps=[("set_retry_policy", 0, "days", {"policy": "Annual"})])
    assert editor_client.post(edit_url(dunning), data).status_code == 302
    dunning.refresh_from_db()
    assert dunning.trigger == FAILED


def test_unknown_and_archived_automations_are_not_found(editor_client, dunning):
    assert editor_client.get(reverse("automation_edit", args=["auto_nope"])).status_code == 404
    dunning.archived_at = clock.now()
    dunning.save()
    assert editor_client.get(edit_url(dunning)).status_code == 404
    assert editor_client.post(edit_url(dunning), form()).status_code == 404


# Permissions ------------------------------------------------------------------------------------


def test_viewers_cannot_open_or_post_the_builder(viewer_client, dunning):
    assert viewer_client.get(NEW).status_code == 403
    assert viewer_client.post(NEW, ANNUAL_DUNNING).status_code == 403
    assert viewer_client.get(edit_url(dunning)).status_code == 403
    assert viewer_client.post(edit_url(dunning), ANNUAL_DUNNING).status_code == 403
    assert Automation.objects.count() == 1


def test_anonymous_users_are_sent_to_log_in(client):
    response = client.get(NEW)
    assert response.status_code == 302
    assert "login" in response.url


# Hostile input ----------------------------------------------------------------------------------

HOSTILE = {
    "nothing": {},
    "unknown trigger": {"trigger": "invoice.lost", "previous_trigger": "nope"},
    "garbage index": form(**{"step-x-action": "void_invoice", "step-99999999-action": "void_invoice"}),
    "huge index": form(trigger=OVERDUE, **{"step-9999-action": "void_invoice", "step-9999-amount": "1"}),
    "huge amount": form(trigger=OVERDUE, steps=[("void_invoice", "9" * 5000, "days", {})]),
    "unicode digit amount": form(trigger=OVERDUE, steps=[("void_invoice", "²", "days", {})]),
    "negative amount": form(trigger=OVERDUE, steps=[("void_invoice", "-3", "days", {})]),
    "unknown unit": form(trigger=OVERDUE, steps=[("void_invoice", 1, "fortnights", {})]),
    "unknown action": form(trigger=OVERDUE, steps=[("launch_rockets", 1, "days", {})]),
    "disallowed action": form(trigger=OVERDUE, steps=[("cancel_subscription", 1, "days", {})]),
    "long strings": form(name="é" * 10_000, trigger=OVERDUE, steps=[("send_team_email", 0, "days", {"recipient": "a" * 10_000, "message": "🙂" * 10_000})]),
    "nan amount": form(trigger=OVERDUE, filters=[("invoice_amount", {"min": "NaN", "max": "1e999999"})], steps=[("void_invoice", 0, "days", {})]),
    "unknown filter": form(trigger=OVERDUE, filters=[("weather", {})], steps=[("void_invoice", 0, "days", {})]),
    "unknown product": form(trigger=OVERDUE, filters=[("product", {"products": "prod_nope"})], steps=[("void_invoice", 0, "days", {})]),
    "bad policy numbers": form(steps=[("set_retry_policy", 0, "days", {"policy_mode": "new", "policy_name": "X", "max_retries": "9" * 5000, "within_days": "-1"})]),
    "bad day offsets": form(steps=[("set_retry_policy", 0, "days", {"policy_mode": "new", "policy_name": "X", "schedule_kind": "day_offsets", "day_offsets": "7, 3, x²"})]),
    "unknown schedule kind": form(steps=[("set_retry_policy", 0, "days", {"policy_mode": "new", "policy_name": "X", "schedule_kind": "weekly", "end_behavior": "explode"})]),
    "anchored out of order": form(trigger=DUE_SOON, steps=[("send_team_email", 1, "days", {"direction": "after"}), ("send_team_email", 3, "days", {"direction": "before"})]),
    "direction on relative": form(trigger=OVERDUE, steps=[("void_invoice", 1, "days", {"direction": "sideways"})]),
    "bad survey url": form(trigger="subscription.canceled", steps=[("send_cancellation_email", 0, "days", {"survey_url": "javascript:alert(1)"})]),
    "too many steps": form(trigger=OVERDUE, steps=[("void_invoice", 0, "days", {})] * 40),
    "too many filters": form(trigger=OVERDUE, filters=[("customer_metadata", {"key": "k", "value": "v"})] * 12),
    "null bytes": form(name="a\x00b", trigger=OVERDUE, steps=[("void_invoice", 0, "days", {})]),
}  # fmt: skip
ACTIONS = ["save", "refresh", "add_step", "remove_step:99", "move_step:0:up", "move_step:x:sideways", "add_filter", "remove_filter:-1", "??"]  # fmt: skip


@pytest.mark.parametrize("builder_action", ACTIONS)
@pytest.mark.parametrize("name", list(HOSTILE))
def test_malformed_posts_get_the_form_back_never_a_500(editor_client, name, builder_action):
    data = HOSTILE[name] | {"builder_action": builder_action, "new_filter": "invoice_amount"}
    response = editor_client.post(NEW, data)
    assert response.status_code in (200, 302, 400), response.status_code
    if response.status_code == 400:
        assert "Fix the" in text(response) or "Nothing was saved" in text(response)


def test_duplicate_keys_use_the_last_value(editor_client):
    data = form(trigger=OVERDUE, steps=[("void_invoice", 0, "days", {})])
    data["name"] = ["First", "Second"]
    assert editor_client.post(NEW, data).status_code == 302
    assert Automation.objects.get().name == "Second"


def test_a_json_body_is_refused_with_the_form(editor_client):
    response = editor_client.post(NEW, data='{"name": "x"}', content_type="application/json")
    assert response.status_code == 400
    assert "Enter a name." in text(response)


def test_a_hostile_post_reads_at_most_20_steps_and_says_so(editor_client):
    data = form(trigger=OVERDUE, steps=[("void_invoice", 0, "days", {})] * 40, builder_action="refresh")
    response = editor_client.post(NEW, data)
    assert len(step_actions(response)) == 20
    assert "only the first 20 were kept" in text(response)


# Queries ----------------------------------------------------------------------------------------


def test_the_builder_page_makes_a_bounded_number_of_queries(editor_client, django_assert_max_num_queries, editor):
    for i in range(300):
        Product.objects.create(name=f"Product {i:03d}")
    for i in range(50):
        RetryPolicy.objects.create(name=f"Policy {i}")
    data = form(
        filters=[("product", {"products": [p.public_id for p in Product.objects.all()[:3]]}), ("invoice_amount", {"min": "10"})],
        steps=[("set_retry_policy", 0, "days", {"policy": "Policy 1"})]
        + [("send_team_email", 1, "days", {"recipient": editor.email, "message": "hi"})] * 5,
        builder_action="refresh",
    )  # fmt: skip
    editor_client.get(NEW)  # warm the session and the account settings
    with django_assert_max_num_queries(40):
        response = editor_client.post(NEW, data)
    assert response.status_code == 200
    assert response.content.decode().count('<option value="prod_') == 203  # the 3 chosen and 200 more
