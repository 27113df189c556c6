"""A long-running loop through database and broker outages, with real failures: its PostgreSQL
session terminated by the server, a server that refuses connections, a Redis that is not there."""

import logging
import socket

import psycopg
import pytest
import redis
from django.db import OperationalError, connection

from automations.outages import Outage

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _closed_port() -> int:
    """A local port nothing listens on (connections to it are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def terminate_backend(pid: int) -> None:
    """End a PostgreSQL session from another connection, as a server restart does."""
    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"], autocommit=True
    ) as other:
        assert other.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone()[0]


def _count_steps() -> int:
    from automations.models import RunStep

    return RunStep.objects.count()


def _outage_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "automations.outages"]


def test_it_reconnects_a_loop_whose_database_session_was_terminated(caplog):
    caplog.set_level(logging.INFO, logger="automations.outages")
    outage = Outage("dispatcher")
    assert outage.run(_count_steps) == 0
    terminate_backend(connection.connection.info.backend_pid)

    assert outage.run(_count_steps) is None  # the tick that finds the session gone
    assert outage.ongoing
    assert connection.connection is None  # dropped: the next tick opens a new one
    assert outage.run(_count_steps) == 0
    assert not outage.ongoing
    lines = _outage_lines(caplog)
    assert len(lines) == 2, lines
    assert lines[0].startswith("dispatcher: lost the database or broker (OperationalError: terminating connection")
    assert lines[1].startswith("dispatcher: the database and broker are back after")
    assert not any(r.exc_info for r in caplog.records)  # no traceback


def test_it_logs_an_outage_once_however_many_ticks_fail_and_backs_off_up_to_10_s(caplog):
    caplog.set_level(logging.INFO, logger="automations.outages")
    outage = Outage("dispatcher")
    saved_port = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = _closed_port()  # the server is down: connections are refused
    try:
        waits = []
        for _ in range(8):
            assert outage.run(_count_steps) is None
            waits.append(outage.backoff())
    finally:
        connection.settings_dict["PORT"] = saved_port
    assert waits == [0.5, 1, 2, 4, 8, 10, 10, 10]
    assert outage.run(_count_steps) == 0  # the server is back

    lines = _outage_lines(caplog)
    assert len(lines) == 2, lines
    assert "Connection refused" in lines[0] or "connection failed" in lines[0]
    assert "\n" not in lines[0]
    assert "(8 failed attempts)" in lines[1]
    assert outage.backoff() == 0.5  # the next outage starts again from the first wait


def test_it_leaves_a_failed_query_on_a_working_connection_to_the_loop(caplog):
    outage = Outage("dispatcher")

    def slow_query():
        with connection.cursor() as cursor:
            cursor.execute("SET statement_timeout = 10")
            try:
                cursor.execute("SELECT pg_sleep(1)")
            finally:
                cursor.execute("SET statement_timeout = 0")

    with pytest.raises(OperationalError, match="statement timeout"):
        outage.run(slow_query)  # not an outage: the loop decides (the dispatcher stops with the error)
    assert not outage.ongoing
    assert connection.is_usable()
    assert _outage_lines(caplog) == []


def test_it_counts_an_unreachable_redis_as_an_outage(caplog):
    caplog.set_level(logging.INFO, logger="automations.outages")
    outage = Outage("dispatcher")
    client = redis.Redis(host="127.0.0.1", port=_closed_port(), socket_connect_timeout=1)

    assert outage.run(client.ping) is None
    assert outage.run(client.ping) is None
    assert outage.run(lambda: "pong") == "pong"
    lines = _outage_lines(caplog)
    assert len(lines) == 2 and "ConnectionError" in lines[0], lines
