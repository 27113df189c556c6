"""The automations list: groups by trigger, priority (drag and drop, move up/down), the toggle."""

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from automations.engine.matching import in_priority_order
from automations.models import Automation, Run
from automations.triggers import TRIGGERS
from tests.automations.test_engine import VOID, _overdue_invoice, automation
from tests.automations.test_services_runs import make_run

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
OVERDUE = "invoice.overdue"
LIST = reverse("automations")


def names_in(html: str, trigger: str) -> list[str]:
    """The automation names of a trigger's group, in the order the page shows them."""
    slug = trigger.replace(".", "-")
    section = html[html.index(f'<section id="trigger-{slug}"') :]
    section = section[: section.index("</section>")]
    return re.findall(r'<a href="/automations/auto_\w+/">([^<]+)</a>', section)


def three(trigger=OVERDUE):
    return [automation(trigger, [VOID], name=name) for name in ["First", "Second", "Third"]]


def reorder(client, automations, trigger=OVERDUE, **extra):
    data = {"trigger": trigger, "order": [a.public_id for a in automations]}
    return client.post(reverse("automation_reorder"), data, **extra)


def priorities(trigger=OVERDUE) -> list[str]:
    return [a.name for a in in_priority_order(trigger)]


# --- The list ---------------------------------------------------------------------------------


def test_the_list_shows_every_trigger_in_order_each_with_its_automations_by_priority(viewer_client):
    automation("subscription.canceled", [], name="Goodbye")
    second = automation(OVERDUE, [VOID], name="Chase later", priority=2)
    automation(OVERDUE, [VOID], name="Chase first", priority=1)
    assert second.priority == 2
    text = viewer_client.get(LIST).text
    sections = re.findall(r'<section id="(trigger-[\w-]+)"', text)
    assert sections == ["trigger-" + key.replace(".", "-") for key in TRIGGERS]
    assert names_in(text, OVERDUE) == ["Chase first", "Chase later"]
    assert names_in(text, "subscription.canceled") == ["Goodbye"]
    assert f'data-automation="{second.public_id}"' in text


AMOUNT = [{"type": "invoice_amount", "params": {"min": "100"}}]
NEVER_REACHED = "never reached: “Catch all” above it matches every event"


def notes_in(html: str, trigger: str = OVERDUE) -> dict[str, str]:
    """Each automation's "never reached" note in a trigger's group, by name."""
    slug = trigger.replace(".", "-")
    section = html[html.index(f'<section id="trigger-{slug}"') :]
    section = section[: section.index("</section>")]
    rows = re.findall(r'<a href="/automations/auto_\w+/">([^<]+)</a>(.*?)</td>', section, flags=re.S)
    return {name: " ".join(re.sub(r"<[^>]+>", " ", rest).split()) for name, rest in rows if rest.strip()}


def test_an_automation_below_an_enabled_one_without_filters_is_marked_never_reached(viewer_client):
    automation(OVERDUE, [VOID], filters=AMOUNT, name="Large first")
    automation(OVERDUE, [VOID], name="Catch all")
    automation(OVERDUE, [VOID], filters=AMOUNT, name="Large later")
    automation(OVERDUE, [VOID], name="Other catch all")
    assert notes_in(viewer_client.get(LIST).text) == {"Large later": NEVER_REACHED, "Other catch all": NEVER_REACHED}


def test_disabled_automations_neither_shadow_nor_are_marked(viewer_client):
    automation(OVERDUE, [VOID], name="Off catch all", enabled=False)
    automation(OVERDUE, [VOID], filters=AMOUNT, name="Large")
    automation(OVERDUE, [VOID], name="Catch all")
    automation(OVERDUE, [VOID], filters=AMOUNT, name="Off below", enabled=False)
    assert notes_in(viewer_client.get(LIST).text) == {}


