"""Automation definitions: validation with a message per field, immutable versions, priority,
turning off (finish or cancel runs in progress), archiving, and the plain-language summary."""

from datetime import UTC, datetime

import pytest

from automations.engine.actions import ACTIONS
from automations.engine.matching import in_priority_order
from automations.models import Automation, AutomationVersion, Run, RunStatus, RunStep, StepStatus
from automations.services.definitions import (
    AutomationArchived,
    DefinitionError,
    automation_archive,
    automation_create,
    automation_disable,
    automation_enable,
    automation_reorder,
    automation_update,
    runs_on_old_versions,
    validate_definition,
)
from automations.services.summary import automation_summary, summarize
from billing import clock
from billing.models import Event
from billing.services.customers import customer_create

OVERDUE = "invoice.overdue"
FAILED = "subscription.payment_failed"
DUE_SOON = "invoice.due_date_upcoming"
QUOTE = "quote.expiring"

VOID = {"action": "void_invoice", "delay": {"amount": 0, "unit": "days"}, "params": {}}


def wait(amount, unit="days", action="void_invoice"):
    return {"action": action, "delay": {"amount": amount, "unit": unit}, "params": {}}


MEMO = {"recipient": "eddie@team.example", "message": "Heads up: {number} for {customer}."}


def at(amount, direction, unit="days"):
    """A date-anchored step: email the team (allowed for every trigger)."""
    delay = {"amount": amount, "unit": unit, "direction": direction}
    return {"action": "send_team_email", "delay": delay, "params": MEMO}


@pytest.fixture(autouse=True)
def team(editor):
    """The editor is a team member, so team emails to eddie@team.example are valid."""
    return editor


def errors_of(**definition) -> dict[str, str]:
    with pytest.raises(DefinitionError) as exc:
        validate_definition(**{"filters": [], "steps": [VOID], **definition})
    return exc.value.errors


def create(name="Chase", trigger=OVERDUE, filters=(), steps=(VOID,), **kwargs) -> Automation:
    return automation_create(name=name, trigger=trigger, filters=list(filters), steps=list(steps), **kwargs)


def new_event() -> Event:
    n = Event.objects.count()
    customer_create(name=f"Customer {n}", email=f"c{n}@example.com")
    return Event.objects.filter(type="customer.created").order_by("-id").first()


def start_run(automation, *, version=None, status=RunStatus.ACTIVE, steps=(StepStatus.PENDING,)) -> Run:
    run = Run.objects.create(
        automation=automation,
        version=version or automation.current_version,
        trigger=automation.trigger,
        event=new_event(),
        object_type="invoice",
        object_id="in_test",
        status=status,
        started_at=clock.now(),
    )
    for position, step_status in enumerate(steps):
        RunStep.objects.create(
            run=run, position=position, action="void_invoice", scheduled_at=clock.now(), status=step_status
        )
    return run


# Validation ---------------------------------------------------------------------------------


def test_a_valid_definition_comes_back_cleaned():
    definition = validate_definition(
        trigger=FAILED,
        filters=[{"type": "invoice_amount", "params": {"min": "500"}}, {"type": "subscription_interval", "params": {"interval": "year"}}],
        steps=[{"action": "void_invoice", "delay": {"amount": "3", "unit": "hours"}}],
    )  # fmt: skip
    assert definition.trigger == FAILED
    assert definition.filters == [
        {"type": "invoice_amount", "params": {"min": "500.00", "max": None}},
        {"type": "subscription_interval", "params": {"interval": "year"}},
    ]
    assert definition.steps == [{"action": "void_invoice", "delay": {"amount": 3, "unit": "hours"}, "params": {}}]


def test_it_refuses_an_unknown_trigger():
    assert errors_of(trigger="invoice.lost") == {"trigger": "Unknown trigger 'invoice.lost'."}
    assert errors_of(trigger="") == {"trigger": "Choose a trigger."}


def test_it_refuses_a_filter_not_offered_for_the_trigger():
    errors = errors_of(
        trigger=QUOTE, filters=[{"type": "invoice_amount", "params": {"min": 1}}], steps=[at(1, "before")]
    )
    assert errors == {"filters.0.type": "Invoice amount is not available for 'Quote has an expiration date'."}


