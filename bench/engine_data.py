"""Data and worker processes the engine scenarios share (event_to_run, due_steps, lateness, memory).

Everything is bulk-created (rows, not service calls): the scenarios measure the engine, not the
setup. Worker processes are the normal setup: `manage.py qcluster` (ORM broker) and
`manage.py run_dispatcher`, stopped with SIGTERM to their main process only.
"""

import contextlib
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from django.db import connection, transaction
from django.utils import timezone
from moneyed import Money

MATCHING_PRIORITY = 40  # most events match the 40th automation of their trigger
TEAM_DOMAIN = "relance.example"


def reset() -> None:
    """Empty the tables the engine scenarios fill (the bench database is the benchmarks' own)."""
    from django_q.models import OrmQ, Task

    from automations.models import Automation, AutomationVersion, HandledEvent, MatchingRecord, Run, RunStep
    from billing.models import Customer, Event, Invoice, InvoiceLine
    from notifications.models import OutboundEmail

    models = [
        RunStep, Run, MatchingRecord, HandledEvent, AutomationVersion, Automation, OutboundEmail, Event,
        InvoiceLine, Invoice, Customer, OrmQ, Task,
    ]  # fmt: skip
    tables = ", ".join(connection.ops.quote_name(m._meta.db_table) for m in models)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    from billing.models import AccountSettings

    account = AccountSettings.load()
    account.team_email_domains = [TEAM_DOMAIN]
    account.default_currency = "EUR"
    account.save()


def memo(text: str, days: int = 0) -> dict:
    params = {"recipient": f"collections@{TEAM_DOMAIN}", "message": text + " {number} ({amount})"}
    return {"action": "send_team_email", "delay": {"amount": days, "unit": "days"}, "params": params}


def step(action: str, days: int = 0) -> dict:
    return {"action": action, "delay": {"amount": days, "unit": "days"}, "params": {}}


def make_automation(trigger: str, priority: int, steps: list[dict], filters: list[dict] = ()):
    from automations.models import Automation, AutomationVersion

    auto = Automation.objects.create(name=f"Bench {trigger} #{priority}", trigger=trigger, priority=priority)
    version = AutomationVersion.objects.create(automation=auto, number=1, filters=list(filters), steps=steps)
    auto.current_version = version
    auto.save(update_fields=["current_version"])
    return auto


def overdue_automations(count: int = 50) -> list:
    """`count` enabled invoice.overdue automations with an amount and a metadata filter each;
    a customer with segment=s40 (and an invoice under 10,000 EUR) matches the 40th."""
    steps = [memo("Overdue", 1), step("mark_invoice_uncollectible", 7), step("void_invoice", 30)]
    return [
        make_automation(
            "invoice.overdue",
            i,
            steps,
            [
                {"type": "invoice_amount", "params": {"min": "1.00", "max": "10000.00"}},
                {"type": "customer_metadata", "params": {"key": "segment", "value": f"s{i}"}},
            ],
        )  # fmt: skip
        for i in range(1, count + 1)
    ]


def make_invoices(count: int, *, matching_share: float = 0.9, batch: int = 5000, flagged: bool = True) -> list:
    """`count` open invoices (one customer each); `matching_share` of the customers are in s40.
    Due yesterday; already flagged overdue unless `flagged` is False (then the overdue sweep,
    `billing.jobs.run_overdue`, flags them and records their events)."""
    from billing.models import Customer, Invoice

    now = timezone.now()
    cut = int(count * matching_share)
    invoices = []
    for start in range(0, count, batch):
        n = min(batch, count - start)
        customers = Customer.objects.bulk_create(
            Customer(
                name=f"Bench customer {start + i}",
                email=f"c{start + i}@example.com",
                currency="EUR",
                metadata={"segment": f"s{MATCHING_PRIORITY}" if start + i < cut else "none"},
                created=now,
            )  # fmt: skip
            for i in range(n)
        )
        invoices += Invoice.objects.bulk_create(
            Invoice(
                customer=c,
                status="open",
                total=Money("120.00", "EUR"),
                amount_paid=Money(0, "EUR"),
                number=f"BN-{start + i:07d}",
                created=now,
                finalized_at=now,
                due_date=now - timedelta(days=1),
                overdue_at=now if flagged else None,
            )  # fmt: skip
            for i, c in enumerate(customers)
        )
    return invoices


