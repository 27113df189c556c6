"""Heartbeats of the background processes, for the health endpoint."""

from django.db import models


class Heartbeat(models.Model):
    """The last sign of life of a process kind: "dispatcher" (each loop) or "worker" (a task)."""

    name = models.CharField(max_length=40, primary_key=True)
    beat_at = models.DateTimeField()
    host = models.CharField(max_length=255, blank=True)
    pid = models.PositiveIntegerField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} at {self.beat_at:%Y-%m-%d %H:%M:%S}"