def test_archived_automations_are_not_listed(viewer_client):
    automation(OVERDUE, [VOID], name="Kept")
    Automation.objects.create(name="Gone", trigger=OVERDUE, priority=2, archived_at=timezone.now())
    assert names_in(viewer_client.get(LIST).text, OVERDUE) == ["Kept"]


def test_a_trigger_without_automation_offers_to_create_one_for_it(editor_client):
    automation(OVERDUE, [VOID])
    text = editor_client.get(LIST).text
    assert "No automation for this trigger yet." in text
    link = f'href="{reverse("automation_new")}?trigger=quote.expiring">New automation for this trigger</a>'
    assert link in text


def test_with_no_automation_at_all_the_page_explains_them_and_offers_the_first_one(editor_client):
    text = editor_client.get(LIST).text
    assert "No automations yet." in text
    for word in ["Trigger", "Filters", "Steps with delays", "Priority"]:
        assert f"<dt>{word}</dt>" in text
    assert (
        f'<a class="button button-primary" href="{reverse("automation_new")}">Create your first automation</a>' in text
    )
    assert '<section id="trigger-' not in text


def test_a_row_shows_filters_toggle_run_counts_and_last_change(editor_client, editor):
    segment = [{"type": "customer_metadata", "params": {"key": "segment", "value": "enterprise"}}]
    auto = automation(OVERDUE, [VOID], filters=segment, name="Enterprise")
    Automation.objects.filter(pk=auto.pk).update(updated_by=editor)
    for status in ["active", "active", "completed", "canceled"]:
        make_run(auto, status=status)
    text = editor_client.get(LIST).text
    row = text[text.index(f'data-automation="{auto.public_id}"') :]
    row = row[: row.index("</tr>")]
    assert "segment" in row and "enterprise" in row
    assert re.search(r'<td class="num">2</td>\s*<td class="num">1</td>', row)
    assert "by eddie" in row
    assert 'aria-label="Enabled: Enterprise"' in row and 'aria-pressed="true"' in row


def test_the_new_automation_button_announces_its_n_shortcut(editor_client):
    text = editor_client.get(LIST).text
    assert re.search(r'<a class="button button-primary" href="/automations/new/" aria-keyshortcuts="n"', text)
    assert "New automation</a>" in text


def test_viewers_see_the_state_but_no_control(viewer_client):
    auto = automation(OVERDUE, [VOID], name="Looked at")
    text = viewer_client.get(LIST).text
    assert names_in(text, OVERDUE) == ["Looked at"]
    assert '<span class="badge badge-enabled">On</span>' in text
    for control in ["<form", "<button type=\"submit\" id=\"toggle", "drag-handle", "Move Looked at up", "New automation",
                    reverse("automation_toggle", args=[auto.public_id]), "hx-post", 'name="order"']:  # fmt: skip
        assert control not in text.split('<main id="main"')[1], control


# --- Priority ---------------------------------------------------------------------------------


def test_reordering_saves_the_order_the_engine_uses_and_returns_the_group(
    editor_client, django_capture_on_commit_callbacks
):
    first, second, third = three()
    response = reorder(editor_client, [third, first, second], **HTMX)
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<section id="trigger-invoice-overdue"')
    assert names_in(response.text, OVERDUE) == ["Third", "First", "Second"]
    assert priorities() == ["Third", "First", "Second"]
    _overdue_invoice(django_capture_on_commit_callbacks)
    assert Run.objects.get().automation == third


