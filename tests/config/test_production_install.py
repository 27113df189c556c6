"""The production install: locked runtime dependencies with hashes, no test tools."""

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements" / "production.txt"


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _locked(*, here_only: bool = False) -> dict[str, str]:
    """name → pinned version, asserting that every pin carries at least one sha256 hash; with
    `here_only`, only the pins whose environment marker (`; sys_platform == 'win32'`) holds here."""
    pins = {}
    for block in re.split(r"\n(?=\S)", LOCK.read_text()):
        if block.startswith("#") or not block.strip():
            continue
        match = re.match(r"([A-Za-z0-9._-]+)==([^\s;]+)(?: ; ([^\\\n]+))?", block)
        assert match, block
        assert "--hash=sha256:" in block, block
        if here_only and match[3] and not Marker(match[3].strip()).evaluate():
            continue
        pins[canonicalize_name(match[1])] = match[2]
    return pins


def test_every_runtime_dependency_is_locked_to_a_version_it_allows_with_hashes():
    pins = _locked()
    for line in _project()["dependencies"]:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in {LOCK.name}: run `make lock`"
        assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]} is outside {requirement.specifier}"


def test_the_lock_holds_no_test_tool():
    dev = {canonicalize_name(Requirement(line).name) for line in _project()["optional-dependencies"]["dev"]}
    assert dev & set(_locked()) == set()


def test_make_install_production_installs_the_locked_dependencies_and_no_test_tool(tmp_path):
    venv = tmp_path / "venv"
    result = subprocess.run(
        ["make", "install-production", f"VENV={venv}"], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout + result.stderr
    listed = subprocess.run([venv / "bin" / "pip", "list", "--format=freeze"], capture_output=True, text=True)
    installed = dict(line.split("==") for line in listed.stdout.split())
    installed = {canonicalize_name(name): version for name, version in installed.items()}
    for name, version in _locked(here_only=True).items():
        assert installed.get(name) == version, name
    assert {"pytest", "ruff", "playwright", "hypothesis", "stripe"} & set(installed) == set()
    check = subprocess.run(
        [venv / "bin" / "python", "-c", "import django, whitenoise, gunicorn, django_q, psycopg"],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert check.returncode == 0, check.stderr


def test_make_lock_comes_out_unchanged_so_the_lock_is_current_with_pyproject(tmp_path):
    """`make lock` into a copy of the lock: a dependency added to pyproject.toml (or a bound that
    no longer allows its pin) without `make lock` comes out as a difference."""
    copy = tmp_path / "production.txt"
    shutil.copy(LOCK, copy)
    result = subprocess.run(
        ["make", "--old-file=.venv/.installed", "lock", f"LOCK_FILE={copy}"],  # the dev venv as it is
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert copy.read_text() == LOCK.read_text(), "requirements/production.txt is not current: run `make lock`"