def make_overdue_events(invoices: list, batch: int = 5000) -> list[int]:
    from billing.models import Event

    now = timezone.now()
    ids = []
    for start in range(0, len(invoices), batch):
        rows = Event.objects.bulk_create(
            Event(
                type="invoice.overdue",
                created=now,
                object_type="invoice",
                object_id=inv.public_id,
                customer_id=inv.customer.public_id,
                data_object={"id": inv.public_id, "object": "invoice"},
            )  # fmt: skip
            for inv in invoices[start : start + batch]
        )
        ids += [e.pk for e in rows]
    return ids


def step_actions(n: int) -> list[str]:
    """The internal actions of the due-step scenarios, in turn: team email, void, mark uncollectible."""
    kinds = ["send_team_email", "void_invoice", "mark_invoice_uncollectible"]
    return [kinds[i % 3] for i in range(n)]


def make_due_steps(invoices: list, scheduled, automation, batch: int = 5000) -> int:
    """One run with one step per invoice; `scheduled(i)` is step i's time. Committed at once.
    Each run's event is marked handled (it started the run), or the engine's sweep would
    handle it once it is a minute old, and start a second run."""
    from automations.models import HandledEvent, Run, RunStep
    from billing.models import Event

    now = timezone.now()
    version = automation.current_version
    actions = step_actions(len(invoices))
    with transaction.atomic():
        for start in range(0, len(invoices), batch):
            chunk = invoices[start : start + batch]
            events = Event.objects.bulk_create(
                Event(
                    type="invoice.overdue",
                    created=now,
                    object_type="invoice",
                    object_id=inv.public_id,
                    data_object={"id": inv.public_id, "object": "invoice"},
                )  # fmt: skip
                for inv in chunk
            )
            HandledEvent.objects.bulk_create(HandledEvent(event=event, handled_at=now) for event in events)
            runs = Run.objects.bulk_create(
                Run(
                    automation=automation,
                    version=version,
                    trigger="invoice.overdue",
                    event=event,
                    object_type="invoice",
                    object_id=inv.public_id,
                    status="active",
                    started_at=now,
                )  # fmt: skip
                for inv, event in zip(chunk, events, strict=True)
            )
            RunStep.objects.bulk_create(
                RunStep(
                    run=run,
                    position=1,
                    action=actions[start + i],
                    delay={"amount": 0, "unit": "minutes"},
                    params=memo("Bench")["params"] if actions[start + i] == "send_team_email" else {},
                    scheduled_at=scheduled(start + i),
                    status="pending",
                )  # fmt: skip
                for i, run in enumerate(runs)
            )
        analyze()  # in the same transaction: the steps and their statistics arrive together
    return len(invoices)


def analyze() -> None:
    """Give PostgreSQL's planner the statistics of the rows just bulk-created (autovacuum would,
    within a minute; a live system's tables have them), so the scenarios measure the plans
    production gets."""
    from automations.models import Run, RunStep
    from billing.models import Customer, Event, Invoice

    with connection.cursor() as cursor:
        for model in (Customer, Invoice, Event, Run, RunStep):
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")


def step_automation():
    return make_automation(
        "invoice.overdue", 1000, [memo("Bench"), step("void_invoice"), step("mark_invoice_uncollectible")]
    )


# --- django-q2 ----------------------------------------------------------------------------


class _Collecting:
    """A stand-in broker for `async_task`: keeps the signed payloads instead of enqueuing them."""

    def __init__(self):
        from django_q.conf import Conf

        self.list_key = Conf.CLUSTER_NAME
        self.payloads: list[str] = []

    def enqueue(self, payload: str) -> int:
        self.payloads.append(payload)
        return len(self.payloads)


