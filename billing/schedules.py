"""The periodic billing jobs as django-q2 schedules (the only module that writes them)."""

from django.db import transaction
from django_q.models import Schedule

from billing.jobs import JOBS

SCHEDULE_PREFIX = "billing:"
EVERY_MINUTES = 1


def register_schedules() -> list[str]:
    """Create or update one schedule per billing job (idempotent); returns their names."""
    names = []
    with transaction.atomic():
        for job in JOBS:
            name = f"{SCHEDULE_PREFIX}{job}"
            Schedule.objects.update_or_create(
                name=name,
                defaults={
                    "func": "billing.tasks.run_job",
                    "args": repr((job,)),
                    "schedule_type": Schedule.MINUTES,
                    "minutes": EVERY_MINUTES,
                    "repeats": -1,
                },
            )
            names.append(name)
        Schedule.objects.filter(name__startswith=SCHEDULE_PREFIX).exclude(name__in=names).delete()
    return names
