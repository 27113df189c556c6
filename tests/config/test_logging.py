"""Every process logs with time, level and logger name; LOG_FORMAT=json gives one JSON object a line."""

import json
import logging
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django_q.tasks import async_task

ROOT = Path(__file__).resolve().parents[2]
LOG_SOMETHING = (
    "import logging; log = logging.getLogger('automations.engine'); log.warning('step %s overdue', 7)\n"
    "try:\n    1 / 0\nexcept ZeroDivisionError:\n    log.exception('step failed')"
)


def _shell(code: str, **env: str) -> subprocess.CompletedProcess:
    return _manage("shell", "-c", code, **env)


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in {"LOG_FORMAT", "LOG_LEVEL", "DATABASE_URL", "REDIS_URL"}}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**base, "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "1", **env},
    )  # fmt: skip


def test_a_log_line_carries_time_level_logger_name_and_process():
    result = _shell(LOG_SOMETHING)
    assert result.returncode == 0, result.stderr
    first = result.stderr.splitlines()[0]
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} WARNING automations\.engine \[\d+\] step 7 overdue", first
    )


def test_log_format_json_gives_one_json_object_a_line():
    result = _shell(LOG_SOMETHING, LOG_FORMAT="json")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    assert len(lines) == 2
    warning, failure = lines
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", warning["time"])
    assert {k: warning[k] for k in ("level", "logger", "message")} == {
        "level": "WARNING", "logger": "automations.engine", "message": "step 7 overdue",
    }  # fmt: skip
    assert failure["level"] == "ERROR" and "ZeroDivisionError" in failure["exc_info"]


def test_an_unknown_log_format_fails_loudly():
    result = _manage("check", LOG_FORMAT="xml")
    assert result.returncode != 0
    assert "LOG_FORMAT must be one of text, json" in result.stderr


def test_an_unknown_log_level_fails_loudly():
    result = _manage("check", LOG_LEVEL="loud")
    assert result.returncode != 0
    assert "LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got 'loud'" in result.stderr


@pytest.mark.django_db
def test_the_per_enqueue_line_of_django_q_goes_to_debug(caplog):
    caplog.set_level(logging.INFO)
    async_task("math.floor", 1.5, sync=False)
    assert not [r for r in caplog.records if r.getMessage().startswith("Enqueued")]

    caplog.set_level(logging.DEBUG, logger="django-q")
    async_task("math.floor", 1.5, sync=False)
    enqueued = [r for r in caplog.records if r.getMessage().startswith("Enqueued")]
    assert [r.levelname for r in enqueued] == ["DEBUG"]


# django-q2's async_task with a broker that keeps nothing: only the logging around it is looked at.
ENQUEUE = (
    "from django_q.tasks import async_task\n"
    "broker = type('Broker', (), {'list_key': 'relance', 'enqueue': lambda self, pack: 'task-1'})()\n"
    "async_task('math.floor', 1.5, broker=broker, sync=False)"
)


def test_a_process_writes_the_per_enqueue_line_only_when_its_log_level_is_debug():
    at_info = _shell(ENQUEUE, LOG_LEVEL="INFO")
    assert at_info.returncode == 0, at_info.stderr
    assert "Enqueued" not in at_info.stderr
    at_debug = _shell(ENQUEUE, LOG_LEVEL="DEBUG")
    assert at_debug.returncode == 0, at_debug.stderr
    [line] = [line for line in at_debug.stderr.splitlines() if "Enqueued" in line]
    assert re.fullmatch(r"\S+ \S+ DEBUG django-q \[\d+\] Enqueued \[relance\] task-1", line)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_gunicorn_writes_an_access_log_in_the_same_format(tmp_path):
    port = _free_port()
    base = {k: v for k, v in os.environ.items() if k not in {"LOG_FORMAT", "DATABASE_URL", "REDIS_URL"}}
    env = {**base, "DEBUG": "1", "DJANGO_SETTINGS_MODULE": "config.settings", "SQLITE_PATH": str(tmp_path / "db")}
    log = open(tmp_path / "gunicorn.log", "w+")  # noqa: SIM115 (closed in finally)
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi", "--config", "gunicorn.conf.py",
         "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/static/css/relance.css", timeout=5)
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, (tmp_path / "gunicorn.log").read_text()
                time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    lines = (tmp_path / "gunicorn.log").read_text().splitlines()
    access = [line for line in lines if " gunicorn.access " in line]
    assert access, lines
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO gunicorn\.access \[\d+\] 127\.0\.0\.1 ", access[0])
    assert '"GET /static/css/relance.css HTTP/1.1" 200' in access[0]
    assert any(re.match(r"\S+ \S+ INFO gunicorn\.error \[\d+\] Booting worker", line) for line in lines), lines
