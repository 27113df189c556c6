"""The periodic tasks of every app as django-q2 schedules (the only module that writes them).

Each app lists its periodic tasks in `<app>/schedules.py` as
`SCHEDULES = {"name": ("dotted.task", (args…), every_minutes)}`; `register_schedules()`
creates or updates one schedule per entry, named `<app label>:<name>`, and removes the
schedules of entries that no longer exist. It reads every app, so it lives at the top.
"""

from importlib import import_module

from django.apps import apps
from django.db import transaction
from django.utils.module_loading import module_has_submodule
from django_q.models import Schedule


def declared_schedules() -> dict[str, tuple[str, tuple, int]]:
    """Every app's SCHEDULES, keyed `<app label>:<name>`."""
    declared = {}
    for app in apps.get_app_configs():
        if not module_has_submodule(app.module, "schedules"):
            continue
        module = import_module(f"{app.name}.schedules")
        for name, spec in getattr(module, "SCHEDULES", {}).items():
            declared[f"{app.label}:{name}"] = spec
    return declared


def register_schedules() -> list[str]:
    """Create or update one schedule per declared task (idempotent); returns their names."""
    declared = declared_schedules()
    labels = {name.split(":", 1)[0] for name in declared}
    with transaction.atomic():
        for name, (func, args, minutes) in declared.items():
            Schedule.objects.update_or_create(
                name=name,
                defaults={
                    "func": func,
                    "args": repr(tuple(args)) if args else None,
                    "schedule_type": Schedule.MINUTES,
                    "minutes": minutes,
                    "repeats": -1,
                },
            )
        stale = Schedule.objects.exclude(name__in=declared)
        for label in labels:
            stale.filter(name__startswith=f"{label}:").delete()
    return list(declared)
