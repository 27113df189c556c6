"""`make soak`: the engine under a steady load for a long time, watching memory, lateness and
exactly-once (issue 17). Not part of CI: 30 minutes by default.

    python -m bench.soak                       # 30 minutes at 100 events/s
    python -m bench.soak --minutes 3 --rate 50 # a short try

The normal worker setup runs beside this process (`qcluster` with the ORM broker and
`run_dispatcher`, DEBUG off, as in bench.engine_data.Workers). This process is the feeder: every
second it adds `rate` open invoices falling due and runs the real overdue sweep
(`billing.jobs.run_overdue`), which flags them and records their `invoice.overdue` events in one
insert per batch; the engine's receiver hands them to the workers after commit. Every event
matches one automation (behind four that do not) whose run has three internal steps, timed in
minutes: a team email at once, mark uncollectible a minute later, void a minute after that. The
voided invoices' `invoice.voided` events go as webhooks to a local receiver (bench/receiver.py),
which counts them by event id; the emails go to files (Django's file backend), counted by their
X-Relance-Message id and then removed.

Every minute one line: events recorded, steps executed, their lateness p50/p99
(executed_at − scheduled_at), the broker's queue, and the RSS of each process (this feeder,
qcluster's main process and each of its descendants, the dispatcher). After the load, a drain
period (until nothing is left to do, at most --drain seconds), then the totals — handled, lost,
duplicated — and the RSS growth per process, also written to bench/soak.json (git-ignored).

DATABASE_URL defaults to a relance_soak database (created if missing, migrated, emptied), so a
soak never meets `make bench`'s data.
"""

import argparse
import contextlib
import json
import logging
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUMMARY = ROOT / "bench" / "soak.json"
DEFAULT_DATABASE_URL = "postgres://relance@127.0.0.1:5432/relance_soak"
SEGMENT = "soak"  # the customers' metadata the matching automation filters on
STEPS = [
    ("send_team_email", 0),
    ("mark_invoice_uncollectible", 1),
    ("void_invoice", 1),
]  # (action, minutes after the previous)
WEBHOOK_EVENTS = ["invoice.voided"]
RECEIVER_DELAY = 0.01  # seconds the receiver takes to answer
WORKER_LOGS = {"qcluster.log", "dispatcher.log"}  # bench.engine_data.Workers writes them beside the mail
MESSAGE_ID = re.compile(rb"^X-Relance-Message: (\S+)", re.MULTILINE)


# --- data -----------------------------------------------------------------------------------


def reset() -> None:
    """Empty what the soak fills (bench.engine_data.reset, plus webhooks and the sent-mail tally)."""
    from django.db import connection

    from bench import engine_data as data
    from notifications.models import DeliveryAttempt, WebhookDelivery, WebhookEndpoint

    data.reset()
    tables = ", ".join(
        connection.ops.quote_name(m._meta.db_table) for m in (DeliveryAttempt, WebhookDelivery, WebhookEndpoint)
    )
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        # Message ids read from the mail files: in the database, so the feeder's memory stays flat.
        cursor.execute("DROP TABLE IF EXISTS soak_sent_email")
        cursor.execute("CREATE UNLOGGED TABLE soak_sent_email (message_id text NOT NULL)")


def automations() -> None:
    """Four invoice.overdue automations no customer matches, then the one every event matches."""
    from bench.engine_data import TEAM_DOMAIN, make_automation

    def step(action: str, minutes: int) -> dict:
        params = {}
        if action == "send_team_email":
            params = {"recipient": f"collections@{TEAM_DOMAIN}", "message": "Soak: {number} ({amount}) is overdue"}
        return {"action": action, "delay": {"amount": minutes, "unit": "minutes"}, "params": params}

    steps = [step(action, minutes) for action, minutes in STEPS]
    for priority in range(1, 6):
        segment = SEGMENT if priority == 5 else f"other{priority}"
        filters = [
            {"type": "invoice_amount", "params": {"min": "1.00", "max": "10000.00"}},
            {"type": "customer_metadata", "params": {"key": "segment", "value": segment}},
        ]
        make_automation("invoice.overdue", priority, steps, filters)


