"""A web process or a worker keeps its database connection between requests and tasks; after a
PostgreSQL restart, that connection is checked and replaced before its first use, not failed on."""

import psycopg
import pytest
from django.db import close_old_connections, connection

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_a_kept_connection_whose_server_session_ended_is_replaced_at_the_next_request():
    connection.ensure_connection()
    assert connection.settings_dict["CONN_MAX_AGE"] > 0, "persistent connections are what this is about"
    ended = connection.connection.info.backend_pid
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [ended])  # what a restart does to every session
    close_old_connections()  # Django's request_started / a django-q2 task's start
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != ended
