"""The dispatcher's loop when its database session is terminated under it (as by a restart)."""

import io
import logging
import os
import signal
import threading
import time

import pytest
from django.core.management import call_command
from django.db import connection

from ops.models import Heartbeat
from tests.automations.test_outages import terminate_backend

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_the_dispatcher_goes_on_with_a_new_connection_after_its_session_is_terminated(caplog):
    caplog.set_level(logging.INFO, logger="automations.outages")
    caplog.set_level(logging.INFO, logger="ops.management.commands.run_dispatcher")
    connection.ensure_connection()
    session = connection.connection.info.backend_pid  # the dispatcher runs here, on this connection
    killed = threading.Event()

    def terminate_then_stop():
        try:
            time.sleep(0.5)
            terminate_backend(session)
            killed.set()
            time.sleep(2.5)  # a few more ticks on a new connection
        finally:
            os.kill(os.getpid(), signal.SIGTERM)  # the dispatcher's own way to stop

    previous = signal.getsignal(signal.SIGTERM)
    thread = threading.Thread(target=terminate_then_stop, daemon=True)
    thread.start()
    out = io.StringIO()
    try:
        call_command("run_dispatcher", interval=0.05, stdout=out)
    finally:
        thread.join(timeout=10)
        signal.signal(signal.SIGTERM, previous)

    assert killed.is_set()
    said = [r for r in caplog.records if r.name == "ops.management.commands.run_dispatcher"]
    assert said[-1].getMessage() == "Automation dispatcher stopped." and said[-1].levelname == "INFO"
    assert connection.connection.info.backend_pid != session
    lines = [r.getMessage() for r in caplog.records if r.name == "automations.outages"]
    assert len(lines) == 2, lines  # the outage began, and ended
    assert "terminating connection due to administrator command" in lines[0]
    assert "back after" in lines[1]
    assert not Heartbeat.objects.filter(kind="dispatcher").exists()  # stopped cleanly: gone, not quiet