def add_due_invoices(start: int, count: int) -> None:
    """`count` open invoices (one customer each), due a second ago and not yet flagged: the next
    overdue sweep flags them. Bulk rows, as bench.engine_data.make_invoices."""
    from django.utils import timezone
    from moneyed import Money

    from billing.models import Customer, Invoice

    now = timezone.now()
    customers = Customer.objects.bulk_create(
        Customer(name=f"Soak customer {start + i}", email=f"s{start + i}@example.com", currency="EUR",
                 metadata={"segment": SEGMENT}, created=now)
        for i in range(count)
    )  # fmt: skip
    Invoice.objects.bulk_create(
        Invoice(customer=c, status="open", total=Money("120.00", "EUR"), amount_paid=Money(0, "EUR"),
                number=f"SK-{start + i:07d}", created=now, finalized_at=now, due_date=now - timedelta(seconds=1))
        for i, c in enumerate(customers)
    )  # fmt: skip


def autovacuum_on() -> bool:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW autovacuum")
        return cursor.fetchone()[0] == "on"


def vacuum() -> None:
    """VACUUM ANALYZE the tables the soak churns, in place of an autovacuum that is off (a test
    server's setting): without statistics the planner walks every pending step to claim a few
    (a claim took a minute after 3 minutes of load), and without vacuum the broker's table and
    the steps' indexes fill with dead rows. Production servers run autovacuum."""
    from django.db import connection
    from django_q.models import OrmQ

    from automations.models import HandledEvent, MatchingRecord, Run, RunStep
    from billing.models import Customer, Event, Invoice
    from notifications.models import OutboundEmail, WebhookDelivery

    models = [
        RunStep,
        Run,
        OrmQ,
        Invoice,
        Customer,
        Event,
        HandledEvent,
        MatchingRecord,
        OutboundEmail,
        WebhookDelivery,
    ]
    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(f"VACUUM (ANALYZE) {connection.ops.quote_name(model._meta.db_table)}")


# --- processes ------------------------------------------------------------------------------


def start_receiver() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.receiver", "--delay", str(RECEIVER_DELAY)], cwd=ROOT,
        stdout=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    line = proc.stdout.readline()
    if not line.startswith("port "):
        proc.kill()
        raise RuntimeError(f"the receiver did not start: {line!r}")
    return proc, f"http://127.0.0.1:{int(line.split()[1])}"


def receiver_stats(base: str) -> dict:
    import urllib.request

    with urllib.request.urlopen(base + "/stats", timeout=10) as response:
        return json.loads(response.read())


def process_tree(workers) -> dict[str, int]:
    """Label → pid: this feeder, qcluster's main process and each of its descendants (by depth
    and pid: django-q2's sentinel, then its pusher, monitor and workers), the dispatcher."""
    out = subprocess.run(["ps", "-eo", "pid=,ppid="], capture_output=True, text=True).stdout
    children: dict[int, list[int]] = {}
    for line in out.splitlines():
        if line.strip():
            pid, ppid = map(int, line.split())
            children.setdefault(ppid, []).append(pid)
    found = {"feeder": os.getpid()}
    if proc := workers.procs.get("qcluster"):
        found["qcluster"] = proc.pid
        level, depth = [proc.pid], 0
        while level := sorted(child for pid in level for child in children.get(pid, [])):
            depth += 1
            for pid in level:
                found[f"q{depth}:{pid}"] = pid
    if proc := workers.procs.get("dispatcher"):
        found["dispatcher"] = proc.pid
    return found


def sample_rss(workers) -> dict[str, float]:
    from bench.engine_data import rss_mb

    return {label: round(rss_mb(pid), 1) for label, pid in process_tree(workers).items()}


def tally_mail(mail_dir: str, *, older_than: float = 5.0) -> int:
    """Read the message ids of the mail files (Django's file backend names them *.log) written
    more than `older_than` s ago into soak_sent_email, and remove the files (a 30-minute soak
    writes ~180,000 messages). The workers' own logs (qcluster.log, dispatcher.log) stay."""
    from django.db import connection

    ids, cutoff = [], time.time() - older_than
    for path in Path(mail_dir).iterdir():
        if path.name in WORKER_LOGS:
            continue
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_mtime < cutoff:
                ids += [m.decode() for m in MESSAGE_ID.findall(path.read_bytes())]
                path.unlink()
    if ids:
        with connection.cursor() as cursor:
            cursor.executemany("INSERT INTO soak_sent_email (message_id) VALUES (%s)", [(i,) for i in ids])
    return len(ids)


# --- measuring ------------------------------------------------------------------------------


