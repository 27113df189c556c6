"""Heartbeats of the background processes, for the health endpoint and the dispatcher."""

from django.db import models


class ProcessKind(models.TextChoices):
    DISPATCHER = "dispatcher", "dispatcher"
    WORKER = "worker", "worker cluster"


class Heartbeat(models.Model):
    """The last sign of life of one process: a dispatcher (`run_dispatcher`), or a worker
    cluster (`qcluster`, named by its main process, the one that is sent SIGTERM)."""

    kind = models.CharField(max_length=20, choices=ProcessKind)
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    beat_at = models.DateTimeField()
    # Worker clusters only (ops.heartbeats): tasks waiting in the cluster's own queue at the last
    # beat, and the last moment one of its workers was seen able to take them (the wedge rule).
    queued = models.PositiveIntegerField(null=True, blank=True)
    progress_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "host", "pid"], name="one_heartbeat_per_process")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.host}:{self.pid} at {self.beat_at:%Y-%m-%d %H:%M:%S}"