def test_reordering_without_htmx_redirects_to_the_group(editor_client):
    first, second, third = three()
    response = reorder(editor_client, [second, third, first])
    assert response.status_code == 302 and response.url == f"{LIST}#trigger-invoice-overdue"
    assert priorities() == ["Second", "Third", "First"]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("unknown", "Unknown automation"),
        ("other_trigger", "Not automations of"),
        ("missing", "Missing from the order"),
        ("duplicate", "Listed more than once"),
    ],
)
def test_an_invalid_order_is_refused_with_a_message_and_changes_nothing(editor_client, case, message):
    first, second, third = three()
    stranger = automation("invoice.finalized", [VOID], name="Elsewhere")
    order = {
        "unknown": [third.public_id, first.public_id, second.public_id, "auto_nope"],
        "other_trigger": [third.public_id, first.public_id, second.public_id, stranger.public_id],
        "missing": [third.public_id, first.public_id],
        "duplicate": [third.public_id, first.public_id, second.public_id, first.public_id],
    }[case]
    response = editor_client.post(reverse("automation_reorder"), {"trigger": OVERDUE, "order": order}, **HTMX)
    assert response.status_code == 400
    assert message in response.text and 'role="alert"' in response.text
    assert names_in(response.text, OVERDUE) == ["First", "Second", "Third"]
    assert priorities() == ["First", "Second", "Third"]


def test_a_reorder_with_an_unknown_trigger_is_refused(editor_client):
    response = editor_client.post(reverse("automation_reorder"), {"trigger": "nope", "order": ["auto_x"]})
    assert response.status_code == 400 and "Unknown trigger" in response.text


def test_move_up_and_down_swap_neighbours_and_keep_the_focus_on_the_moved_row(editor_client):
    first, second, third = three()
    response = editor_client.post(reverse("automation_move", args=[third.public_id]), {"direction": "up"}, **HTMX)
    assert response.status_code == 200
    assert names_in(response.text, OVERDUE) == ["First", "Third", "Second"]
    assert re.search(r'aria-label="Move Third up"[^>]*data-focus', response.text)
    editor_client.post(reverse("automation_move", args=[first.public_id]), {"direction": "down"}, **HTMX)
    assert priorities() == ["Third", "First", "Second"]


def test_moving_to_the_top_moves_the_focus_to_move_down(editor_client):
    first, second, _ = three()
    response = editor_client.post(reverse("automation_move", args=[second.public_id]), {"direction": "up"}, **HTMX)
    assert re.search(r'aria-label="Move Second up"[^>]*disabled', response.text)
    assert re.search(r'aria-label="Move Second down"[^>]*data-focus', response.text)


def test_moving_the_first_up_changes_nothing(editor_client):
    first, *_ = three()
    response = editor_client.post(reverse("automation_move", args=[first.public_id]), {"direction": "up"}, **HTMX)
    assert response.status_code == 200
    assert priorities() == ["First", "Second", "Third"]


def test_move_works_as_a_plain_form_too(editor_client):
    _, second, _ = three()
    response = editor_client.post(reverse("automation_move", args=[second.public_id]), {"direction": "down"})
    assert response.status_code == 302 and response.url == f"{LIST}#trigger-invoice-overdue"
    assert priorities() == ["First", "Third", "Second"]
    assert "“Second” is now number 3." in editor_client.get(response.url).text


def test_a_move_in_an_unknown_direction_is_refused(editor_client):
    first, *_ = three()
    response = editor_client.post(reverse("automation_move", args=[first.public_id]), {"direction": "sideways"})
    assert response.status_code == 400
    assert priorities() == ["First", "Second", "Third"]


def test_editors_get_a_sortable_group_with_drag_handles_and_move_buttons(editor_client):
    three()
    text = editor_client.get(LIST).text
    assert 'class="sortable"' in text and 'hx-trigger="reorder"' in text
    assert text.count('class="drag-handle"') == 3
    assert 'aria-label="Move Second up"' in text and 'aria-label="Move Second down"' in text
    assert re.search(r'aria-label="Move First up"[^>]*disabled', text)


# --- The toggle -------------------------------------------------------------------------------


def toggle(client, auto, enabled, **data):
    extra = data.pop("extra", {})
    return client.post(reverse("automation_toggle", args=[auto.public_id]), {"enabled": enabled, **data}, **extra)