def minute_figures(since, until) -> dict:
    """Steps executed in [since, until): how many, lateness p50/p99 in seconds (in PostgreSQL)."""
    from django.db import connection

    from automations.models import RunStep

    table = connection.ops.quote_name(RunStep._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*), "
            f"percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM executed_at - scheduled_at)), "
            f"percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM executed_at - scheduled_at)) "
            f"FROM {table} WHERE executed_at >= %s AND executed_at < %s",
            [since, until],
        )
        count, p50, p99 = cursor.fetchone()
    return {"steps": count, "p50": p50, "p99": p99}


def work_left() -> dict:
    """What the engine still has to do: steps, unhandled events, queued emails and deliveries, tasks."""
    from django.db.models import Exists, OuterRef

    from automations.models import HandledEvent, RunStep
    from billing.models import Event
    from notifications.models import DeliveryStatus, EmailStatus, OutboundEmail, WebhookDelivery

    return {
        "steps": RunStep.objects.filter(status__in=["pending", "running"]).count(),
        # NOT EXISTS, through the handled marks' index: a NOT IN over 180,000 marks took minutes.
        "events": Event.objects.filter(~Exists(HandledEvent.objects.filter(event_id=OuterRef("pk")))).count(),
        "emails": OutboundEmail.objects.filter(status=EmailStatus.QUEUED).count(),
        "deliveries": WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).count(),
        "tasks": queued(),
    }


def queued() -> int:
    from bench.engine_data import queued as count

    return count()


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


# q1:<pid> is django-q2's sentinel; q2:<pid> its pusher, monitor and workers (a recycled worker comes back with a new pid).
HEADER = f"{'min':>5} {'events':>7} {'steps':>7} {'p50 s':>6} {'p99 s':>6} {'queue':>6}  RSS MB (feeder, qcluster, its descendants q<depth>:<pid>, dispatcher)"


def minute_line(label: str, events: int, figures: dict, queue: int, rss: dict[str, float]) -> str:
    memory = " ".join(f"{name}={mb:.0f}" for name, mb in rss.items())
    return (
        f"{label:>5} {events:>7,} {figures['steps']:>7,} {fmt(figures['p50']):>6} {fmt(figures['p99']):>6} "
        f"{queue:>6,}  {memory}"
    )


def totals(feeder_events: int, receiver: dict, sent_emails: int, left: dict) -> dict:
    """Handled, lost and duplicated, from the engine's tables, the receiver and the mail files."""
    from django.db import connection
    from django.db.models import Count

    from automations.models import HandledEvent, MatchingRecord, Run, RunStep
    from billing.models import Event, Invoice
    from notifications.models import DeliveryStatus, EmailStatus, OutboundEmail, WebhookDelivery

    overdue = Event.objects.filter(type="invoice.overdue")
    steps = dict(RunStep.objects.values_list("status").annotate(n=Count("id")).order_by())
    n_overdue = overdue.count()
    matched = MatchingRecord.objects.filter(trigger="invoice.overdue", event__type="invoice.overdue")
    voided = Event.objects.filter(type="invoice.voided")
    emails = OutboundEmail.objects.all()

    def repeated(queryset, field: str) -> int:
        """Rows beyond the first per value of `field`."""
        groups = queryset.values(field).annotate(n=Count("id")).filter(n__gt=1).values_list("n", flat=True)
        return sum(n - 1 for n in groups)

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) n FROM soak_sent_email GROUP BY message_id) t WHERE n > 1"
        )
        mail_duplicates = int(cursor.fetchone()[0])
        cursor.execute("SELECT count(DISTINCT message_id) FROM soak_sent_email")
        mail_unique = cursor.fetchone()[0]
    email_steps = RunStep.objects.filter(action="send_team_email", status="succeeded").count()
    runs = Run.objects.count()
    expected_steps = runs * len(STEPS)
    return {
        "events_recorded": feeder_events,
        "overdue_events_in_db": n_overdue,
        "events_handled": HandledEvent.objects.filter(event__type="invoice.overdue").count(),
        "matching_records": matched.count(),
        "runs_started": runs,
        "runs_completed": Run.objects.filter(status="completed").count(),
        "steps": {"expected": expected_steps, "executed": RunStep.objects.filter(executed_at__isnull=False).count(), **steps},
        "steps_left_after_drain": left["steps"],
        "retried_steps": RunStep.objects.filter(attempts__gt=1).count(),
        "invoices_voided": Invoice.objects.filter(status="void").count(),
        "emails": {
            "steps": email_steps, "recorded": emails.count(), "sent": emails.filter(status=EmailStatus.SENT).count(),
            "in_files": sent_emails, "distinct_in_files": mail_unique,
        },  # fmt: skip
        "webhooks": {
            "events": voided.count(),
            "delivered": WebhookDelivery.objects.filter(status=DeliveryStatus.SUCCEEDED).count(),
            "received": receiver.get("requests"), "distinct_received": receiver.get("unique"),
        },  # fmt: skip
        "lost": {
            "events_without_matching_record": n_overdue - matched.count(),
            "events_without_run": matched.filter(run__isnull=True).count(),
            "unhandled_events_after_drain": left["events"],
            "steps_not_executed": expected_steps - RunStep.objects.filter(executed_at__isnull=False).count(),
            "emails_not_sent": email_steps - mail_unique,
            "webhooks_not_received": voided.count() - (receiver.get("unique") or 0),
        },
        "duplicates": {
            "runs_per_event": repeated(Run.objects.all(), "event_id"),
            "matching_records_per_event": repeated(matched, "event_id"),
            "emails_per_step_key": repeated(emails, "idempotency_key"),
            "emails_sent_twice": mail_duplicates,
            "invoices_voided_twice": repeated(voided, "object_id"),
            "invoices_marked_uncollectible_twice": repeated(Event.objects.filter(type="invoice.marked_uncollectible"), "object_id"),
            "overdue_events_per_invoice": repeated(overdue, "object_id"),
            "webhook_event_ids_received_twice": receiver.get("duplicates"),
        },
    }  # fmt: skip


