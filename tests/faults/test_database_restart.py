"""Database restart: 300 runs × 3 steps (mark uncollectible, team email, custom webhook) on a
real `qcluster` and dispatcher, and PostgreSQL is restarted under them (stopped, 3 s down,
started again) while steps are being executed. Every step then runs, and each effect happens
once; the dispatcher logs the outage once and its end once, with no traceback per tick.

The server restarted is a private, throwaway PostgreSQL started for this test (`initdb` and
`pg_ctl` on a free port, TCP only), never the machine's shared one: other test runs, and this
test's own pytest connection, live there. Everything runs on the ORM broker, so django-q2's
own loops lose their database too.
"""

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from glob import glob
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from automations.models import Run, RunStep
from billing import services
from tests.faults.conftest import (
    ROOT,
    chase_automation,
    check_chase_runs,
    failed_subscription_invoices,
    finish_sending,
    wait_for,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

RUNS = 300
DOWNTIME = 3  # seconds between the server's stop and its start
DATABASE = "relance_restart"


# --- A private PostgreSQL server ---------------------------------------------------------------


def _bindir() -> Path:
    """PostgreSQL's programs: `pg_config --bindir`, else Debian's /usr/lib/postgresql/<version>/bin."""
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        found = Path(
            subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True).stdout.strip()
        )
        if (found / "initdb").exists():
            return found
    candidates = sorted(glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if not candidates:
        pytest.fail("This test needs PostgreSQL's server programs (initdb, pg_ctl): apt-get install postgresql")
    return Path(candidates[-1]).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class PrivateServer:
    """A throwaway PostgreSQL: its data directory in a short temp path, TCP on 127.0.0.1 only."""

    bindir: Path
    home: Path
    port: int

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def url(self) -> str:
        return f"postgres://relance@127.0.0.1:{self.port}/{DATABASE}"

    def _run(self, *command: str, timeout: float = 60) -> None:
        # initdb refuses to run as root: the server's programs run as `postgres` then.
        as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*as_user, *command], check=True, capture_output=True, timeout=timeout, cwd=self.home)

    def init(self) -> None:
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", "relance", "--auth=trust", "-E", "UTF8")

    def start(self) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories='' "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"  # throwaway data
        )
        log = str(self.home / "server.log")
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", log, "-o", options, "-w", "start")

    def stop(self) -> None:
        """Fast shutdown: every session is terminated ("terminating connection due to administrator command")."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def create_database(self) -> None:
        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="relance", dbname="postgres", autocommit=True
        ) as db:
            db.execute(f"CREATE DATABASE {DATABASE}")


@pytest.fixture
def private_postgres() -> Iterator[PrivateServer]:
    """A PostgreSQL server of this test's own; stopped and removed afterwards, also on failure."""
    as_root = os.geteuid() == 0
    # As root the server runs as `postgres`, who must reach its directory: /tmp, not root's TMPDIR.
    home = Path(tempfile.mkdtemp(prefix="relance-pg-", dir="/tmp" if as_root else None))
    if as_root:
        shutil.chown(home, "postgres", "postgres")
    server = PrivateServer(_bindir(), home, _free_port())
    try:
        server.init()
        server.start()
        server.create_database()
        yield server
    finally:
        with contextlib.suppress(Exception):
            if server.running():
                server.stop()
        shutil.rmtree(home, ignore_errors=True)


@contextlib.contextmanager
def database_of(server: PrivateServer) -> Iterator[None]:
    """Point this process's default connection at the private server for the block."""
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update(HOST="127.0.0.1", PORT=server.port, NAME=DATABASE, USER="relance", PASSWORD="")
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)


def migrate(server: PrivateServer) -> None:
    env = os.environ | {"DJANGO_SETTINGS_MODULE": "config.settings", "DATABASE_URL": server.url, "DEBUG": "1"}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, check=True, capture_output=True,
        timeout=120,
    )  # fmt: skip


# --- The test ------------------------------------------------------------------------------------


def test_a_database_restart_under_running_workers_loses_no_step_and_repeats_none(private_postgres, workers, receiver):
    server = private_postgres
    migrate(server)
    with database_of(server):
        chase_automation(receiver.url)
        invoices = failed_subscription_invoices(RUNS)
        for invoice in invoices:
            # The card declines: `invoice.payment_failed` starts the run (handled here, in sync mode).
            services.invoice_attempt_payment(invoice=invoice)
        assert Run.objects.filter(status="active").count() == RUNS
        started = time.monotonic()
        workers.start(DATABASE_URL=server.url)

        # Restart while steps are being executed: some done, most still to do.
        succeeded = RunStep.objects.filter(status="succeeded")
        assert wait_for(lambda: succeeded.count() >= 100, timeout=60, interval=0.05), workers.log_tail()
        done_before = succeeded.count()
        connection.close()
        server.stop()
        time.sleep(DOWNTIME)
        server.start()
        restarted = time.monotonic() - started

        # Steps a worker held when its connection went are taken over once their lease (15 s) runs out.
        unfinished = RunStep.objects.filter(status__in=["pending", "running"])
        done = wait_for(lambda: not unfinished.exists(), timeout=60, interval=0.5)
        assert done, f"{unfinished.count()} steps unfinished\n" + workers.log_tail()
        steps_done = time.monotonic() - started
        workers.stop_all()
        left = finish_sending()
        repeats = check_chase_runs(invoices, receiver, workers.mail_dir)
    # A billing effect commits with its step's record: an outage can interrupt both, never one.
    assert repeats["billing"] == 0, repeats

    # The dispatcher waited the outage out: one line when it began, one when it ended, no traceback.
    dispatcher_log = "\n".join(p.read_text(errors="replace") for p in workers.logs.glob("dispatcher-*.log"))
    assert len(workers.dispatchers) == 0 and len(list(workers.logs.glob("dispatcher-*.log"))) == 1
    assert dispatcher_log.count("dispatcher: lost the database or broker") == 1, dispatcher_log
    assert dispatcher_log.count("dispatcher: the database and broker are back") == 1, dispatcher_log
    assert "Traceback" not in dispatcher_log, dispatcher_log
    assert dispatcher_log.rstrip().endswith("Automation dispatcher stopped."), dispatcher_log
    # Every line of its own says when, how bad and who (LOG_FORMAT=text): none is a bare print.
    own = [line for line in dispatcher_log.splitlines() if "dispatcher" in line.lower()]
    assert own and all(re.match(r"\d{4}-\d\d-\d\d[ T][\d:,.]+ (INFO|WARNING) \S+", line) for line in own), own
    # The workers' batches that lost the database said so in a line each, not a traceback per step.
    assert workers.log_count("could not be executed") == workers.log_count("could not be handled") == 0
    qcluster_log = "\n".join(p.read_text(errors="replace") for p in workers.logs.glob("qcluster-*.log"))
    print(
        f"restart after {done_before} of {3 * RUNS} steps done, {restarted:.1f} s in; all steps done after "
        f"{steps_done:.1f} s; repeats: {repeats}; emails/deliveries left to the sweep: {left}; tracebacks in the "
        f"cluster's log: {qcluster_log.count('Traceback')}\n--- dispatcher log\n"
        + "\n".join(line for line in dispatcher_log.splitlines() if not line.startswith("Enqueued"))
    )
