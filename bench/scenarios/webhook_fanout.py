"""Scenario 4, webhook fan-out: 10,000 deliveries to a local receiver that answers in 50 ms.

1. Start the receiver (bench/receiver.py, a subprocess) and create 10 endpoints on it, one path
   each, allowed by WEBHOOK_ALLOWED_HOSTS=127.0.0.1.
2. With no worker running, record 1,000 events the normal way: `queue_deliveries` in each
   event's own transaction fans it out to the 10 subscribed endpoints and, after commit, puts
   the task that sends them on the ORM broker. This queuing rate is a side figure.
3. Start a real `qcluster` (2 workers, the default) and wait until no delivery is pending.
   The figure is deliveries per second from the first attempt to the last delivery (the
   cluster's start-up is left out; the wall time from its start is in the note).
4. Ask the receiver what it saw: every (endpoint, event id) exactly once.
"""

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.harness import Context, Result, timed

TARGET = 300  # deliveries/s
ENDPOINTS = 10
DELAY = 0.05  # the receiver's answer time, seconds


def run(ctx: Context) -> list[Result]:
    from django.db import transaction
    from django.db.models import Max, Min
    from django_q.models import OrmQ

    from billing.models.fields import new_public_id
    from notifications.models import DeliveryAttempt, DeliveryStatus, WebhookDelivery, WebhookEndpoint
    from notifications.services.endpoints import endpoint_create
    from notifications.services.events import queue_deliveries

    events = ctx.extra.get("webhook_fanout_events", 100 if ctx.quick else 1_000)
    total = events * ENDPOINTS
    print(
        f"  {events:,} events × {ENDPOINTS} endpoints = {total:,} deliveries, receiver answers in {DELAY * 1000:g} ms"
    )

    logging.getLogger("django-q").setLevel(logging.WARNING)  # not one "Enqueued" line per task
    DeliveryAttempt.objects.all().delete()
    WebhookDelivery.objects.all().delete()
    WebhookEndpoint.objects.all().delete()
    OrmQ.objects.all().delete()  # tasks left on the broker by an earlier run would blur the figure

    receiver, base = _start_receiver(ctx)
    try:
        from django.conf import settings

        settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]  # for endpoint_create's check in this process
        for n in range(ENDPOINTS):
            endpoint_create(url=f"{base}/hooks/{n}", enabled_events=["invoice.overdue"], description=f"bench {n}")

        with timed() as queuing:
            for _ in range(events):
                event_id = new_public_id("evt")
                payload = {"id": event_id, "object": "event", "type": "invoice.overdue", "created": int(time.time()),
                           "livemode": False, "data": {"object": {"id": new_public_id("in"), "object": "invoice"}}}  # fmt: skip
                with transaction.atomic():
                    queue_deliveries(event_id=event_id, event_type="invoice.overdue", payload=payload)
        queued = WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).count()
        tasks = OrmQ.objects.count()
        print(
            f"  queued {queued:,} deliveries ({tasks:,} tasks) in {queuing():.1f} s: {events / queuing():,.0f} events/s"
        )

        log_path = Path(tempfile.gettempdir()) / f"webhook_fanout_qcluster_{os.getpid()}.log"
        log = log_path.open("w")  # noqa: SIM115 (the cluster writes to it until _stop)
        cluster = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"], cwd=ctx.root,
            env=ctx.worker_env(WEBHOOK_ALLOWED_HOSTS="127.0.0.1"),
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        print(f"  qcluster {cluster.pid} started, log in {log_path}")
        try:
            with timed() as wall:
                deadline = time.monotonic() + 120 + total / 20
                pending = queued
                while pending and time.monotonic() < deadline:
                    time.sleep(0.5)
                    left = WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).count()
                    if left // 1000 != pending // 1000 or not left:
                        print(f"  {total - left:,} delivered after {wall():.1f} s", flush=True)
                    pending = left
        finally:
            _stop(cluster)
            log.close()

        span = DeliveryAttempt.objects.aggregate(first=Min("started_at"))
        span |= WebhookDelivery.objects.aggregate(last=Max("delivered_at"))
        delivered = WebhookDelivery.objects.filter(status=DeliveryStatus.SUCCEEDED).count()
        attempts = DeliveryAttempt.objects.count()
        seconds = (span["last"] - span["first"]).total_seconds() if span["last"] and span["first"] else float("nan")
        rate = delivered / seconds if seconds else 0.0
        seen = _get(base, "/stats")
    finally:
        receiver.send_signal(signal.SIGTERM)
        receiver.wait(timeout=10)
        # The endpoints subscribe to invoice.overdue: left behind, they would fan out the other
        # scenarios' events (the billing sweep's) to a receiver that is gone.
        WebhookEndpoint.objects.all().delete()

    missing = total - seen["unique"]
    print(
        f"  delivered {delivered:,}/{total:,} in {seconds:.1f} s (wall {wall():.1f} s from cluster start): "
        f"{rate:,.0f}/s; {attempts:,} attempts recorded; receiver saw {seen['requests']:,} requests, "
        f"{seen['duplicates']} duplicates, {missing} missing, {seen['unsigned']} unsigned, "
        f"at most {seen['max_in_flight']} in flight"
    )
    note = (
        f"{delivered:,}/{total:,} delivered, {seen['duplicates']} duplicates, {missing} missing, "
        f"≤{seen['max_in_flight']} in flight; queued via queue_deliveries, sent by qcluster"
    )
    return [
        Result("webhook_fanout", rate, "deliveries/s", TARGET, note=note),
        Result("webhook_fanout.queue", events / queuing(), "events/s", note=f"fan-out to {ENDPOINTS} endpoints each"),
    ]


def _start_receiver(ctx: Context) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.receiver", "--delay", str(DELAY)], cwd=ctx.root,
        stdout=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    line = proc.stdout.readline()
    if not line.startswith("port "):
        proc.kill()
        raise RuntimeError(f"the receiver did not start: {line!r}")
    return proc, f"http://127.0.0.1:{int(line.split()[1])}"


def _get(base: str, path: str) -> dict:
    with urllib.request.urlopen(base + path, timeout=10) as response:
        return json.loads(response.read())


def _stop(cluster: subprocess.Popen) -> None:
    """SIGTERM to the cluster's main process only (a signal to the whole group can hang it)."""
    cluster.send_signal(signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        cluster.wait(timeout=30)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(cluster.pid, signal.SIGKILL)  # workers orphaned by a cluster that did not stop in time