def test_it_refuses_an_unknown_filter():
    assert errors_of(trigger=OVERDUE, filters=[{"type": "weather", "params": {}}]) == {
        "filters.0.type": "Unknown condition 'weather'."
    }
    assert errors_of(trigger=OVERDUE, filters=[{"params": {}}]) == {"filters.0.type": "Choose a condition."}


def test_filter_settings_errors_are_reported_under_the_filter():
    errors = errors_of(
        trigger=OVERDUE,
        filters=[{"type": "product", "params": {"products": ["prod_x"]}}, {"type": "customer_metadata", "params": {}}],
    )
    assert errors == {
        "filters.0.params.products": "Unknown product(s): prod_x.",
        "filters.1.params.key": "Enter the metadata key.",
        "filters.1.params.value": "Enter the value.",
    }


def test_the_same_filter_type_twice_is_refused():
    interval = {"type": "subscription_interval", "params": {"interval": "month"}}
    errors = errors_of(trigger=FAILED, filters=[interval, {**interval, "params": {"interval": "year"}}])
    assert errors == {
        "filters.1.type": "Subscription interval is already a condition; combine its settings in one row."
    }


def test_it_refuses_an_unknown_action():
    assert errors_of(trigger=OVERDUE, steps=[wait(1, action="call_grandma")]) == {
        "steps.0.action": "Unknown action 'call_grandma'."
    }
    assert errors_of(trigger=OVERDUE, steps=[{"delay": {"amount": 1, "unit": "days"}}]) == {
        "steps.0.action": "Choose an action."
    }


def test_it_refuses_an_action_not_allowed_for_the_trigger():
    label = ACTIONS["void_invoice"].label
    errors = errors_of(
        trigger=QUOTE, steps=[at(1, "before"), {**VOID, "delay": {"amount": 1, "unit": "hours", "direction": "before"}}]
    )
    assert errors == {"steps.1.action": f"{label} is not available for 'Quote has an expiration date'."}


QUOTE_ENDS = (
    "A quote is canceled at its expiry, which ends the run: time this step before the expiry date "
    "(1 hour before at the latest)."
)


@pytest.mark.parametrize(
    "delay",
    [
        {"amount": 2, "unit": "days", "direction": "after"},
        {"amount": 1, "unit": "hours", "direction": "after"},
        {"amount": 0, "unit": "days", "direction": "after"},
        {"amount": 0, "unit": "hours", "direction": "before"},
    ],
)
def test_it_refuses_a_quote_step_at_or_after_the_expiry_which_ends_the_run(delay):
    steps = [at(3, "before"), {"action": "send_team_email", "delay": delay, "params": MEMO}]
    assert errors_of(trigger=QUOTE, steps=steps) == {"steps.1.delay": QUOTE_ENDS}


def test_a_quote_step_an_hour_before_the_expiry_is_the_latest_accepted():
    clean = validate_definition(trigger=QUOTE, filters=[], steps=[at(1, "before", unit="hours")])
    assert clean.steps[0]["delay"] == {"amount": 1, "unit": "hours", "direction": "before"}


def test_steps_after_other_anchor_dates_stay_allowed():
    for trigger in (DUE_SOON, "subscription.cancel_scheduled", "subscription.pause_scheduled"):
        validate_definition(trigger=trigger, filters=[], steps=[at(0, "after"), at(2, "after")])


def test_action_settings_errors_are_reported_under_the_step():
    errors = errors_of(
        trigger=OVERDUE, steps=[VOID, {"action": "send_team_email", "delay": {"amount": 1, "unit": "days"}}]
    )
    assert "steps.1.params.recipient" in errors
    assert all(key.startswith("steps.1.params.") for key in errors)


def test_settings_given_to_an_action_without_settings_are_reported_on_its_params():
    errors = errors_of(trigger=OVERDUE, steps=[{**VOID, "params": {"reason": "because"}}])
    assert errors == {"steps.0.params": "Void invoice takes no settings."}


@pytest.mark.parametrize(
    ("unit", "limit"), [("minutes", 525600), ("hours", 8760), ("days", 365)]
)  # fmt: skip
def test_a_delay_can_be_at_most_365_days_in_any_unit(unit, limit):
    validate_definition(trigger=OVERDUE, filters=[], steps=[wait(limit, unit)])
    errors = errors_of(trigger=OVERDUE, steps=[wait(limit + 1, unit)])
    assert errors == {"steps.0.delay": f"A delay can be at most 365 days ({limit} {unit})."}


