"""The Procfile and the systemd units describe the same three processes with the same commands,
and the units stop them the way django-q2 needs (SIGTERM to the main process, time to finish)."""

import os
import re
import shutil
import subprocess

import pytest
from django.conf import settings

from tests.deploy.service_files import INSTALL_DIR, ROOT, UNITS, VENV_BIN, procfile_commands, read_unit

KINDS = ("web", "worker", "dispatcher")


def unit(kind: str) -> dict[str, dict[str, list[str]]]:
    return read_unit(UNITS / f"relance-{kind}.service")


def one(unit_: dict, section: str, key: str) -> str:
    values = unit_[section].get(key, [])
    assert len(values) == 1, f"[{section}] {key}= should be set once, found {values}"
    return values[0]


def seconds(value: str) -> float:
    """A systemd time span as seconds ("90", "90s", "1min 30s")."""
    units = {"": 1, "s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", value)
    assert parts, value
    return sum(float(number) * units[unit_] for number, unit_ in parts)


def test_it_declares_the_web_the_worker_and_the_dispatcher_in_the_procfile():
    commands = procfile_commands()
    assert tuple(commands) == KINDS
    assert commands["web"].startswith("gunicorn config.wsgi ")
    assert commands["worker"] == "python manage.py run_worker"
    assert commands["dispatcher"] == "python manage.py run_dispatcher"


@pytest.mark.parametrize("kind", KINDS)
def test_each_unit_runs_its_procfile_command_from_the_installs_venv(kind):
    exec_start = one(unit(kind), "Service", "ExecStart")
    assert exec_start == f"{VENV_BIN}/{procfile_commands()[kind]}"
    assert one(unit(kind), "Service", "WorkingDirectory") == INSTALL_DIR


@pytest.mark.parametrize("kind", KINDS)
def test_each_unit_signals_only_the_main_process_and_restarts_on_failure(kind):
    service = unit(kind)
    # mixed: SIGTERM to the main process only (a signal to every process of a qcluster can hang
    # it), SIGKILL to whatever is left once the stop timeout has passed.
    assert one(service, "Service", "KillMode") == "mixed"
    assert one(service, "Service", "KillSignal") == "SIGTERM"
    assert one(service, "Service", "Restart") == "on-failure"
    assert one(service, "Service", "User") == "relance"
    assert one(service, "Service", "EnvironmentFile") == "/etc/relance/relance.env"
    assert one(service, "Install", "WantedBy") == "relance.target"


def test_the_worker_unit_waits_longer_than_a_task_may_run_before_killing_it():
    task_timeout = settings.Q_CLUSTER["timeout"]
    assert seconds(one(unit("worker"), "Service", "TimeoutStopSec")) >= task_timeout + 15


def test_the_worker_unit_gives_run_worker_time_to_stop_its_cluster_before_killing_both():
    from ops.supervisor import Supervisor

    assert seconds(one(unit("worker"), "Service", "TimeoutStopSec")) > Supervisor().stop_timeout


def test_the_web_unit_waits_longer_than_gunicorns_graceful_timeout():
    graceful_timeout = 30  # gunicorn's default: requests in progress get this long on SIGTERM
    assert seconds(one(unit("web"), "Service", "TimeoutStopSec")) > graceful_timeout


def test_the_units_stop_in_the_documented_order_dispatcher_then_workers_then_web():
    # systemd stops units in the reverse of their start order (After=).
    assert "relance-worker.service" in " ".join(unit("dispatcher")["Unit"]["After"]).split()
    assert "relance-web.service" in " ".join(unit("worker")["Unit"]["After"]).split()


def test_the_target_starts_every_unit_that_is_enabled_with_it():
    target = read_unit(UNITS / "relance.target")
    assert one(target, "Install", "WantedBy") == "multi-user.target"


def test_the_env_file_example_sets_the_port_the_web_command_binds():
    example = (ROOT / "deploy" / "relance.env.example").read_text()
    assert "${PORT}" in procfile_commands()["web"]
    assert re.search(r"^PORT=\d+$", example, re.M)


def test_systemd_accepts_the_unit_files(tmp_path):
    """`systemd-analyze verify` on copies whose install directory is this checkout (it checks
    that each ExecStart program exists)."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        if os.environ.get("CI"):
            pytest.fail("systemd-analyze is missing: CI's machine has the systemd package")
        pytest.skip("needs systemd-analyze (Debian package systemd)")
    for path in UNITS.iterdir():
        text = path.read_text().replace(f"{VENV_BIN}/", f"{ROOT}/.venv/bin/").replace(INSTALL_DIR, str(ROOT))
        (tmp_path / path.name).write_text(text)
    result = subprocess.run(
        [analyze, "verify", *sorted(str(p) for p in tmp_path.iterdir())],
        capture_output=True,
        text=True,
        env=os.environ | {"SYSTEMD_LOG_LEVEL": "warning"},
    )
    # Warnings about the machine itself (no running systemd, units we do not ship) are not ours.
    ours = [line for line in result.stderr.splitlines() if any(p.name in line for p in UNITS.iterdir())]
    assert result.returncode == 0 and ours == [], result.stderr


def systemd_environment_file(text: str) -> dict[str, str]:
    """KEY=value lines as systemd's EnvironmentFile= reads them (surrounding quotes removed)."""
    values = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            values[key.strip()] = value
    return values


def test_the_env_file_example_reads_the_same_in_a_shell_as_in_systemd():
    """The units read it with EnvironmentFile=, the README's commands with `set -a; . file`."""
    example = ROOT / "deploy" / "relance.env.example"
    expected = systemd_environment_file(example.read_text())
    script = 'set -a; . "$1"; set +a; for name in "${@:2}"; do printf "%s=%s\\0" "$name" "${!name}"; done'
    shell = subprocess.run(
        ["bash", "-c", script, "bash", str(example), *expected], capture_output=True, text=True, check=True, env={}
    )
    read = dict(item.split("=", 1) for item in shell.stdout.split("\0") if item)
    assert read == expected
    assert expected["DEFAULT_FROM_EMAIL"] == "Relance <billing@example.com>"
