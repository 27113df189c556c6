"""Billing's periodic tasks (registered with every app's by `manage.py register_schedules`)."""

from billing.jobs import JOBS

SCHEDULES = {job: ("billing.tasks.run_job", (job,), 1) for job in JOBS}
