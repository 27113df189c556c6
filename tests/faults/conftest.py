"""Shared pieces of the fault tests: real worker processes on the test database, a webhook
receiver that counts event ids, the data the runs act on (a thousand runs made in bulk), a
watch over the steps while faults go on (late leases, django-q2 wedges), and private PostgreSQL
and Redis servers that a test may restart (never the machine's shared ones).

The workers are `manage.py qcluster` and `manage.py run_dispatcher` subprocesses reading the
test database from DATABASE_URL. They are stopped with SIGTERM to their main process only (a
signal to the whole group can hang django-q2); whatever a killed cluster left behind is then
cleared by killing its session.
"""

import base64
import contextlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from glob import glob
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
import pytest
from django.db import connection, transaction
from django.db.models import Min
from django.utils import timezone
from djmoney.money import Money

from automations.models import Automation, AutomationVersion
from billing.events import record_events
from billing.models import AccountSettings, Customer, EventType, Invoice, InvoiceLine, Subscription
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
    env: dict = field(default_factory=dict)  # what it was started with (a restart starts it alike)

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
        cluster = Cluster(self._spawn(["qcluster"], env, "qcluster"), workers=int(env["Q_WORKERS"]), env=env)
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

    def restart_cluster(self, cluster: Cluster) -> Cluster:
        """Kill a cluster's whole session (a wedged cluster cannot finish its own stop: its workers
        never read their stop orders) and start one like it."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(cluster.proc.pid, signal.SIGKILL)
        cluster.proc.wait(timeout=10)
        self.clusters.remove(cluster)
        return self.start_cluster(**{k: v for k, v in cluster.env.items() if self.env.get(k) != v})

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


class _Server(ThreadingHTTPServer):
    # Several workers keep 16 requests each in flight: with the default backlog of 5, connections
    # overflow the accept queue and some are reset, a failed attempt the test did not intend.
    request_queue_size = 256
    daemon_threads = True


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

    server = _Server(("127.0.0.1", 0), Handler)
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


def _bulk_invoices(count: int, label: str, *, subscriptions: bool, **fields) -> list[Invoice]:
    """`count` open invoices of 100 EUR, each of its own customer (and subscription), made with
    one insert per table: a thousand cost a second, where the factories cost a minute."""
    now, eur = timezone.now(), "EUR"
    customers = Customer.objects.bulk_create(
        Customer(
            name=f"{label} {n}",
            email=f"{label.lower()}{n}@example.com",
            currency=eur,
            created=now,
            default_payment_method=DECLINED_CARD,
        )  # fmt: skip
        for n in range(count)
    )
    subs = [None] * count
    if subscriptions:
        subs = Subscription.objects.bulk_create(
            Subscription(customer=customer, currency=eur, created=now - timedelta(days=10),
                         current_period_start=now - timedelta(days=10), current_period_end=now + timedelta(days=20))
            for customer in customers
        )  # fmt: skip
    invoices = Invoice.objects.bulk_create(
        Invoice(
            customer=customer,
            subscription=sub,
            number=f"RL-{label[:4].upper()}-{n:05d}",
            status="open",
            total=Money("100.00", eur),
            amount_paid=Money(0, eur),
            created=now - timedelta(days=31),
            finalized_at=now - timedelta(days=31),
            **fields,
        )  # fmt: skip
        for n, (customer, sub) in enumerate(zip(customers, subs, strict=True))
    )
    InvoiceLine.objects.bulk_create(
        InvoiceLine(
            invoice=invoice, description="Consulting", unit_amount=Money("100.00", eur), amount=Money("100.00", eur)
        )  # fmt: skip
        for invoice in invoices
    )
    return invoices


def failed_payment_runs(count: int) -> list[Invoice]:
    """`count` subscription invoices whose first payment just failed, and the runs it starts:
    billing's `invoice.payment_failed` for each, recorded in one batch as `record_events` records
    a job's events, handled here (sync mode) through the engine's batch path. Returns the invoices."""
    now = timezone.now()
    invoices = _bulk_invoices(
        count, "Failed", subscriptions=True, due_date=now + timedelta(days=30), attempt_count=1,
        first_failed_at=now, next_payment_attempt=now + timedelta(days=3),
    )  # fmt: skip
    with transaction.atomic():
        record_events([(EventType.INVOICE_PAYMENT_FAILED, invoice) for invoice in invoices])
    return invoices


def overdue_invoices(count: int) -> list[Invoice]:
    """Open invoices a day past their due date, not flagged yet: the overdue sweep's work."""
    return _bulk_invoices(count, "Late", subscriptions=False, due_date=timezone.now() - timedelta(days=1))


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