@pytest.mark.parametrize("amount", [-1, 1.5, "two", True, None])
def test_a_delay_is_a_whole_number_zero_or_more(amount):
    errors = errors_of(trigger=OVERDUE, steps=[{**VOID, "delay": {"amount": amount, "unit": "days"}}])
    assert errors == {"steps.0.delay": "The delay must be a whole number, 0 or more."}


def test_a_step_needs_a_delay():
    assert errors_of(trigger=OVERDUE, steps=[{"action": "void_invoice"}]) == {
        "steps.0.delay": "Enter a delay (0 for no wait)."
    }


def test_the_delay_unit_must_suit_the_timing_of_the_trigger():
    assert errors_of(trigger=OVERDUE, steps=[wait(1, "weeks")]) == {
        "steps.0.delay": "Steps of 'Invoice is overdue' are timed in minutes or hours or days."
    }
    assert errors_of(trigger=DUE_SOON, steps=[at(30, "before", unit="minutes")]) == {
        "steps.0.delay": "Steps of 'Invoice due date is upcoming' are timed in hours or days."
    }


def test_an_anchored_step_needs_a_direction_and_a_relative_one_has_none():
    undirected = {**at(3, "before"), "delay": {"amount": 3, "unit": "days"}}
    assert errors_of(trigger=DUE_SOON, steps=[undirected]) == {
        "steps.0.delay": "Choose whether the step happens before or after the date."
    }
    assert errors_of(trigger=DUE_SOON, steps=[at(3, "around")]) == {
        "steps.0.delay": "Choose whether the step happens before or after the date."
    }
    assert errors_of(
        trigger=OVERDUE, steps=[{**VOID, "delay": {"amount": 3, "unit": "days", "direction": "after"}}]
    ) == {"steps.0.delay": "A wait after the previous step has no before or after."}


def test_anchored_steps_must_be_listed_in_time_order():
    validate_definition(
        trigger=DUE_SOON, filters=[], steps=[at(3, "before"), at(24, "before", "hours"), at(0, "after")]
    )
    errors = errors_of(trigger=DUE_SOON, steps=[at(1, "after"), at(2, "before")])
    assert errors == {"steps.1.delay": "This step would happen before the previous one; list steps in time order."}


def test_an_automation_has_one_to_twenty_steps():
    assert errors_of(trigger=OVERDUE, steps=[]) == {"steps": "Add at least one step."}
    validate_definition(trigger=OVERDUE, filters=[], steps=[VOID] * 20)
    assert errors_of(trigger=OVERDUE, steps=[VOID] * 21) == {"steps": "An automation can have at most 20 steps."}


def test_all_the_problems_are_reported_at_once():
    errors = errors_of(
        trigger=OVERDUE,
        filters=[{"type": "subscription_interval", "params": {"interval": "month"}}],
        steps=[VOID, wait(1, "weeks"), wait(1, action="nope")],
    )
    assert set(errors) == {"filters.0.type", "steps.1.delay", "steps.2.action"}
    assert "Subscription interval is not available for 'Invoice is overdue'." in str(errors)


# Create and update ----------------------------------------------------------------------------


def test_creating_an_automation_saves_version_1_of_its_definition(editor):
    automation = create(name="  Chase late payers ", steps=[wait(3)], user=editor)
    assert automation.name == "Chase late payers"
    assert (automation.enabled, automation.priority, automation.created_by, automation.updated_by) == (
        True, 1, editor, editor,
    )  # fmt: skip
    version = automation.current_version
    assert (version.number, version.filters, version.created_by) == (1, [], editor)
    assert version.steps == [{"action": "void_invoice", "delay": {"amount": 3, "unit": "days"}, "params": {}}]


def test_a_name_is_required_and_at_most_200_characters(db):
    with pytest.raises(DefinitionError) as exc:
        create(name="   ", steps=[])
    assert exc.value.errors == {"name": "Enter a name.", "steps": "Add at least one step."}
    with pytest.raises(DefinitionError) as exc:
        create(name="x" * 201)
    assert exc.value.errors == {"name": "A name can be at most 200 characters."}
    assert not Automation.objects.exists()


