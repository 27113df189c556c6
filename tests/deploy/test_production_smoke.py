"""Production smoke test: the README's "Running in production" steps, from a fresh clone.

A clone of this repository gets the production install (locked dependencies, no test tools),
a PostgreSQL database and a Redis database of its own, `migrate`, `collectstatic`,
`register_schedules` and an editor; then the Procfile's processes run as the systemd units run
them (the command from the install's venv): gunicorn, two `qcluster`s (as on two worker
machines) and the dispatcher, with DEBUG off behind a TLS proxy. Over plain HTTP, as a load
balancer and a proxy would: the health probe, the editor's login, the automations page and its
static files, an overdue invoice's step (its email reaches an SMTP server), the health details,
and the documented stop, which leaves no process and no step running.
"""

import contextlib
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import time
import tomllib
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.cookies import SimpleCookie
from pathlib import Path

import httpx
import psycopg
import pytest
import redis
from aiosmtpd.controller import Controller
from django.db import connection

from tests.deploy.service_files import procfile_commands

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
# A Redis database of its own (CI's own processes use 0, the fault tests 7); emptied before and after.
REDIS_URL = os.environ.get("SMOKE_REDIS_URL", "redis://127.0.0.1:6379/11")
HOST = "relance.example.test"  # the public name, as the proxy forwards it
EDITOR, EDITOR_EMAIL, PASSWORD = "ops-editor", "ops-editor@relance.example.test", secrets.token_urlsafe(16)
HEALTH_TOKEN = secrets.token_urlsafe(24)
# The README's first-run steps, as it writes them (a test checks it does), in order.
FIRST_RUN = [
    ("make", "install-production"),
    ("make", "static"),
    ("manage.py", "migrate", "--noinput"),
    ("manage.py", "register_schedules"),
    ("manage.py", "create_user"),
]
HASHED = re.compile(r"\.[0-9a-f]{12}\.[a-z0-9]+$")  # name.<hash>.ext (manifest storage)
# The automations page's own files: its stylesheet, htmx, SortableJS (drag and drop), relance.js.
PAGE_ASSETS = {"css/relance.css", "django_htmx/htmx-2.min.js", "vendor/sortablejs/Sortable.min.js", "js/relance.js"}
# README, Logging: every line of every process starts with time, level, logger name and pid.
LOG_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) \S+ \[\d+\] ")