def unsent() -> str:
    """The emails and deliveries not sent yet, and their attempts (for a failure's message)."""
    from notifications.models import DeliveryAttempt, OutboundEmail, WebhookDelivery

    fields = ["pk", "status", "attempt_count", "claimed_until", "next_attempt_at", "last_error"]
    deliveries = WebhookDelivery.objects.exclude(status="succeeded")
    rows = [
        *OutboundEmail.objects.exclude(status="sent").values(*fields),
        *deliveries.values(*fields, "last_status_code"),
        *DeliveryAttempt.objects.filter(delivery__in=deliveries).values(
            "delivery_id", "number", "started_at", "duration_ms", "status_code", "error"
        ),
    ]
    return "\n".join(map(str, rows))


def finish_sending() -> int:
    """Stop waiting for emails and deliveries a kill interrupted: their claims (90 s / 60 s) hold
    them until the sweep; run the sweep here, at a moment after those claims have run out."""
    from billing import clock
    from notifications.tasks import run_sweep

    wait_for(all_sent, timeout=5)
    with clock.travel(timezone.now() + timedelta(minutes=3)):
        return run_sweep()


def check_chase_runs(invoices: list, receiver: Receiver, mail_dir: Path, automation: Automation | None = None) -> dict:
    """Every chase run (of `automation`, if the test has others) completed; each billing effect,
    email and webhook happened once, and a repeat only where an attempt was interrupted. Returns
    the counts of repeats."""
    from django.core import mail

    from automations.engine.actions.common import webhook_event_id
    from automations.models import Run, RunStep
    from billing.models import Event
    from notifications.models import DeliveryAttempt, OutboundEmail, WebhookDelivery

    runs = len(invoices)
    assert all_sent(), unsent()
    # No step lost or left running; each run completed.
    theirs = {} if automation is None else {"automation": automation}
    assert Counter(Run.objects.filter(**theirs).values_list("status", flat=True)) == {"completed": runs}
    steps = list(RunStep.objects.filter(**{f"run__{k}": v for k, v in theirs.items()}).select_related("run"))
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


# --- Waiting for the steps, and what was seen meanwhile ----------------------------------------


def late_lease_seconds() -> float:
    """How long ago the most overdue lease of a step still `running` ran out (0: none has)."""
    from automations.models import RunStep

    now = timezone.now()
    oldest = RunStep.objects.filter(status="running", claimed_until__lt=now).aggregate(oldest=Min("claimed_until"))
    return (now - oldest["oldest"]).total_seconds() if oldest["oldest"] else 0.0