def test_new_automations_go_last_among_those_of_their_trigger(db):
    first, second = create(name="First"), create(name="Second")
    other_trigger = create(name="Other", trigger=FAILED)
    archived = create(name="Archived")
    start_run(archived)
    automation_archive(automation=archived)
    third = create(name="Third")
    assert [first.priority, second.priority, third.priority, other_trigger.priority] == [1, 2, 3, 1]
    assert in_priority_order(OVERDUE) == [first, second, third]


def test_a_disabled_automation_can_be_created_and_is_not_offered_to_the_engine(db):
    automation = create(enabled=False)
    assert not automation.enabled
    assert in_priority_order(OVERDUE) == []


def test_an_edit_makes_a_new_version_and_leaves_the_old_one_untouched(editor):
    automation = create(steps=[wait(3)])
    updated = automation_update(
        automation=automation, name="Chase harder", filters=[], steps=[wait(1), VOID], user=editor
    )
    assert updated.name == "Chase harder"
    assert updated.updated_by == editor
    assert updated.current_version.number == 2
    assert updated.current_version.steps == [wait(1), VOID]
    assert updated.current_version.created_by == editor
    v1 = AutomationVersion.objects.get(automation=automation, number=1)
    assert v1.steps == [wait(3)]
    automation_update(automation=updated, filters=[], steps=[wait(2)])
    assert list(automation.versions.values_list("number", flat=True)) == [3, 2, 1]
    assert Automation.objects.get(pk=automation.pk).current_version.steps == [wait(2)]


def test_a_rename_alone_makes_no_new_version(db):
    automation = create()
    updated = automation_update(automation=automation, name="Renamed", filters=[], steps=[VOID])
    assert (updated.name, updated.current_version.number) == ("Renamed", 1)


def test_an_invalid_edit_changes_nothing(db):
    automation = create()
    with pytest.raises(DefinitionError) as exc:
        automation_update(automation=automation, name="", filters=[], steps=[wait(400)])
    assert exc.value.errors == {"name": "Enter a name.", "steps.0.delay": "A delay can be at most 365 days (365 days)."}
    automation.refresh_from_db()
    assert (automation.name, automation.versions.count()) == ("Chase", 1)


def test_the_trigger_of_an_automation_cannot_change(db):
    automation = create()
    with pytest.raises(DefinitionError) as exc:
        automation_update(automation=automation, trigger=FAILED, filters=[], steps=[VOID])
    assert list(exc.value.errors) == ["trigger"]
    # Stating the current trigger is fine.
    automation_update(automation=automation, trigger=OVERDUE, filters=[], steps=[wait(1)])


def test_runs_in_progress_on_older_versions_are_counted(db):
    automation = create()
    v1 = automation.current_version
    start_run(automation)
    start_run(automation, status=RunStatus.COMPLETED, steps=[StepStatus.SUCCEEDED])
    assert runs_on_old_versions(automation) == 0
    automation = automation_update(automation=automation, filters=[], steps=[wait(1)])
    start_run(automation)
    assert runs_on_old_versions(automation) == 1
    assert Run.objects.filter(version=v1).count() == 2


def test_an_archived_automation_cannot_be_edited_or_turned_on(db):
    automation = create()
    start_run(automation)
    automation_archive(automation=automation)
    with pytest.raises(AutomationArchived, match="archived"):
        automation_update(automation=automation, filters=[], steps=[wait(1)])
    with pytest.raises(AutomationArchived, match="archived"):
        automation_enable(automation=automation)


# Priority -------------------------------------------------------------------------------------


def test_a_new_automation_can_be_placed_before_another_and_the_others_shift(db):
    first, second = create(name="First"), create(name="Second")
    assert create(name="Placed", place_before=second.public_id).priority == 2
    assert create(name="On top", place_before=first.public_id).priority == 1
    assert create(name="Last", place_before="").priority == 5
    assert [a.name for a in in_priority_order(OVERDUE)] == ["On top", "First", "Placed", "Second", "Last"]
    assert [a.priority for a in in_priority_order(OVERDUE)] == [1, 2, 3, 4, 5]


