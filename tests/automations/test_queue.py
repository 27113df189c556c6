"""The engine's django-q2 tasks are queued by one module, by dotted path (the receivers and the
dispatcher call it; they run after the commit, so the queueing is immediate)."""

import pytest
from django.db import connection
from django.utils.module_loading import import_string

from automations import queue


@pytest.fixture
def queued(monkeypatch) -> list[tuple]:
    calls: list[tuple] = []
    monkeypatch.setattr("automations.queue.async_task", lambda *args, **kwargs: calls.append(args))
    return calls


@pytest.mark.django_db
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


def _synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_a_task_is_queued_without_waiting_for_the_disk(monkeypatch, settings):
    seen = []
    monkeypatch.setattr("automations.queue.async_task", lambda *args, **kwargs: seen.append(_synchronous_commit()))
    broker = {key: value for key, value in settings.Q_CLUSTER.items() if key not in {"orm", "redis"}}
    settings.Q_CLUSTER = {**broker, "orm": "default"}  # the database as the broker
    queue.enqueue_steps([4, 5])
    queue.enqueue_events([2, 3])
    assert seen == ["off", "off"]  # the broker's insert commits unflushed (the sweeps make up for a lost task) …
    assert _synchronous_commit() == "on"  # … and only it

    settings.Q_CLUSTER = {**broker, "redis": "redis://127.0.0.1:6379/0"}  # Redis as the broker: nothing to commit
    queue.enqueue_steps([6])
    assert seen == ["off", "off", "on"]
