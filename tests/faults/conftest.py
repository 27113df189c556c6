"""Shared pieces of the fault tests: real worker processes on the test database, a webhook
receiver that counts event ids, and the data the runs act on.

The workers are `manage.py qcluster` and `manage.py run_dispatcher` subprocesses reading the
test database from DATABASE_URL. They are stopped with SIGTERM to their main process only (a
signal to the whole group can hang django-q2); whatever a killed cluster left behind is then
cleared by killing its session.
"""

import contextlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from automations.models import Automation, AutomationVersion
from billing.models import AccountSettings
from notifications.models import WebhookEndpoint
from tests.factories import DECLINED_CARD, make_customer, make_invoice, make_subscription

ROOT = Path(__file__).resolve().parents[2]
TEAM = "collections@relance.example"
CUSTOM_EVENT = "customer.subscription.custom_event"
NOW = {"amount": 0, "unit": "minutes"}


def wait_for(condition, timeout: float = 60, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return False


# --- Worker processes -----------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    """Child process ids of `pid`, in creation order (by pid), from `ps`."""
    out = subprocess.run(["ps", "-eo", "pid=,ppid="], capture_output=True, text=True, check=True).stdout
    rows = [line.split() for line in out.splitlines() if line.strip()]
    return sorted(int(pid_) for pid_, ppid in rows if int(ppid) == pid)


@dataclass
class Cluster:
    """One `qcluster`: main process → sentinel → workers, monitor and pusher."""

    proc: subprocess.Popen
    workers: int
    helpers: set[int] = field(default_factory=set)  # monitor and pusher: never killed

    def ready(self) -> bool:
        """The sentinel has spawned its workers, then the monitor and the pusher."""
        sentinels = _children(self.proc.pid)
        if len(sentinels) != 1:
            return False
        processes = _children(sentinels[0])
        if len(processes) < self.workers + 2:
            return False
        # Spawn order: the workers first, then the monitor, then the pusher.
        self.helpers = set(processes[self.workers :])
        return True

    def worker_pids(self) -> list[int]:
        sentinels = _children(self.proc.pid)
        if not sentinels:
            return []
        return [pid for pid in _children(sentinels[0]) if pid not in self.helpers]


class Workers:
    """Starts and stops the worker processes of one test."""

    def __init__(self, tmp_path: Path):
        db = connection.settings_dict
        self.logs = tmp_path / "logs"
        self.logs.mkdir()
        self.mail_dir = tmp_path / "mail"
        env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}  # the ORM broker unless told
        self.env = env | {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DEBUG": "1",
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "EMAIL_FILE_PATH": str(self.mail_dir),
            "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
            "AUTOMATION_STEP_LEASE_SECONDS": "15",
            "Q_WORKERS": "3",
            "LOG_LEVEL": "INFO",
        }
        self.procs: list[subprocess.Popen] = []
        self.clusters: list[Cluster] = []
        self.dispatchers: list[subprocess.Popen] = []

    def _spawn(self, command: list[str], env: dict, name: str) -> subprocess.Popen:
        log = open(self.logs / f"{name}-{len(self.procs)}.log", "w")  # noqa: SIM115 (closed with the process)
        proc = subprocess.Popen(
            [sys.executable, "manage.py", *command], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        log.close()  # the child has its own copy
        self.procs.append(proc)
        return proc

    def start_cluster(self, **env) -> Cluster:
        env = self.env | env
        cluster = Cluster(self._spawn(["qcluster"], env, "qcluster"), workers=int(env["Q_WORKERS"]))
        assert wait_for(cluster.ready, timeout=30), "qcluster did not start: " + self.log_tail()
        self.clusters.append(cluster)
        return cluster

    def start_dispatcher(self, **env) -> subprocess.Popen:
        proc = self._spawn(["run_dispatcher", "--interval", "0.2"], self.env | env, "dispatcher")
        self.dispatchers.append(proc)
        return proc

    def start(self, **env) -> Cluster:
        cluster = self.start_cluster(**env)
        self.start_dispatcher(**env)
        return cluster

    def stop(self, proc: subprocess.Popen) -> None:
        """SIGTERM to the main process only; then clear its session (orphans of killed parents)."""
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def stop_all(self) -> None:
        # The dispatchers first: nothing new is handed out while the clusters drain.
        for proc in [*self.dispatchers, *(c.proc for c in self.clusters)]:
            self.stop(proc)
        self.dispatchers.clear()
        self.clusters.clear()

    def log_tail(self, lines: int = 30) -> str:
        text = []
        for path in sorted(self.logs.glob("*.log")):
            tail = path.read_text(errors="replace").splitlines()[-lines:]
            text.append(f"--- {path.name}\n" + "\n".join(tail))
        return "\n".join(text)

    def log_count(self, pattern: str) -> int:
        return sum(path.read_text(errors="replace").count(pattern) for path in self.logs.glob("*.log"))


@pytest.fixture
def workers(tmp_path):
    """Real worker processes on the test database; everything is stopped after the test."""
    manager = Workers(tmp_path)
    yield manager
    for proc in manager.procs:
        manager.stop(proc)
    # Their database sessions end with them; the test database can only be dropped after that.
    wait_for(lambda: not _sessions_left(connection.settings_dict["NAME"]), timeout=15)


def _sessions_left(database: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [database]
        )
        return cursor.fetchone()[0] > 0


def kill(pid: int) -> bool:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    return True


READ, WRITE = {"x86_64": ("0", "1"), "aarch64": ("63", "64")}.get(os.uname().machine, ("0", "1"))


def _on_a_queue_pipe(pid: int) -> bool:
    """Some thread of `pid` is blocked reading or writing one of the cluster's queue pipes."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        fields = (task / "syscall").read_text().split()
        if len(fields) > 1 and fields[0] in (READ, WRITE):
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{pid}/fd/{int(fields[1], 16)}").startswith("pipe:"):
                    return True
    return False


def kill_a_worker(cluster: Cluster, rng: random.Random) -> int | None:
    """SIGKILL one worker of `cluster` at whatever it is doing, except reading or writing a queue pipe.

    A worker blocked reading the task queue holds the queue's read lock (the next task is its);
    one writing a result holds the result queue's write lock. Killed there, it takes the lock
    with it and every other worker of the cluster waits for it forever: django-q2 issue #23
    (open upstream), a wedge of django-q2 itself rather than of our engine. The worker is
    frozen with SIGSTOP while we look, so it cannot move into that state between look and kill.
    """
    pids = cluster.worker_pids()
    rng.shuffle(pids)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGSTOP)
            wait_for(lambda p=pid: Path(f"/proc/{p}/stat").read_text().split(") ")[1][0] == "T", 2, 0.002)
            if not _on_a_queue_pipe(pid):
                os.kill(pid, signal.SIGKILL)
                return pid
            os.kill(pid, signal.SIGCONT)
        except (ProcessLookupError, FileNotFoundError):
            continue
    return None


# --- A webhook receiver that counts event ids ------------------------------------------------


@dataclass
class Receiver:
    url: str = ""
    ids: list[str] = field(default_factory=list)
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def counts(self) -> Counter:
        with self.lock:
            return Counter(self.ids)


@pytest.fixture
def receiver(settings):
    """An HTTP endpoint on 127.0.0.1 that records the `id` of every event it is sent."""
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]  # for sweeps run in the test process
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if state.delay:
                time.sleep(state.delay)
            with state.lock:
                state.ids.append(json.loads(body)["id"])
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    yield state
    server.shutdown()
    server.server_close()


def mail_message_ids(mail_dir: Path) -> Counter:
    """How many times each message (its X-Relance-Message id) was written by the file backend."""
    found: Counter = Counter()
    if mail_dir.exists():
        for path in mail_dir.iterdir():
            found.update(re.findall(r"^X-Relance-Message: (\S+)$", path.read_text(errors="replace"), re.M))
    return found


# --- The runs the workers execute -------------------------------------------------------------


def automation(trigger: str, steps: list[dict], name: str = "Fault test") -> Automation:
    auto = Automation.objects.create(name=name, trigger=trigger, priority=1)
    version = AutomationVersion.objects.create(automation=auto, number=1, steps=steps)
    auto.current_version = version
    auto.save(update_fields=["current_version"])
    return auto


def chase_automation(receiver_url: str) -> Automation:
    """On a subscription's first failed payment: mark the invoice uncollectible, tell the team,
    send a custom webhook. (Uncollectible does not end a payment-failed run; void would.)"""
    account = AccountSettings.load()
    account.team_email_domains = ["relance.example"]
    account.save()
    WebhookEndpoint.objects.create(url=receiver_url, enabled_events=[CUSTOM_EVENT], secret="whsec_fault_tests")
    return automation(
        "subscription.payment_failed",
        [
            {"action": "mark_invoice_uncollectible", "delay": NOW, "params": {}},
            {"action": "send_team_email", "delay": NOW, "params": {"recipient": TEAM, "message": "{number} failed"}},
            {"action": "send_custom_event_webhook", "delay": NOW, "params": {"label": "payment_failed"}},
        ],
    )


def failed_subscription_invoices(count: int) -> list:
    """Open subscription invoices whose customers' cards decline (not charged yet)."""
    invoices = []
    for _ in range(count):
        customer = make_customer(default_payment_method=DECLINED_CARD)
        subscription = make_subscription(customer=customer)
        due = timezone.now() + timedelta(days=30)
        invoices.append(make_invoice(customer=customer, subscription=subscription, due_date=due))
    return invoices


def seeded_random(request) -> random.Random:
    """A random source whose seed is printed (and can be fixed with FAULT_SEED) to replay a run."""
    seed = int(os.environ.get("FAULT_SEED") or random.SystemRandom().randrange(1 << 30))
    print(f"\n{request.node.name}: FAULT_SEED={seed}")
    return random.Random(seed)


# --- What the chase runs must have done, exactly once ------------------------------------------


def all_sent() -> bool:
    from notifications.models import OutboundEmail, WebhookDelivery

    return (
        not OutboundEmail.objects.exclude(status="sent").exists()
        and not WebhookDelivery.objects.exclude(status="succeeded").exists()
    )


def finish_sending() -> int:
    """Stop waiting for emails and deliveries a kill interrupted: their claims (90 s / 60 s) hold
    them until the sweep; run the sweep here, at a moment after those claims have run out."""
    from billing import clock
    from notifications.tasks import run_sweep

    wait_for(all_sent, timeout=5)
    with clock.travel(timezone.now() + timedelta(minutes=3)):
        return run_sweep()


def check_chase_runs(invoices: list, receiver: Receiver, mail_dir: Path) -> dict:
    """Every chase run completed; each billing effect, email and webhook happened once, and a
    repeat only where an attempt was interrupted. Returns the counts of repeats."""
    from django.core import mail

    from automations.engine.actions.common import webhook_event_id
    from automations.models import Run, RunStep
    from billing.models import Event
    from notifications.models import DeliveryAttempt, OutboundEmail, WebhookDelivery

    runs = len(invoices)
    assert all_sent()
    # No step lost or left running; each run completed.
    assert Counter(Run.objects.values_list("status", flat=True)) == {"completed": runs}
    steps = list(RunStep.objects.select_related("run"))
    assert len(steps) == 3 * runs
    statuses = Counter((s.position, s.status) for s in steps)
    assert statuses[(2, "succeeded")] == statuses[(3, "succeeded")] == runs, statuses
    # The billing step succeeded, or, executed again after a kill that landed between its
    # effect and its record, found its own effect done.
    billing_redone = [s for s in steps if s.position == 1 and s.status != "succeeded"]
    assert all(s.status == "skipped" and s.attempts > 1 for s in billing_redone), billing_redone
    assert all("already uncollectible" in s.error for s in billing_redone)

    # Every billing effect exactly once: one event per invoice.
    marked = Counter(Event.objects.filter(type="invoice.marked_uncollectible").values_list("object_id", flat=True))
    assert marked == Counter({invoice.public_id: 1 for invoice in invoices})

    # One message per email step, sent; a copy more only for an attempt that did not record its end.
    copies = mail_message_ids(mail_dir)
    copies.update(m.extra_headers["X-Relance-Message"] for m in mail.outbox)  # sent by the final sweep
    emails = {e.idempotency_key: e for e in OutboundEmail.objects.all()}
    assert len(emails) == runs
    email_repeats = 0
    for step in (s for s in steps if s.position == 2):
        email = emails[step.idempotency_key]
        assert step.result["email"] == email.public_id
        assert 1 <= copies[email.public_id] <= email.attempt_count
        email_repeats += copies[email.public_id] - 1
    assert set(copies) == {e.public_id for e in emails.values()}

    # One event id and one delivery per webhook step; the receiver sees it again only for an
    # attempt that was never recorded (its worker died between the POST and the record).
    received = receiver.counts()
    deliveries = {d.event_id: d for d in WebhookDelivery.objects.all()}
    recorded = Counter(DeliveryAttempt.objects.values_list("delivery__event_id", flat=True))
    assert len(deliveries) == runs
    webhook_repeats = 0
    for step in (s for s in steps if s.position == 3):
        assert step.result["event_id"] == webhook_event_id(step)
        delivery = deliveries[step.result["event_id"]]
        unrecorded = delivery.attempt_count - recorded[delivery.event_id]
        assert 1 <= received[delivery.event_id] <= 1 + unrecorded
        webhook_repeats += received[delivery.event_id] - 1
    assert set(received) == set(deliveries)
    return {
        "billing": len(billing_redone),
        "email": email_repeats,
        "webhook": webhook_repeats,
        "steps_taken_over": sum(1 for s in steps if s.attempts > 1),
    }
