"""The shape of the billing services: the three single-object modules are leaves, and billing
learns what automations use through a hook instead of reading their tables."""

import ast
from pathlib import Path

import billing.services

SERVICES = Path(billing.services.__file__).parent
LEAVES = ("invoices", "payments", "subscriptions")


def _imported_modules(path: Path) -> set[str]:
    """Every module the file imports, at the top or inside a function."""
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


def _names_called(path: Path) -> set[str]:
    return {ast.unparse(node.func) for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Call)}


def test_it_keeps_invoices_payments_and_subscriptions_from_importing_each_other():
    for leaf in LEAVES:
        others = {f"billing.services.{other}" for other in LEAVES if other != leaf}
        assert not _imported_modules(SERVICES / f"{leaf}.py") & others, f"{leaf}.py imports another leaf"


def test_it_puts_the_logic_that_spans_them_in_the_collection_module():
    from billing.services import collection

    for name in ("bill_period", "invoice_attempt_payment", "invoice_retry_payment", "apply_retry_end_behavior"):
        assert callable(getattr(collection, name))
    assert billing.services.invoice_mark_paid is collection.invoice_mark_paid


def test_it_reads_no_other_app_through_the_app_registry():
    for path in sorted(SERVICES.glob("*.py")):
        assert "apps.get_model" not in _names_called(path), f"{path.name} reads a model through apps.get_model"
        assert not any(module.startswith("automations") for module in _imported_modules(path)), path.name
