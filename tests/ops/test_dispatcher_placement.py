"""`run_dispatcher` runs the engine and beats for /health/: it lives at the top, in `ops`, and
the engine imports nothing from `ops` (layers: billing → notifications → automations → top)."""

import ast
from pathlib import Path

from django.core.management import get_commands

import automations


def test_it_serves_run_dispatcher_from_ops_under_the_same_name():
    assert get_commands()["run_dispatcher"] == "ops"


def test_no_automations_module_imports_ops():
    upward = []
    for path in Path(automations.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            upward += [f"{path.name}: {name}" for name in names if name == "ops" or name.startswith("ops.")]
    assert upward == []