def test_an_edit_can_move_the_automation_and_keeps_its_place_otherwise(db):
    first, _, third = create(name="First"), create(name="Second"), create(name="Third")
    automation_update(automation=third, filters=[], steps=[VOID], place_before=first.public_id)
    assert [a.name for a in in_priority_order(OVERDUE)] == ["Third", "First", "Second"]
    automation_update(automation=first, filters=[], steps=[wait(2)])
    assert [a.name for a in in_priority_order(OVERDUE)] == ["Third", "First", "Second"]
    automation_update(automation=third, filters=[], steps=[VOID], place_before="")
    assert [a.name for a in in_priority_order(OVERDUE)] == ["First", "Second", "Third"]


@pytest.mark.parametrize("where", ["unknown", "other trigger", "itself", "archived"])
def test_a_place_before_an_automation_that_is_not_a_neighbour_is_refused_and_nothing_is_saved(db, where):
    first = create(name="First")
    other = create(name="Other", trigger=FAILED)
    archived = create(name="Archived")
    start_run(archived)
    automation_archive(automation=archived)
    target = {"unknown": "auto_nope", "other trigger": other.public_id, "itself": first.public_id}.get(
        where, archived.public_id
    )
    message = (
        "The automation to place it before is no longer among those of 'Invoice is overdue': choose its place again."
    )
    with pytest.raises(DefinitionError) as exc:
        if where == "itself":
            automation_update(automation=first, filters=[], steps=[wait(5)], place_before=target)
        else:
            create(name="New", place_before=target)
    assert exc.value.errors == {"place_before": message}
    assert Automation.objects.filter(trigger=OVERDUE, archived_at__isnull=True).count() == 1
    assert first.versions.count() == 1


def test_reordering_sets_priorities_1_to_n(editor):
    a, b, c = create(name="A"), create(name="B"), create(name="C")
    ordered = automation_reorder(trigger=OVERDUE, ordered_ids=[c.public_id, a.public_id, b.public_id], user=editor)
    assert ordered == [c, a, b]
    assert in_priority_order(OVERDUE) == [c, a, b]
    assert list(Automation.objects.filter(trigger=OVERDUE).order_by("priority").values_list("name", "priority")) == [
        ("C", 1), ("A", 2), ("B", 3),
    ]  # fmt: skip
    assert Automation.objects.get(pk=c.pk).updated_by == editor


def reorder_errors(ids) -> str:
    with pytest.raises(DefinitionError) as exc:
        automation_reorder(trigger=OVERDUE, ordered_ids=ids)
    assert list(exc.value.errors) == ["ordered_ids"]
    return exc.value.errors["ordered_ids"]


def test_reordering_must_list_every_automation_of_the_trigger_exactly_once(db):
    a, b = create(name="A"), create(name="B")
    other = create(name="Other", trigger=FAILED)
    archived = create(name="Archived")
    start_run(archived)
    automation_archive(automation=archived)
    assert reorder_errors([a.public_id]) == f"Missing from the order: {b.public_id}."
    assert reorder_errors([a.public_id, b.public_id, a.public_id]) == f"Listed more than once: {a.public_id}."
    assert reorder_errors([a.public_id, b.public_id, "auto_nope"]) == "Unknown automation(s): auto_nope."
    assert reorder_errors([a.public_id, b.public_id, other.public_id]) == (
        f"Not automations of 'Invoice is overdue': {other.public_id}."
    )
    assert reorder_errors([a.public_id, b.public_id, archived.public_id]) == f"Archived: {archived.public_id}."
    assert [x.priority for x in Automation.objects.filter(pk__in=[a.pk, b.pk]).order_by("pk")] == [1, 2]


def test_reordering_an_unknown_trigger_is_refused(db):
    with pytest.raises(DefinitionError) as exc:
        automation_reorder(trigger="invoice.lost", ordered_ids=[])
    assert exc.value.errors == {"trigger": "Unknown trigger 'invoice.lost'."}


# Turning off and on ---------------------------------------------------------------------------


def test_turning_off_and_letting_runs_finish_leaves_them_going(editor):
    automation = create()
    run = start_run(automation, steps=[StepStatus.SUCCEEDED, StepStatus.PENDING])
    assert automation_disable(automation=automation, in_flight="finish", user=editor) == 1
    automation.refresh_from_db()
    assert (automation.enabled, automation.updated_by) == (False, editor)
    assert in_priority_order(OVERDUE) == []
    run.refresh_from_db()
    assert run.status == RunStatus.ACTIVE
    assert list(run.steps.values_list("status", flat=True)) == [StepStatus.SUCCEEDED, StepStatus.PENDING]


