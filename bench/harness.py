"""What every benchmark shares: the PostgreSQL database it runs on, the machine it describes,
its results table and `bench/results.json`.

A scenario is a module in bench/scenarios/ with `run(ctx: Context) -> list[Result]`. It builds its
own data (fast bulk creation), measures, and returns figures; it never asserts.
"""

import json
import os
import platform
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results.json"
DEFAULT_DATABASE_URL = "postgres://relance@127.0.0.1:5432/relance_bench"


@dataclass
class Result:
    name: str  # "event_to_run", or "event_to_run.q2_noop" for a side figure
    value: float
    unit: str
    target: float | None = None
    higher_is_better: bool = True
    note: str = ""

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None
        return self.value >= self.target if self.higher_is_better else self.value <= self.target


@dataclass
class Context:
    """Handed to each scenario: where the project is, the environment for worker subprocesses."""

    root: Path = ROOT
    database_url: str = ""
    redis_url: str = ""
    quick: bool = False  # smaller sizes, for trying a scenario out; the figures need quick=False
    extra: dict = field(default_factory=dict)

    def worker_env(self, **overrides: str) -> dict[str, str]:
        """Environment for `manage.py qcluster` / `run_dispatcher` subprocesses on the bench database."""
        env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DJANGO_SETTINGS_MODULE"}}
        env |= {"DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "1", "DATABASE_URL": self.database_url}
        env |= overrides
        return env


def ensure_database(url: str) -> None:
    """Create the bench database (and its role) if they do not exist (trust auth on this machine)."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict

    name = url.rsplit("/", 1)[1].split("?")[0]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    role = conninfo_to_dict(url).get("user")
    try:
        psycopg.connect(admin, autocommit=True).close()
    except psycopg.OperationalError as exc:
        if not role or "does not exist" not in str(exc):
            raise
        # A fresh machine: create the role as the postgres superuser (trust auth, as .ci/run does).
        superuser = conninfo_to_dict(admin) | {"user": "postgres"}
        with psycopg.connect(**superuser, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEDB").format(sql.Identifier(role)))
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def machine() -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        pg_version = cursor.fetchone()[0]
    mem_kb = next(
        (
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        ),
        0,
    )
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "postgresql": pg_version,
        "python": platform.python_version(),
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


@contextmanager
def timed():
    """`with timed() as t: …` then `t()` is the elapsed seconds."""
    start = time.perf_counter()
    end = None

    def elapsed() -> float:
        return (end or time.perf_counter()) - start

    try:
        yield elapsed
    finally:
        end = time.perf_counter()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def print_table(info: dict, results: list[Result]) -> None:
    print()
    print(
        f"Machine: {info['cores']} cores ({info['cpu']}), {info['memory_gb']} GB, PostgreSQL {info['postgresql']}, "
        f"Python {info['python']}, commit {info['commit']}, {info['date']}"
    )
    rows = [("scenario", "value", "target", "met", "note")]
    for r in results:
        target = "" if r.target is None else f"{'≥' if r.higher_is_better else '≤'} {r.target:g} {r.unit}"
        met = {True: "yes", False: "NO", None: ""}[r.met]
        rows.append((r.name, f"{r.value:,.2f} {r.unit}", target, met, r.note))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for i, row in enumerate(rows):
        print("  ".join(cell.ljust(widths[j]) for j, cell in enumerate(row[:4])) + ("  " + row[4] if row[4] else ""))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    sys.stdout.flush()


def write_results(info: dict, results: list[Result]) -> None:
    scenarios = {
        r.name: {"value": r.value, "unit": r.unit, "target": r.target, "met": r.met, "note": r.note} for r in results
    }
    RESULTS.write_text(json.dumps({"machine": info, "scenarios": scenarios}, indent=2) + "\n")


def as_dict(result: Result) -> dict:
    return asdict(result) | {"met": result.met}
