"""Layers point one way, also where import-linter cannot see: no module of a lower layer names a
higher app's models or modules in a string (`apps.get_model`, a lazy foreign key, a dotted path
given to `import_string` or `import_module`). `make lint` checks the imports themselves."""

import ast
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
# From the bottom up, as in .importlinter; the top (ops, demo, config, bench) may name anything.
LAYERS = [{"frame", "audit"}, {"billing"}, {"notifications"}, {"automations"}, {"api"}]
TOP = {"ops", "demo", "config", "bench"}


def _higher(layer: int) -> set[str]:
    return set().union(*LAYERS[layer + 1 :], TOP)


def _modules(package: str) -> list[Path]:
    return [path for path in sorted((ROOT / package).rglob("*.py")) if "migrations" not in path.parts]


def _strings_naming(path: Path, apps: set[str]) -> list[str]:
    """String constants that name one of `apps` as 'app.Model', 'app.module…' or the bare label
    given to the app registry."""
    found = []
    tree = ast.parse(path.read_text())
    registry_calls = {"get_model", "get_app_config", "get_models"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in registry_calls:
                found += [
                    f"{name}({arg.value!r})"
                    for arg in node.args
                    if isinstance(arg, ast.Constant) and str(arg.value).split(".")[0].lower() in apps
                ]
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            head, dot, rest = node.value.partition(".")
            if dot and head in apps and rest[:1].isalpha() and " " not in node.value:
                found.append(repr(node.value))
    return found


@pytest.mark.parametrize(
    "layer", range(len(LAYERS)), ids=["frame·audit", "billing", "notifications", "automations", "api"]
)
def test_a_lower_layer_names_no_higher_app_in_a_string(layer):
    higher = _higher(layer)
    offenders = {
        str(path.relative_to(ROOT)): found
        for package in sorted(LAYERS[layer])
        for path in _modules(package)
        if (found := _strings_naming(path, higher))
    }
    assert offenders == {}


def test_the_check_sees_a_lazy_foreign_key_and_a_registry_lookup(tmp_path):
    module = tmp_path / "models.py"
    module.write_text(
        "from django.apps import apps\n"
        "run = models.ForeignKey('automations.Run', on_delete=models.PROTECT)\n"
        "Step = apps.get_model('automations', 'RunStep')\n"
        "label = 'automations'  # a bare word is not a reference\n"
    )
    assert sorted(_strings_naming(module, {"automations"})) == ["'automations.Run'", "get_model('automations')"]