def test_turning_off_and_canceling_cancels_active_runs_and_their_pending_steps(db):
    automation, other = create(), create(name="Other")
    running = start_run(automation, steps=[StepStatus.SUCCEEDED, StepStatus.PENDING, StepStatus.PENDING])
    also_running = start_run(automation)
    done = start_run(automation, status=RunStatus.COMPLETED, steps=[StepStatus.SUCCEEDED])
    elsewhere = start_run(other)
    moment = datetime(2026, 3, 1, 12, tzinfo=UTC)
    with clock.travel(moment):
        assert automation_disable(automation=automation, in_flight="cancel") == 2
    for run in (running, also_running):
        run.refresh_from_db()
        assert (run.status, run.reason, run.finished_at) == (RunStatus.CANCELED, "automation turned off", moment)
    assert list(running.steps.values_list("status", flat=True)) == [
        StepStatus.SUCCEEDED, StepStatus.CANCELED, StepStatus.CANCELED,
    ]  # fmt: skip
    done.refresh_from_db()
    elsewhere.refresh_from_db()
    assert (done.status, done.finished_at) == (RunStatus.COMPLETED, None)
    assert elsewhere.status == RunStatus.ACTIVE
    assert elsewhere.steps.get().status == StepStatus.PENDING


def test_turning_off_needs_a_choice_for_runs_in_progress(db):
    automation = create()
    with pytest.raises(DefinitionError) as exc:
        automation_disable(automation=automation, in_flight="later")
    assert list(exc.value.errors) == ["in_flight"]
    automation.refresh_from_db()
    assert automation.enabled


def test_an_automation_can_be_turned_back_on(editor):
    first, second = create(name="First"), create(name="Second")
    automation_disable(automation=first, in_flight="finish")
    assert in_priority_order(OVERDUE) == [second]
    automation_enable(automation=first, user=editor)
    first.refresh_from_db()
    assert (first.enabled, first.updated_by) == (True, editor)
    assert in_priority_order(OVERDUE) == [first, second]


# Archive --------------------------------------------------------------------------------------


def test_an_automation_that_never_ran_is_deleted_and_the_others_move_up(db):
    first, second, third = create(name="First"), create(name="Second"), create(name="Third")
    automation_update(automation=first, filters=[], steps=[wait(1)])
    assert automation_archive(automation=first) is None
    assert not Automation.objects.filter(pk=first.pk).exists()
    assert not AutomationVersion.objects.filter(automation_id=first.pk).exists()
    assert list(Automation.objects.order_by("priority").values_list("name", "priority")) == [
        ("Second", 1),
        ("Third", 2),
    ]
    assert in_priority_order(OVERDUE) == [second, third]


def test_an_automation_that_ran_is_archived_with_its_history(editor):
    first, second, third = create(name="First"), create(name="Second"), create(name="Third")
    run = start_run(second)
    moment = datetime(2026, 3, 1, 12, tzinfo=UTC)
    with clock.travel(moment):
        archived = automation_archive(automation=second, user=editor)
    assert (archived.archived_at, archived.enabled, archived.updated_by) == (moment, False, editor)
    assert in_priority_order(OVERDUE) == [first, third]
    assert [first.priority, Automation.objects.get(pk=third.pk).priority] == [1, 2]
    run.refresh_from_db()
    assert run.status == RunStatus.ACTIVE  # runs in progress finish unless asked otherwise
    with pytest.raises(AutomationArchived, match="already archived"):
        automation_archive(automation=second)


def test_archiving_can_cancel_the_runs_in_progress(db):
    automation = create()
    run = start_run(automation)
    automation_archive(automation=automation, in_flight="cancel")
    run.refresh_from_db()
    assert (run.status, run.reason) == (RunStatus.CANCELED, "automation turned off")
    assert run.steps.get().status == StepStatus.CANCELED


# Summary --------------------------------------------------------------------------------------


