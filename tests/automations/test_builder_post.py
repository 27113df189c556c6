"""The builder's post, parsed by automations.builder_post (no Django form: a module named for what it holds)."""

from django.http import QueryDict

from automations.builder_post import parse_post


def test_it_reads_a_hostile_post_with_gaps_and_garbage_as_rows_in_index_order():
    data = QueryDict(mutable=True)
    data.update({"name": "Win back", "trigger": "invoice.overdue"})
    data.update({"step-907-action": "send_email", "step-3-action": "wait", "step-x-action": "ignored"})

    draft = parse_post(data)

    assert (draft.name, draft.trigger) == ("Win back", "invoice.overdue")
    assert [step.action for step in draft.steps] == ["wait", "send_email"]
