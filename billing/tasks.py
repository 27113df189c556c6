"""django-q2 entry points. A task takes names or ids and calls a billing function."""

from billing.jobs import JOBS


def run_job(name: str) -> int:
    """Run one periodic billing job by name; returns how many objects it handled."""
    return JOBS[name]()
