"""`make run` shares one SQLite file between the web server and the worker: concurrent writers
from separate processes wait for each other instead of failing with "database is locked"."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

WRITER = """
import django, sys
django.setup()
from datetime import timedelta
from django.utils import timezone
from moneyed import Money
from billing import jobs, services
name = sys.argv[1]
for i in range(60):
    customer = services.customer_create(name=f"{name} {i}", email=f"{name}{i}@example.com")
    invoice = services.invoice_create(
        customer=customer, collection_method="send_invoice", due_date=timezone.now() - timedelta(days=1),
        lines=[services.LineItem(description="Work", unit_amount=Money(10, "EUR"))],
    )
    services.invoice_finalize(invoice=invoice)
    jobs.run_overdue()
print("done", name)
"""


def _env(db_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    return {**env, "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "1", "SQLITE_PATH": str(db_path)}


def test_two_processes_writing_to_one_sqlite_file_never_see_database_is_locked(tmp_path):
    db_path = tmp_path / "shared.sqlite3"
    env = _env(db_path)
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )
    assert migrate.returncode == 0, migrate.stderr
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, name],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for name in ("web", "worker")
    ]
    outputs = [proc.communicate(timeout=240) for proc in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert "database is locked" not in err
        assert proc.returncode == 0, err[-2000:]
        assert out.startswith("done")
    check = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from billing.models import Event; "
         "print(Event.objects.filter(type='invoice.overdue').count())"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert check.stdout.strip() == "120", check.stderr