def test_turning_on_is_immediate_and_returns_the_row(editor_client):
    auto = automation(OVERDUE, [VOID], name="Sleeper", enabled=False)
    response = toggle(editor_client, auto, "1", extra=HTMX)
    assert response.status_code == 200
    assert Automation.objects.get(pk=auto.pk).enabled
    assert response.text.lstrip().startswith(f'<tr id="automation-{auto.public_id}"')
    assert re.search(r'aria-pressed="true"\s+aria-label="Enabled: Sleeper"\s+data-focus', response.text)
    assert "“Sleeper” is on" in response.text and 'hx-swap-oob="true"' in response.text


def test_turning_off_without_runs_in_progress_is_immediate(editor_client, editor):
    auto = automation(OVERDUE, [VOID], name="Quiet")
    make_run(auto, status="completed")
    response = toggle(editor_client, auto, "0", extra=HTMX)
    assert response.status_code == 200 and "<dialog" not in response.text
    auto.refresh_from_db()
    assert not auto.enabled and auto.updated_by == editor
    assert 'aria-pressed="false"' in response.text


def test_turning_off_with_runs_in_progress_asks_first_in_a_dialog(editor_client):
    auto = automation(OVERDUE, [VOID], name="Busy")
    for _ in range(3):
        make_run(auto)
    response = toggle(editor_client, auto, "0", extra=HTMX)
    assert response.status_code == 200
    assert response.headers["HX-Retarget"] == "body" and response.headers["HX-Reswap"] == "beforeend"
    assert '<dialog id="toggle-dialog"' in response.text and "data-modal" in response.text
    assert ">Let 3 runs finish</button>" in response.text
    assert ">Cancel all 3 runs now</button>" in response.text
    assert ">Keep it on</button>" in response.text
    assert Automation.objects.get(pk=auto.pk).enabled


def test_without_javascript_the_question_is_a_page(editor_client):
    auto = automation(OVERDUE, [VOID], name="Busy")
    make_run(auto)
    response = toggle(editor_client, auto, "0")
    assert response.status_code == 200
    assert "<h1" in response.text and ">Let 1 run finish</button>" in response.text
    assert ">Cancel all 1 run now</button>" in response.text


def _dialog_text(html: str) -> str:
    text = html[html.index('<p id="toggle-dialog-text">') :]
    return " ".join(re.sub(r"<[^>]+>", " ", text[: text.index("</p>")]).split())


def test_the_turn_off_question_about_one_run_speaks_of_it_in_the_singular(editor_client):
    auto = automation(OVERDUE, [VOID], name="Busy")
    make_run(auto)
    text = _dialog_text(toggle(editor_client, auto, "0", extra=HTMX).text)
    assert text == (
        "1 run of “Busy” is in progress. Once it is off it starts no new run; "
        "the run in progress can finish its steps or stop now."
    )


def test_the_turn_off_question_about_several_runs_speaks_of_them_in_the_plural(editor_client):
    auto = automation(OVERDUE, [VOID], name="Busy")
    for _ in range(3):
        make_run(auto)
    text = _dialog_text(toggle(editor_client, auto, "0").text)
    assert text == (
        "3 runs of “Busy” are in progress. Once it is off it starts no new run; "
        "the 3 runs in progress can finish their steps or stop now."
    )


def test_letting_runs_finish_turns_it_off_and_leaves_them_active(editor_client, django_capture_on_commit_callbacks):
    auto = automation(OVERDUE, [{**VOID, "delay": {"amount": 3, "unit": "days"}}], name="Busy")
    _overdue_invoice(django_capture_on_commit_callbacks)
    response = toggle(editor_client, auto, "0", in_flight="finish", extra=HTMX)
    assert response.status_code == 200
    assert not Automation.objects.get(pk=auto.pk).enabled
    assert Run.objects.get().status == "active"
    assert "its 1 run in progress will finish" in response.text