def growth(samples: list[dict[str, float]]) -> dict:
    """RSS of each process, first minute vs last. qcluster's workers are recycled (new pids), so
    its descendants are also compared as a sum and as the largest one."""
    first, last = samples[0], samples[-1]
    out = {}
    for name in ("feeder", "qcluster", "dispatcher"):
        if name in first and name in last:
            out[name] = {"first": first[name], "last": last[name], "growth_mb": round(last[name] - first[name], 1)}
    for name in sorted(set(first) & set(last)):
        if name.startswith("q") and ":" in name:
            out[name] = {"first": first[name], "last": last[name], "growth_mb": round(last[name] - first[name], 1)}

    def descendants(sample: dict) -> list[float]:
        return [mb for name, mb in sample.items() if name.startswith("q") and ":" in name] or [0.0]

    for label, pick in (("qcluster_descendants_sum", sum), ("qcluster_descendants_max", max)):
        a, b = round(pick(descendants(first)), 1), round(pick(descendants(last)), 1)
        out[label] = {"first": a, "last": b, "growth_mb": round(b - a, 1)}
    return out


# --- the run --------------------------------------------------------------------------------


def soak(ctx, *, minutes: int, rate: int, drain: int) -> dict:
    from django.conf import settings
    from django.db import reset_queries
    from django.utils import timezone

    from bench.engine_data import Workers
    from bench.harness import machine
    from billing import jobs
    from notifications.models import WebhookEndpoint
    from notifications.services.endpoints import endpoint_create

    logging.getLogger("django-q").setLevel(logging.WARNING)  # not one "Enqueued" line per task
    info = machine()
    reset()
    automations()
    stand_in = not autovacuum_on()
    if stand_in:
        print("autovacuum is off on this server: the soak runs VACUUM ANALYZE on its tables every minute in its stead")
    receiver, base = start_receiver()
    try:
        settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]  # for endpoint_create's check in this process
        endpoint_create(url=f"{base}/hooks/soak", enabled_events=WEBHOOK_EVENTS, description="soak")
        with Workers(ctx, WEBHOOK_ALLOWED_HOSTS="127.0.0.1") as workers:
            print(
                f"soak: {minutes} min at {rate} events/s, then a drain of at most {drain} s; workers' mail in {workers.mail_dir}"
            )
            print(HEADER, flush=True)
            per_minute, rss_samples = [], []
            recorded = created = sent_emails = 0
            start = time.monotonic()
            minute_start, minute_events = timezone.now(), 0
            draining_since = None
            for tick in range(1, 10**9):
                feeding = tick <= minutes * 60
                if feeding:
                    add_due_invoices(created, rate)
                    created += rate
                    flagged = jobs.run_overdue()
                    recorded += flagged
                    minute_events += flagged
                    reset_queries()  # DEBUG is on in this process: keep no query log
                if stand_in and tick % 60 == 30:
                    vacuum()
                if tick % 60 == 0:
                    now = timezone.now()
                    figures = minute_figures(minute_start, now)
                    sent_emails += tally_mail(workers.mail_dir)
                    rss = sample_rss(workers)
                    queue = queued()
                    label = str(tick // 60) if feeding else f"d{tick // 60 - minutes}"
                    print(minute_line(label, minute_events, figures, queue, rss), flush=True)
                    per_minute.append(
                        {"minute": label, "events": minute_events, **figures, "queue": queue, "rss_mb": rss}
                    )
                    rss_samples.append(rss)
                    minute_start, minute_events = now, 0
                if not feeding:
                    draining_since = draining_since or time.monotonic()
                    if tick % 5 == 0 and not any((left := work_left()).values()):
                        break
                    if time.monotonic() - draining_since > drain:
                        left = work_left()
                        print(f"drain: gave up after {drain} s with {left} left", flush=True)
                        break
                # Steady: tick n starts n seconds after the start; a late tick is not made up by bunching.
                time.sleep(max(0.0, start + tick - time.monotonic()))
            now = timezone.now()
            figures = minute_figures(minute_start, now)
            rss = sample_rss(workers)
            print(minute_line("end", minute_events, figures, queued(), rss), flush=True)
            per_minute.append({"minute": "end", "events": minute_events, **figures, "queue": queued(), "rss_mb": rss})
            time.sleep(6)  # the last mail files settle
            sent_emails += tally_mail(workers.mail_dir, older_than=0)
            stats = receiver_stats(base)
        summary = totals(recorded, stats, sent_emails, left)
    finally:
        receiver.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            receiver.wait(timeout=10)
        WebhookEndpoint.objects.all().delete()
    summary["rss_growth"] = growth(rss_samples or [rss])
    return {
        "machine": info,
        "settings": {"minutes": minutes, "rate": rate, "steps": STEPS, "webhook_events": WEBHOOK_EVENTS,
                     "workers": settings.Q_CLUSTER["workers"], "vacuum_by_soak": stand_in, "drain_seconds": round(time.monotonic() - draining_since)},
        "totals": summary,
        "minutes": per_minute,
    }  # fmt: skip


def print_totals(result: dict) -> None:
    t = result["totals"]
    lost = {k: v for k, v in t["lost"].items() if v}
    duplicated = {k: v for k, v in t["duplicates"].items() if v}
    print()
    print(
        f"events recorded {t['events_recorded']:,}; handled {t['events_handled']:,}; matching records "
        f"{t['matching_records']:,}; runs started {t['runs_started']:,} (completed {t['runs_completed']:,})"
    )
    print(f"steps: {t['steps']}; left after the drain {t['steps_left_after_drain']:,}; retried {t['retried_steps']:,}")
    print(f"emails: {t['emails']}")
    print(f"webhooks: {t['webhooks']}")
    print(f"lost: {lost or 'nothing'}")
    print(f"duplicated: {duplicated or 'nothing'}")
    print("RSS growth, first minute → last (MB):")
    for name, g in t["rss_growth"].items():
        print(f"  {name:<26} {g['first']:>7.1f} → {g['last']:>7.1f}  ({g['growth_mb']:+.1f})")
    print(f"summary written to {SUMMARY.relative_to(ROOT)}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=int, default=30, help="how long the load lasts (default 30)")
    parser.add_argument("--rate", type=int, default=100, help="events recorded per second (default 100)")
    parser.add_argument("--drain", type=int, default=600, help="at most this many seconds after the load (default 600)")
    args = parser.parse_args(argv)

    from bench.harness import ensure_database

    url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    if not url.startswith("postgres"):
        print("The soak runs on PostgreSQL: set DATABASE_URL=postgres://… (or leave it unset).")
        return 2
    ensure_database(url)
    os.environ["DATABASE_URL"] = url
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))  # one key for this process and the workers
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)

    from bench.harness import Context

    result = soak(Context(database_url=url), minutes=args.minutes, rate=args.rate, drain=args.drain)
    SUMMARY.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print_totals(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
