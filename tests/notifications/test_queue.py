"""The notifications' django-q2 tasks are queued by one module, by dotted path, once the
transaction that made their work commits."""

import ast
import inspect

import pytest
from django.db import transaction
from django.utils.module_loading import import_string

from notifications import queue, tasks

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(monkeypatch) -> list[tuple]:
    calls: list[tuple] = []
    monkeypatch.setattr("notifications.queue.async_task", lambda *args, **kwargs: calls.append(args))
    return calls


def test_it_queues_one_task_for_all_deliveries_only_when_the_transaction_commits(
    queued, django_capture_on_commit_callbacks
):
    ids = [3, 5]
    with django_capture_on_commit_callbacks(execute=True):
        queue.enqueue_deliveries(ids)
        ids.append(8)  # the caller's list changing afterwards changes nothing
        assert queued == []
    assert queued == [("notifications.tasks.deliver_webhooks", [3, 5])]


def test_it_queues_a_resent_delivery_and_an_email_when_the_transaction_commits(
    queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        queue.enqueue_delivery(4)
        queue.enqueue_email(9)
        assert queued == []
    assert queued == [("notifications.tasks.deliver_webhooks", [4]), ("notifications.tasks.send_email", 9)]


@pytest.mark.django_db(transaction=True)
def test_it_queues_nothing_when_the_transaction_rolls_back(queued):
    with pytest.raises(RuntimeError), transaction.atomic():
        queue.enqueue_deliveries([1])
        queue.enqueue_email(2)
        raise RuntimeError("rolled back")
    assert queued == []


def test_it_names_only_tasks_that_exist():
    for name in (queue.DELIVER_WEBHOOKS, queue.SEND_EMAIL):
        assert name.startswith("notifications.tasks.")
        assert callable(import_string(name))


def test_the_task_module_imports_the_services_at_the_top_and_queues_nothing_itself():
    tree = ast.parse(inspect.getsource(tasks))
    inside_functions = [
        node
        for function in ast.walk(tree)
        if isinstance(function, ast.FunctionDef)
        for node in ast.walk(function)
        if isinstance(node, ast.Import | ast.ImportFrom)
    ]
    assert inside_functions == []
    assert "async_task" not in inspect.getsource(tasks)