def test_canceling_all_runs_turns_it_off_and_cancels_them(editor_client):
    auto = automation(OVERDUE, [VOID], name="Busy")
    runs = [make_run(auto) for _ in range(2)]
    response = toggle(editor_client, auto, "0", in_flight="cancel")
    assert response.status_code == 302
    assert not Automation.objects.get(pk=auto.pk).enabled
    assert {Run.objects.get(pk=run.pk).status for run in runs} == {"canceled"}


def test_a_toggle_from_the_detail_page_goes_back_there(editor_client):
    auto = automation(OVERDUE, [VOID], name="Here")
    detail = reverse("automation_detail", args=[auto.public_id])
    response = toggle(editor_client, auto, "0", next=detail)
    assert response.status_code == 302 and response.url == detail
    response = toggle(editor_client, auto, "1", next="https://evil.example/")
    assert response.url == f"{LIST}#trigger-invoice-overdue"


@pytest.mark.parametrize("data", [{"enabled": "maybe"}, {}, {"enabled": "0", "in_flight": "later"}])
def test_a_toggle_with_bad_values_is_refused(editor_client, data):
    auto = automation(OVERDUE, [VOID])
    response = editor_client.post(reverse("automation_toggle", args=[auto.public_id]), data)
    assert response.status_code == 400
    assert Automation.objects.get(pk=auto.pk).enabled


def test_an_unknown_or_archived_automation_is_not_found(editor_client):
    gone = Automation.objects.create(name="Gone", trigger=OVERDUE, priority=1, archived_at=timezone.now())
    for public_id in ["auto_nope", gone.public_id]:
        assert editor_client.post(reverse("automation_toggle", args=[public_id]), {"enabled": "1"}).status_code == 404
        assert editor_client.post(reverse("automation_move", args=[public_id]), {"direction": "up"}).status_code == 404


# --- Guards and query bounds --------------------------------------------------------------------


def test_viewers_cannot_change_anything(viewer_client):
    first, second = automation(OVERDUE, [VOID]), automation(OVERDUE, [VOID])
    posts = [
        (reverse("automation_reorder"), {"trigger": OVERDUE, "order": [second.public_id, first.public_id]}),
        (reverse("automation_move", args=[second.public_id]), {"direction": "up"}),
        (reverse("automation_toggle", args=[first.public_id]), {"enabled": "0", "in_flight": "cancel"}),
    ]
    for url, data in posts:
        assert viewer_client.post(url, data).status_code == 403, url
        assert viewer_client.post(url, data, **HTMX).status_code == 403, url
    assert [a.pk for a in in_priority_order(OVERDUE)] == [first.pk, second.pk]


def test_the_post_only_views_refuse_a_get(editor_client):
    auto = automation(OVERDUE, [VOID])
    urls = [reverse("automation_reorder")] + [
        reverse(name, args=[auto.public_id]) for name in ["automation_toggle", "automation_move"]
    ]
    for url in urls:
        assert editor_client.get(url).status_code == 405, url


def test_the_list_needs_a_login(client):
    response = client.get(LIST)
    assert response.status_code == 302 and "/accounts/login/" in response.url


def test_the_list_keeps_a_fixed_number_of_queries_whatever_the_number_of_automations(
    editor_client, django_assert_max_num_queries
):
    from billing.models import Product

    product = Product.objects.create(name="Pro")
    for i in range(30):
        filters = [{"type": "product", "params": {"products": [product.public_id]}}] if i % 2 else []
        if i % 3 == 0:
            filters.append({"type": "invoice_amount", "params": {"min": "100", "max": None}})
        auto = automation(list(TRIGGERS)[i % 3], [VOID], filters=filters, name=f"Auto {i}")
        for status in ["active", "completed", "ended"]:
            make_run(auto, status=status, object_id=f"in_{i}")
    with django_assert_max_num_queries(12):
        response = editor_client.get(LIST)
    assert response.status_code == 200
    assert response.text.count("data-automation=") == 30
    assert "containing Pro" in response.text