def test_the_summary_reads_like_the_spec_example():
    text = summarize(
        trigger=FAILED,
        filters=[{"type": "subscription_interval", "params": {"interval": "year"}}],
        steps=[
            {"action": "set_retry_policy", "delay": {"amount": 0, "unit": "days"}, "params": {"policy": "Annual"}},
            {"action": "cancel_subscription", "delay": {"amount": 7, "unit": "days"}, "params": {}},
            {"action": "mark_invoice_uncollectible", "delay": {"amount": 0, "unit": "minutes"}, "params": {}},
        ],
    )
    assert text == (
        "When a subscription payment fails, for yearly subscriptions: start retry policy Annual, wait 7 days, "
        "cancel the subscription, mark the invoice uncollectible"
    )


def test_the_summary_says_each_wait_in_its_unit():
    text = summarize(trigger=OVERDUE, filters=[], steps=[wait(1, "hours"), wait(1), wait(90, "minutes")])
    assert (
        text
        == "When an invoice is overdue: wait 1 hour, void the invoice, wait 1 day, void the invoice, wait 90 minutes, void the invoice"
    )


def test_the_summary_of_a_date_anchored_automation():
    text = summarize(
        trigger=DUE_SOON,
        filters=[
            {"type": "customer_metadata", "params": {"key": "plan", "value": "gold"}},
            {"type": "invoice_amount", "params": {"min": "100.00", "max": None}},
        ],
        steps=[
            at(3, "before"),
            at(1, "before", "hours"),
            {
                "action": "send_invoice_will_be_due_webhook",
                "delay": {"amount": 0, "unit": "days", "direction": "after"},
            },
            at(2, "after"),
        ],
    )
    assert text == (
        "When an invoice due date is upcoming, for customer metadata plan is gold and invoice amount at least 100.00 EUR: "
        "3 days before the due date: email eddie@team.example; 1 hour before the due date: email eddie@team.example; "
        "on the due date: send the invoice.will_be_due webhook; 2 days after the due date: email eddie@team.example"
    )


def test_the_summary_names_the_anchor_of_each_date_anchored_trigger():
    anchors = {
        QUOTE: "When a quote has an expiration date: 1 day before the expiry date",
        "subscription.cancel_scheduled": "When a subscription is scheduled to cancel: 1 day before the cancellation date",
        "subscription.pause_scheduled": (
            "When a subscription payment collection is scheduled to pause: 1 day before the pause start"
        ),
    }
    for trigger, expected in anchors.items():
        assert (
            summarize(trigger=trigger, filters=[], steps=[at(1, "before")]) == expected + ": email eddie@team.example"
        )


def test_the_summary_of_a_saved_automation_reads_its_current_version():
    automation = create(steps=[wait(2)])
    assert automation_summary(automation) == "When an invoice is overdue: wait 2 days, void the invoice"


def test_the_summary_of_an_unfinished_draft_does_not_fail():
    text = summarize(
        trigger=FAILED,
        filters=[{"type": "subscription_interval", "params": {}}],
        steps=[{"action": ""}, {"action": "send_team_email", "params": {}}],
    )
    assert text == "When a subscription payment fails, for subscription interval: …, send email to a team member"


@pytest.mark.parametrize("amount", ["²", "٣", "1" * 40, "-1", "1.5"])
def test_a_delay_that_is_not_plain_digits_is_refused_with_a_message(amount):
    steps = [{"action": "void_invoice", "delay": {"amount": amount, "unit": "days"}, "params": {}}]
    with pytest.raises(DefinitionError) as exc:
        validate_definition(trigger="invoice.overdue", filters=[], steps=steps)
    assert exc.value.errors["steps.0.delay"]


def test_a_null_character_anywhere_in_a_definition_is_refused_where_it_is():
    steps = [
        {
            "action": "send_team_email",
            "delay": {"amount": 0, "unit": "days"},
            "params": {"recipient": "eddie@team.example", "message": "Hi\x00"},
        }
    ]
    filters = [{"type": "customer_metadata", "params": {"key": "seg\x00", "value": "x"}}]
    with pytest.raises(DefinitionError) as exc:
        validate_definition(trigger="invoice.overdue", filters=filters, steps=steps)
    assert set(exc.value.errors) == {"filters.0.params.key", "steps.0.params.message"}
    assert "null character" in exc.value.errors["steps.0.params.message"]