def enqueue_all(func: str, args_list: list[tuple], batch: int = 5000) -> None:
    """Enqueue one django-q2 task per args (as `async_task` would) in one committed insert, so
    the workers see them all at once."""
    from django_q.models import OrmQ
    from django_q.tasks import async_task

    broker = _Collecting()
    q2_logger = logging.getLogger("django-q")
    level, q2_logger.level = q2_logger.level, logging.WARNING  # not one "Enqueued" line per task
    try:
        for args in args_list:
            async_task(func, *args, broker=broker)
    finally:
        q2_logger.level = level
    now = timezone.now()
    with transaction.atomic():
        OrmQ.objects.bulk_create(
            (OrmQ(key=broker.list_key, payload=p, lock=now) for p in broker.payloads), batch_size=batch
        )


def queued() -> int:
    from django_q.models import OrmQ

    return OrmQ.objects.count()


def wait_for(condition, timeout: float, every: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return False


class Workers:
    """qcluster (+ run_dispatcher) subprocesses on the bench database."""

    def __init__(self, ctx, *, dispatcher: bool = True, **env: str):
        # In memory where there is a tmpfs: the emails "sent" to files must not compete with the
        # database for the disk (a mail server would be elsewhere).
        self.mail_dir = tempfile.mkdtemp(
            prefix="relance-bench-mail-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None
        )
        from django.conf import settings

        # Workers as in production (DEBUG off: no query log), with this process's key: it signs the payloads.
        self.env = ctx.worker_env(
            DEBUG="0", SECRET_KEY=settings.SECRET_KEY, PAYMENT_GATEWAY=settings.PAYMENT_GATEWAY, EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
            EMAIL_FILE_PATH=self.mail_dir, **env,
        )  # fmt: skip
        self.ctx, self.dispatcher, self.procs = ctx, dispatcher, {}
        self.logs = contextlib.ExitStack()  # the processes' stderr, in the mail directory

    def _start(self, name: str, command: list[str]) -> None:
        log = self.logs.enter_context(open(Path(self.mail_dir) / f"{name}.log", "w"))  # noqa: SIM115 (closed on exit)
        self.procs[name] = subprocess.Popen(
            [sys.executable, "manage.py", *command], cwd=self.ctx.root, env=self.env,
            stdout=subprocess.DEVNULL, stderr=log, start_new_session=True,
        )  # fmt: skip

    def __enter__(self):
        self._start("qcluster", ["qcluster"])
        # Ready when a no-op task has gone through: the numbers then leave out the start-up.
        enqueue_all("bench.tasks.noop", [()])
        if not wait_for(lambda: queued() == 0, timeout=60):
            print("   qcluster did not start within 60 s", flush=True)
        if self.dispatcher:
            self._start(
                "dispatcher", ["run_dispatcher", "--interval", os.environ.get("BENCH_DISPATCH_INTERVAL", "0.2")]
            )
            time.sleep(2)  # Django start-up of the dispatcher
        return self

    def __exit__(self, *exc):
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)  # the main process only (never the group)
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=30)
            with contextlib.suppress(ProcessLookupError):  # workers orphaned by a stuck cluster
                os.killpg(proc.pid, signal.SIGKILL)
        self.logs.close()
        print(f"   worker logs and emails: {self.mail_dir}", flush=True)

    def pids(self) -> dict[str, list[int]]:
        """The main process and its children, per command."""
        out = subprocess.run(["ps", "-eo", "pid=,ppid="], capture_output=True, text=True).stdout
        rows = [tuple(map(int, line.split())) for line in out.splitlines() if line.strip()]
        found = {}
        for name, proc in self.procs.items():
            found[name] = [proc.pid] + [pid for pid, ppid in rows if ppid == proc.pid]
        return found


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0.0


def steps_left() -> int:
    from automations.models import RunStep

    return RunStep.objects.filter(status__in=["pending", "running"]).count()