class Watch:
    """Looks at the steps while a test's faults go on, every `look()`: how late the most overdue
    lease is (while `reachable()`: the database is up), and whether any step still finishes.

    If none finishes for `stall` seconds (longer than the tests' leases) while some are
    unfinished, a cluster is wedged: a worker killed while holding its task queue's lock despite
    the steering in `kill_a_worker` (django-q2 issue #23, README "A known django-q2 stall"). The
    clusters are then restarted, as `run_worker` does in production; what they held must still be
    neither lost nor doubled, and a lease overrun during a wedge is counted apart."""

    def __init__(self, workers: Workers, *, stall: float, reachable=lambda: True):
        from automations.models import RunStep

        self.workers, self.stall, self.reachable = workers, stall, reachable
        self.unfinished = RunStep.objects.filter(status__in=["pending", "running"])
        self.ended = RunStep.objects.exclude(status__in=["pending", "running"])
        self.started = time.monotonic()
        self.last_ended, self.last_change = -1, self.started
        self.restarts = 0  # clusters restarted after a django-q2 wedge
        self.late_lease = 0.0  # the longest a step was seen `running` past its lease's end (s)
        self.late_lease_in_wedge = 0.0  # the same while a wedge held every step
        self.done = False
        self.seconds = 0.0

    def look(self) -> int | None:
        """Steps left unfinished (None: the database is out of reach, nothing looked at)."""
        if not self.reachable():
            return None
        now = time.monotonic()
        late = late_lease_seconds()
        left = self.unfinished.count()
        if (count := self.ended.count()) != self.last_ended:
            self.last_ended, self.last_change = count, now
        stalled = left and now - self.last_change > self.stall
        if stalled:
            self.late_lease_in_wedge = max(self.late_lease_in_wedge, late)
            for cluster in list(self.workers.clusters):
                self.workers.restart_cluster(cluster)
            self.restarts += 1
            self.last_change = time.monotonic()
        elif self.restarts and now - self.last_change < self.stall:
            # Soon after a restart, leases the wedge let run out are still being taken over.
            self.late_lease_in_wedge = max(self.late_lease_in_wedge, late)
        else:
            self.late_lease = max(self.late_lease, late)
        return left

    def wait(self, *, finished=lambda: True, timeout: float = 150) -> "Watch":
        """Look every half second until no step is pending or running and `finished()` holds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            left = self.look()
            if left == 0 and finished():
                self.done = True
                break
            time.sleep(0.5)
        self.seconds = time.monotonic() - self.started
        return self

    def check_no_lease_overrun(self, lease: float, slack: float) -> None:
        """Nothing was left `running` past its lease: a step whose worker died (or lost the
        database, or whose task the broker lost) was taken over within `slack` seconds of its
        lease's end (a wedge aside: until its cluster's restart), and none is running now."""
        from automations.models import RunStep

        assert not RunStep.objects.filter(status="running").exists()
        assert self.late_lease <= slack, f"a step stayed running {self.late_lease:.1f} s past its {lease} s lease"
        wedge_slack = self.stall + lease + slack
        assert self.late_lease_in_wedge <= wedge_slack, f"{self.late_lease_in_wedge:.1f} s past its lease in a wedge"

    def summary(self) -> str:
        return (
            f"longest a step stayed running past its lease: {self.late_lease:.1f} s (in a django-q2 wedge: "
            f"{self.late_lease_in_wedge:.1f} s); cluster restarts after a wedge: {self.restarts}"
        )


# --- Private servers the tests may restart ------------------------------------------------------
# Never the machine's shared PostgreSQL (5432) or Redis (6379): other test runs live there.


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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


PRIVATE_DATABASE = "relance_restart"


@dataclass
class PrivatePostgres:
    """A throwaway PostgreSQL: its data directory in a short temp path, TCP on 127.0.0.1 only."""

    bindir: Path
    home: Path
    port: int

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def url(self) -> str:
        return f"postgres://relance@127.0.0.1:{self.port}/{PRIVATE_DATABASE}"

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
            db.execute(f"CREATE DATABASE {PRIVATE_DATABASE}")

    def migrate(self) -> None:
        env = os.environ | {"DJANGO_SETTINGS_MODULE": "config.settings", "DATABASE_URL": self.url, "DEBUG": "1"}
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, check=True,
            capture_output=True, timeout=180,
        )  # fmt: skip

    @contextlib.contextmanager
    def as_default_database(self) -> Iterator[None]:
        """Point this process's default connection at this server for the block."""
        saved = dict(connection.settings_dict)
        connection.close()
        connection.settings_dict.update(
            HOST="127.0.0.1", PORT=self.port, NAME=PRIVATE_DATABASE, USER="relance", PASSWORD=""
        )
        try:
            yield
        finally:
            connection.close()
            connection.settings_dict.clear()
            connection.settings_dict.update(saved)


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A PostgreSQL server of this test's own, with an empty database; stopped and removed
    afterwards, also on failure."""
    as_root = os.geteuid() == 0
    # As root the server runs as `postgres`, who must reach its directory: /tmp, not root's TMPDIR.
    home = Path(tempfile.mkdtemp(prefix="relance-pg-", dir="/tmp" if as_root else None))
    if as_root:
        shutil.chown(home, "postgres", "postgres")
    server = PrivatePostgres(_bindir(), home, free_port())
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


@dataclass
class PrivateRedis:
    """A throwaway redis-server on a free port, nothing saved: a restart loses everything in it."""

    home: Path
    port: int
    proc: subprocess.Popen | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.starts += 1
        log = open(self.home / f"redis-{self.starts}.log", "w")  # noqa: SIM115 (the child has its copy)
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--daemonize", "no", "--dir", str(self.home)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        log.close()
        assert wait_for(self.answers, timeout=10, interval=0.05), (self.home / f"redis-{self.starts}.log").read_text()

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL: the server is gone with every task it held, as in a crash."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
        if self.proc:
            self.proc.wait(timeout=10)

    def tasks(self) -> Counter:
        """The tasks waiting in django-q2's queues (lists `django_q:<cluster name>:q`), by function.
        A task is a signed pickle (`base64(pickle):time:signature`), read here without the key."""
        import redis

        found: Counter = Counter()
        with redis.Redis(port=self.port) as client:
            for key in client.scan_iter("django_q:*:q"):
                for package in client.lrange(key, 0, -1):
                    data = package.split(b":")[0]
                    compressed = data.startswith(b".")
                    data = base64.urlsafe_b64decode(data.lstrip(b".") + b"=" * (-len(data.lstrip(b".")) % 4))
                    data = zlib.decompress(data) if compressed else data
                    found[next((f for f in re.findall(rb"[a-z_]+\.tasks\.[a-z_]+", data)), b"?").decode()] += 1
        return found


@pytest.fixture
def private_redis(tmp_path) -> Iterator[PrivateRedis]:
    """A redis-server of this test's own; killed afterwards, also on failure."""
    home = tmp_path / "redis"
    home.mkdir()
    server = PrivateRedis(home, free_port())
    try:
        server.start()
        yield server
    finally:
        server.kill()
