"""The engine's django-q2 tasks are queued by one module, by dotted path (the receivers and the
dispatcher call it; they run after the commit, so the queueing is immediate)."""

import pytest
from django.utils.module_loading import import_string

from automations import queue


@pytest.fixture
def queued(monkeypatch) -> list[tuple]:
    calls: list[tuple] = []
    monkeypatch.setattr("automations.queue.async_task", lambda *args, **kwargs: calls.append(args))
    return calls


def test_it_queues_an_event_a_batch_of_events_and_a_batch_of_steps_by_dotted_path(queued):
    queue.enqueue_event(1)
    queue.enqueue_events([2, 3])
    queue.enqueue_steps([4, 5])
    assert queued == [
        ("automations.tasks.handle_event", 1),
        ("automations.tasks.handle_events", [2, 3]),
        ("automations.tasks.execute_steps", [4, 5]),
    ]


def test_it_names_only_tasks_that_exist():
    for name in (queue.HANDLE_EVENT, queue.HANDLE_EVENTS, queue.EXECUTE_STEPS):
        assert name.startswith("automations.tasks.")
        assert callable(import_string(name))


@pytest.mark.parametrize("module", ["automations.receivers", "automations.engine.dispatch"])
def test_the_receivers_and_the_dispatcher_queue_through_it(module):
    import importlib
    import inspect

    assert "async_task" not in inspect.getsource(importlib.import_module(module))