def wait_for(condition, timeout: float, interval: float = 0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    return None


def reaches_registries(variable: str) -> bool:
    """Environment variables that pip, npm and make need to find their registries, caches and
    Python: kept for the install; everything else the test process has is not."""
    name = variable.upper()
    return (
        name in {"HOME", "LANG", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS"}
        or name.startswith(("PIP_", "NPM_CONFIG_", "UV_"))
        or name.endswith("_PROXY")
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- Outside parts: a database, a Redis database, an SMTP server -----------------------------


def server_dsn(database: str) -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{database}"


@contextlib.contextmanager
def fresh_database():
    """A database created for this test on the test's PostgreSQL server, dropped after."""
    name = f"relance_smoke_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(server_dsn("postgres"), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server_dsn(name)
    finally:
        with psycopg.connect(server_dsn("postgres"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def fresh_redis():
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    try:
        yield REDIS_URL
    finally:
        client.flushdb()
        client.close()


class Mailbox:
    """An SMTP server on a free port that keeps what it receives."""

    def __init__(self):
        self.messages: list[str] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope.content.decode(errors="replace"))
        return "250 OK"


@contextlib.contextmanager
def smtp_server():
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield mailbox, controller.port
    finally:
        controller.stop()


# --- The install and its processes -------------------------------------------------------------


@dataclass
class Install:
    """A clone of this repository run as production: commands, processes and their logs."""

    path: Path
    logs: Path
    env: dict[str, str]
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def bin(self) -> Path:
        return self.path / ".venv" / "bin"

    def run(self, *command: str, timeout: float = 300, input: str | None = None) -> str:
        result = subprocess.run(
            command, cwd=self.path, env=self.env, input=input, capture_output=True, text=True, timeout=timeout
        )
        assert result.returncode == 0, f"{shlex.join(command)} failed:\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def test_tools(self) -> set[str]:
        """The dev extra's packages installed in the venv."""
        dev = tomllib.loads((self.path / "pyproject.toml").read_text())["project"]["optional-dependencies"]["dev"]
        wanted = {re.match(r"[A-Za-z0-9_.-]+", requirement).group(0).lower() for requirement in dev}
        listed = json.loads(self.run(str(self.bin / "python"), "-m", "pip", "list", "--format=json"))
        return wanted & {package["name"].lower() for package in listed}

    def manage(self, *args: str, input: str | None = None) -> str:
        return self.run(str(self.bin / "python"), "manage.py", *args, input=input)

    def start(self, kind: str, name: str) -> subprocess.Popen:
        """The Procfile's command for `kind`, its program taken from the venv (as the systemd
        units' ExecStart), `${VAR}` filled in from the environment (as systemd and a shell do)."""
        argv = [
            re.sub(r"\$\{(\w+)\}", lambda m: self.env[m.group(1)], arg)
            for arg in shlex.split(procfile_commands()[kind])
        ]
        argv[0] = str(self.bin / argv[0])
        with open(self.logs / f"{name}.log", "w") as log:
            proc = subprocess.Popen(
                argv, cwd=self.path, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.procs[name] = proc
        return proc

    def stop(self, name: str, timeout: float = 60) -> None:
        """SIGTERM to the main process only (the documented stop); it must exit by itself."""
        proc = self.procs[name]
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=timeout)

    def kill_everything(self) -> None:
        """After a failure: whatever is still running, the main process first, then its session."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=20)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)

    def processes_left(self) -> list[str]:
        """Live processes of our sessions, or running from the clone (read from /proc)."""
        sessions = {proc.pid for proc in self.procs.values()}
        left = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            fields = stat.rpartition(")")[2].split()
            state, session = fields[0], int(fields[3])
            if state != "Z" and (session in sessions or str(self.path) in cmdline):
                left.append(f"{entry.name}: {cmdline.strip()}")
        return left

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(
            f"--- {path.name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
            for path in sorted(self.logs.glob("*.log"))
        )


class StaticRefs(HTMLParser):
    """Every `<link href>` and `<script src>` of a page."""

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        url = attrs.get("href") if tag == "link" else attrs.get("src") if tag == "script" else None
        if url:
            self.urls.append(url)


class Browser:
    """Plain HTTP to gunicorn, as the TLS proxy sends it: the public Host, X-Forwarded-Proto.

    Cookies are kept by hand: they are Secure (DEBUG off) and httpx sends Secure cookies over
    https only, while the proxy forwards them over plain HTTP."""

    def __init__(self, base_url: str):
        self.client = httpx.Client(base_url=base_url, timeout=20, headers={"Host": HOST})
        self.cookies: dict[str, str] = {}

    def request(self, method: str, url: str, **kwargs) -> httpx.Response:
        headers = {"X-Forwarded-Proto": "https", **kwargs.pop("headers", {})}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        response = self.client.request(method, url, headers=headers, **kwargs)
        for header in response.headers.get_list("set-cookie"):
            cookie = SimpleCookie(header)
            for name, morsel in cookie.items():
                assert "secure" in header.lower(), f"cookie {name} is not Secure: {header}"
                self.cookies[name] = morsel.value
        return response


OVERDUE_INVOICE_SCRIPT = """
from datetime import timedelta
from djmoney.money import Money
from automations.services.definitions import automation_create
from billing import clock, services
automation_create(
    name="Overdue: tell the team",
    trigger="invoice.overdue",
    filters=[],
    steps=[{
        "action": "send_team_email",
        "delay": {"amount": 0, "unit": "minutes"},
        "params": {"recipient": "%(recipient)s", "message": "{number} is overdue"},
    }],
)
customer = services.customer_create(name="Smoke Test Ltd", email="ap@smoke.example")
invoice = services.invoice_create(
    customer=customer,
    lines=[services.LineItem(description="Annual plan", unit_amount=Money("120.00", "EUR"))],
    collection_method="send_invoice",
    due_date=clock.now() - timedelta(days=3),
)
print(services.invoice_finalize(invoice=invoice).number)
"""


def step_statuses(database_url: str) -> list[str]:
    with psycopg.connect(database_url) as conn:
        return [row[0] for row in conn.execute("SELECT status FROM automations_runstep")]


def test_the_readme_production_steps_serve_the_dashboard_and_run_a_step_from_a_fresh_clone(tmp_path):
    started = time.monotonic()
    clone = tmp_path / "relance"
    top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=ROOT, capture_output=True, text=True, check=True)
    subprocess.run(["git", "clone", "--quiet", top.stdout.strip(), str(clone)], check=True)
    logs = tmp_path / "logs"
    logs.mkdir()
    port = free_port()
    with fresh_database() as database_url, fresh_redis() as redis_url, smtp_server() as (mailbox, smtp_port):
        install = Install(
            path=clone,
            logs=logs,
            env={
                # Nothing of the test's own environment but what finds programs and packages.
                **{k: v for k, v in os.environ.items() if reaches_registries(k)},
                "PATH": f"{clone / '.venv' / 'bin'}:{os.environ['PATH']}",
                "DEBUG": "0",
                "SECRET_KEY": secrets.token_urlsafe(50),
                "ALLOWED_HOSTS": HOST,
                "HEALTH_PROBE_HOSTS": "127.0.0.1",  # the internal address the load balancer probes
                "CSRF_TRUSTED_ORIGINS": f"https://{HOST}",
                "BEHIND_PROXY": "1",
                "RELANCE_BASE_URL": f"https://{HOST}",
                "PAYMENT_GATEWAY": "billing.payments.test_gateway.TestGateway",
                "DATABASE_URL": database_url,
                "REDIS_URL": redis_url,
                "HEALTH_TOKEN": HEALTH_TOKEN,
                "EMAIL_HOST": "127.0.0.1",
                "EMAIL_PORT": str(smtp_port),
                "DEFAULT_FROM_EMAIL": "Relance <billing@relance.example.test>",
                "PORT": str(port),
                "WEB_CONCURRENCY": "2",
                "Q_WORKERS": "2",
            },
        )
        try:
            # 1. The production install, then the first-run steps.
            install_started = time.monotonic()
            for step in FIRST_RUN[:2]:  # the production install, the static files
                install.run(*step, timeout=600)
            install_seconds = time.monotonic() - install_started
            assert install.test_tools() == set()
            # The static files' build installed the runtime npm packages only, not axe-core.
            assert (clone / "node_modules" / "sortablejs").is_dir()
            assert not (clone / "node_modules" / "axe-core").exists()
            for step in FIRST_RUN[2:4]:  # migrate, register_schedules
                install.manage(*step[1:])
            create_editor = [*FIRST_RUN[4][1:], EDITOR, "--role", "editor", "--email", EDITOR_EMAIL, "--password-stdin"]
            install.manage(*create_editor, input=PASSWORD + "\n")

            # 2. The processes: web, two clusters (two worker machines), the dispatcher.
            install.start("web", "web")
            install.start("worker", "worker-1")
            install.start("worker", "worker-2")
            install.start("dispatcher", "dispatcher")
            base_url = f"http://127.0.0.1:{port}"

            def probe() -> httpx.Response | None:
                with contextlib.suppress(httpx.TransportError):
                    return httpx.get(f"{base_url}/health/", timeout=5)
                return None

            # 3. A load balancer's plain-HTTP probe on the internal address: 200, no redirect.
            health = wait_for(probe, timeout=60)
            assert health is not None, "gunicorn did not answer:\n" + install.log_tail()
            assert health.status_code == 200, health.text
            assert set(health.json()) == {"status"}  # no details without the token
            # Anything else over plain HTTP (no proxy header) is sent to https.
            plain = httpx.get(f"{base_url}/automations/", headers={"Host": HOST}, timeout=5)
            assert (plain.status_code, plain.headers["Location"]) == (301, f"https://{HOST}/automations/")

            # 4. The editor logs in through the proxy.
            browser = Browser(base_url)
            login = browser.request("GET", "/accounts/login/")
            assert login.status_code == 200, login.text
            assert login.headers["Strict-Transport-Security"].startswith("max-age=")
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text).group(1)
            signed_in = browser.request(
                "POST",
                "/accounts/login/",
                data={"username": EDITOR, "password": PASSWORD, "csrfmiddlewaretoken": token},
                headers={"Origin": f"https://{HOST}", "Referer": f"https://{HOST}/accounts/login/"},
            )
            assert signed_in.status_code == 302, signed_in.text
            assert signed_in.headers["Location"] == "/"

            # 5. The automations page and every static file it references, hashed and cached for long.
            page = browser.request("GET", "/automations/")
            assert page.status_code == 200, page.text
            assert EDITOR in page.text
            assert "New automation" in page.text  # an editor's page, not a viewer's
            refs = StaticRefs()
            refs.feed(page.text)
            static = [url for url in refs.urls if url.startswith("/static/")]
            unhashed = {re.sub(r"\.[0-9a-f]{12}(?=\.[a-z0-9]+$)", "", url[len("/static/") :]) for url in static}
            assert unhashed >= PAGE_ASSETS, refs.urls
            collected = clone / "staticfiles"
            for url in static:
                asset = browser.request("GET", url, headers={"Accept-Encoding": "gzip"})
                assert asset.status_code == 200, url
                assert HASHED.search(url.partition("?")[0]), f"{url} has no hashed name"
                max_age = re.search(r"max-age=(\d+)", asset.headers.get("Cache-Control", ""))
                assert max_age and int(max_age.group(1)) >= 365 * 24 * 3600, (url, asset.headers)
                assert asset.headers.get("Content-Encoding") == "gzip", (url, asset.headers)  # compressed
                assert asset.content == (collected / url[len("/static/") :]).read_bytes(), url

            # 6. An overdue invoice's step runs on the workers; its email reaches the SMTP server.
            number = install.manage(
                "shell", "--no-imports", "-c", OVERDUE_INVOICE_SCRIPT % {"recipient": EDITOR_EMAIL}
            ).strip()
            install.manage("run_billing_jobs", "overdue")
            done = wait_for(lambda: step_statuses(database_url) == ["succeeded"], timeout=60)
            assert done, f"step statuses: {step_statuses(database_url)}\n{install.log_tail()}"
            assert wait_for(lambda: any(number in message for message in mailbox.messages), timeout=10), (
                number,
                mailbox.messages,
                install.log_tail(),
            )

            # 7. The health details list both clusters and the dispatcher.
            def details() -> dict | None:
                body = browser.request("GET", "/health/", headers={"Authorization": f"Bearer {HEALTH_TOKEN}"}).json()
                return body if len(body.get("workers", [])) == 2 else None

            report = wait_for(details, timeout=90, interval=1)
            assert report, browser.request("GET", "/health/", headers={"Authorization": f"Bearer {HEALTH_TOKEN}"}).text
            cluster_pids = {install.procs[name].pid for name in ("worker-1", "worker-2")}
            assert {worker["pid"] for worker in report["workers"]} == cluster_pids, report
            assert [d["pid"] for d in report["dispatchers"]] == [install.procs["dispatcher"].pid], report
            assert report["status"] == "ok", report

            # 8. The documented stop: the dispatcher, then each cluster, then the web.
            for name in ("dispatcher", "worker-1", "worker-2", "web"):
                install.stop(name)
            assert wait_for(lambda: not install.processes_left(), timeout=15), install.processes_left()
            assert "running" not in step_statuses(database_url)
            # Every process logged each line with time, level, logger name and pid, and none the
            # per-enqueue "Enqueued …" line (at DEBUG), though the dispatcher enqueued the step's task.
            for name in install.procs:
                lines = (logs / f"{name}.log").read_text().splitlines()
                assert lines, f"{name} logged nothing"
                assert [line for line in lines if not LOG_LINE.match(line)] == [], f"{name}:\n" + "\n".join(lines)
                assert not [line for line in lines if "Enqueued" in line], f"{name}:\n" + "\n".join(lines)
            # gunicorn wrote an access log.
            web_log = (logs / "web.log").read_text()
            assert re.search(
                r'^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO \S+ \[\d+\] .*"GET /automations/ HTTP/1.1" 200 ',
                web_log,
                re.M,
            ), web_log
        finally:
            install.kill_everything()
            print(install.log_tail(15))
            shutil.rmtree(clone, ignore_errors=True)  # its venv and node_modules; the logs stay
    print(f"production smoke test: install {install_seconds:.0f} s, all {time.monotonic() - started:.0f} s")
