"""Automations, their immutable versions, runs and run steps, and the matching record of each
handled event. The step table is the source of truth for what still has to happen."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from automations.triggers import trigger_choices
from billing.models import Event
from billing.models.fields import DocumentField, PublicIdField


class Automation(models.Model):
    public_id = PublicIdField(prefix="auto")
    name = models.CharField(max_length=200)
    trigger = models.CharField(max_length=60, choices=trigger_choices())
    enabled = models.BooleanField(default=True)
    priority = models.PositiveIntegerField(help_text="1 is checked first among the automations of its trigger.")
    current_version = models.ForeignKey(
        "AutomationVersion", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    archived_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["trigger", "priority", "id"]
        indexes = [models.Index(fields=["trigger", "priority"], name="automation_priority")]

    def __str__(self) -> str:
        return self.name


class AutomationVersion(models.Model):
    """The definition (filters and steps) as saved once; runs keep the version they started with."""

    automation = models.ForeignKey(Automation, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    filters = models.JSONField(default=list)
    steps = models.JSONField(default=list)
    created = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["automation", "-number"]
        constraints = [models.UniqueConstraint(fields=["automation", "number"], name="one_version_number")]

    def __str__(self) -> str:
        return f"{self.automation} v{self.number}"


class RunStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    COMPLETED = "completed", "Completed"
    ENDED = "ended", "Ended"
    CANCELED = "canceled", "Canceled"
    FAILED = "failed", "Failed"


class Run(models.Model):
    public_id = PublicIdField(prefix="run")
    automation = models.ForeignKey(Automation, on_delete=models.PROTECT, related_name="runs")
    version = models.ForeignKey(AutomationVersion, on_delete=models.PROTECT, related_name="runs")
    trigger = models.CharField(max_length=60)
    # RESTRICT, not PROTECT: an event with runs cannot be deleted, except with its test clock,
    # which takes the runs with it.
    event = models.ForeignKey(Event, on_delete=models.RESTRICT, related_name="+")
    object_type = models.CharField(max_length=20)
    object_id = models.CharField(max_length=40, db_index=True)
    anchor_at = models.DateTimeField(null=True, blank=True, help_text="The date the steps are timed from.")
    status = models.CharField(max_length=10, choices=RunStatus, default=RunStatus.ACTIVE)
    reason = models.CharField(max_length=300, blank=True)
    started_at = models.DateTimeField()
    # A run of an object on a test clock lives at the clock's time: only the clock's advances
    # run its steps (the dispatcher leaves them alone).
    test_clock = models.ForeignKey(
        "billing.TestClock", to_field="public_id", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            # One event starts at most one run per trigger, however often or concurrently it is handled.
            models.UniqueConstraint(fields=["event", "trigger"], name="one_run_per_event_and_trigger")
        ]
        indexes = [
            models.Index(fields=["automation", "status"], name="run_automation_status"),
            models.Index(fields=["object_id", "status"], name="run_object_status"),
            # The runs page: WHERE automation_id = … ORDER BY started_at DESC, id DESC LIMIT 25.
            models.Index(fields=["automation", "-started_at", "-id"], name="run_automation_started"),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} ({self.automation})"


class StepStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    SKIPPED = "skipped", "Skipped"
    CANCELED = "canceled", "Canceled"
    FAILED = "failed", "Failed"


class RunStep(models.Model):
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField()
    action = models.CharField(max_length=60)
    params = models.JSONField(default=dict)
    delay = models.JSONField(default=dict, help_text="As defined: amount, unit and (for anchored triggers) direction.")
    scheduled_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=StepStatus, default=StepStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_until = models.DateTimeField(null=True, blank=True)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    executed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "position"]
        constraints = [models.UniqueConstraint(fields=["run", "position"], name="one_step_per_position")]
        indexes = [
            models.Index(fields=["scheduled_at", "id"], name="step_due", condition=Q(status="pending")),
            models.Index(fields=["claimed_until", "id"], name="step_lease", condition=Q(status="running")),
        ]

    def __str__(self) -> str:
        return f"{self.run.public_id} step {self.position}: {self.action}"

    @property
    def idempotency_key(self) -> str:
        """The same for every execution of this step: emails and webhooks use it to send once."""
        return f"{self.run.public_id}:step:{self.position}"


class MatchingRecord(models.Model):
    """The matching record: for one event and trigger, the automations checked in priority order
    and why each did or did not match (SPEC §2)."""

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="+")
    trigger = models.CharField(max_length=60)
    handled_at = models.DateTimeField()
    checks = DocumentField(default=list)
    outcome = models.CharField(max_length=300)
    run = models.OneToOneField(Run, on_delete=models.SET_NULL, null=True, blank=True, related_name="matching_record")

    class Meta:
        ordering = ["-handled_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["event", "trigger"], name="one_matching_record_per_event_and_trigger")
        ]

    def __str__(self) -> str:
        return f"{self.event} / {self.trigger}: {self.outcome}"


class HandledEvent(models.Model):
    """A billing event the engine has fully handled (runs started, ended or moved); the sweep
    looks for events without one."""

    event = models.OneToOneField(Event, on_delete=models.CASCADE, related_name="+")
    handled_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.event} handled"


class BacktestStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class Backtest(models.Model):
    """A replay of the recorded events of the last `days` days through the engine's matching, for
    a saved automation or a builder's draft (`definition`: its name, filters, steps and place);
    large ones run on a worker, `progress` 0-100 on the way. The figures are in `result`."""

    public_id = PublicIdField(prefix="bt")
    automation = models.ForeignKey(
        Automation, on_delete=models.SET_NULL, null=True, blank=True, related_name="backtests"
    )
    trigger = models.CharField(max_length=60, choices=trigger_choices())
    definition = models.JSONField(default=dict, blank=True)
    days = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=10, choices=BacktestStatus, default=BacktestStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)
    finished = models.DateTimeField(null=True, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"{self.public_id} ({self.days} days)"
