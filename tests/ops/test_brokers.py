"""The cluster's brokers wait a database or Redis restart out: the pusher's `dequeue` answers
"nothing to do" with one line per outage instead of dying with a traceback, and the monitor's
`acknowledge` tries again instead of dying mid-task."""

import logging
from contextlib import contextmanager

import pytest
import redis
from django.db import connection
from django_q.conf import Conf
from django_q.models import OrmQ
from django_q.signing import SignedPackage

from ops import brokers
from ops.brokers import SteadyORM, SteadyRedis
from tests.automations.test_outages import _closed_port
from tests.faults.conftest import private_redis  # noqa: F401  (a fixture)

OUTAGE_LOGGER = "automations.outages"


def _task(name: str) -> bytes:
    return SignedPackage.dumps({"id": name, "name": name, "func": "math.floor", "args": (1.5,), "kwargs": {}})


@contextmanager
def database_away():
    """The database out of reach, as while it restarts: the connection is dropped and a new one
    is refused (its address points at a closed port) until the block ends."""
    real = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = str(_closed_port())
    try:
        yield
    finally:
        connection.settings_dict["PORT"] = real
        connection.close()


def _lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name in {OUTAGE_LOGGER, brokers.__name__}]


def test_the_settings_name_the_steady_broker_of_the_configured_kind(settings):
    expected = "ops.brokers.SteadyRedis" if "redis" in settings.Q_CLUSTER else "ops.brokers.SteadyORM"
    assert settings.Q_CLUSTER["broker_class"] == expected


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_orm_pusher_waits_the_database_out_with_one_line_and_then_pulls_the_task(caplog, monkeypatch):
    monkeypatch.setattr(brokers.time, "sleep", lambda seconds: None)  # the backoff's wait, not the point
    broker = SteadyORM(list_key="steady-test")
    broker.enqueue(_task("first"))

    with caplog.at_level(logging.INFO):
        with database_away():
            assert broker.dequeue() is None  # nothing to do, and no traceback
            assert broker.dequeue() is None  # still away: no second line
        tasks = broker.dequeue()  # back
    assert [SignedPackage.loads(payload)["name"] for _, payload in tasks] == ["first"]
    lines = _lines(caplog)
    assert len(lines) == 2, lines
    assert lines[0].startswith("task queue: lost the database or broker (OperationalError:")
    assert lines[1].startswith("task queue: the database and broker are back after")
    assert lines[1].endswith("(2 failed attempts)")
    assert not any(r.exc_info for r in caplog.records)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_orm_monitor_acknowledges_a_task_once_the_database_is_back(caplog, monkeypatch):
    broker = SteadyORM(list_key="steady-test")
    task_id = broker.enqueue(_task("done"))
    waits = []

    def wait(seconds):  # the database comes back during the monitor's second wait
        waits.append(seconds)
        if len(waits) == 2:
            connection.settings_dict["PORT"] = real_port

    monkeypatch.setattr(brokers.time, "sleep", wait)
    real_port = connection.settings_dict["PORT"]
    with caplog.at_level(logging.INFO), database_away():
        broker.acknowledge(task_id)
    assert waits == [0.5, 1.0]
    assert not OrmQ.objects.filter(pk=task_id).exists()
    assert len(_lines(caplog)) == 2  # lost, back


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_orm_monitor_gives_an_acknowledgement_up_with_one_line_when_the_database_stays_away(caplog, monkeypatch):
    monkeypatch.setattr(brokers.time, "sleep", lambda seconds: None)
    broker = SteadyORM(list_key="steady-test")
    task_id = broker.enqueue(_task("done"))
    with caplog.at_level(logging.INFO), database_away():
        broker.acknowledge(task_id)  # returns: the monitor goes on with the next task
    assert OrmQ.objects.filter(pk=task_id).exists()  # handed out again when its lease ends
    lines = _lines(caplog)
    assert len(lines) == 2, lines
    assert lines[1] == (
        f"task {task_id} done but not acknowledged (the task queue is still out of reach): "
        "the broker hands it out again when its lease ends"
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_orm_broker_lets_other_errors_go_up(monkeypatch):
    broker = SteadyORM(list_key="steady-test")
    monkeypatch.setattr(Conf, "BULK", "not a number")  # a slice of a queryset refuses it: not an outage
    with pytest.raises(TypeError):
        broker.dequeue()


def test_the_redis_pusher_waits_a_redis_restart_out_with_one_line(private_redis, caplog, monkeypatch):  # noqa: F811
    monkeypatch.setattr(brokers.time, "sleep", lambda seconds: None)
    broker = SteadyRedis(list_key="steady-test")
    broker.connection = redis.Redis(host="127.0.0.1", port=private_redis.port, socket_connect_timeout=1)
    broker.enqueue(_task("before"))
    assert [SignedPackage.loads(payload)["name"] for _, payload in broker.dequeue()] == ["before"]

    private_redis.kill()
    with caplog.at_level(logging.INFO):
        assert broker.dequeue() is None
        assert broker.dequeue() is None  # still away: no second line
        private_redis.start()
        broker.enqueue(_task("after"))
        assert [SignedPackage.loads(payload)["name"] for _, payload in broker.dequeue()] == ["after"]
    lines = _lines(caplog)
    assert len(lines) == 2, lines
    assert lines[0].startswith("task queue: lost the database or broker (ConnectionError")
    assert lines[1].startswith("task queue: the database and broker are back after")
    assert lines[1].endswith("(2 failed attempts)")
