"""Test clocks (Stripe's model): a frozen moment that the customers on it, and everything of
theirs, live at; advanced by hand from the clock's page."""

from django.conf import settings
from django.db import models

from billing.models.fields import PublicIdField


class TestClockStatus(models.TextChoices):
    READY = "ready", "Ready"
    ADVANCING = "advancing", "Advancing"
    INTERNAL_FAILURE = "internal_failure", "Internal failure"


class TestClock(models.Model):
    __test__ = False  # not a pytest test class, whatever its name

    public_id = PublicIdField(prefix="clock")
    name = models.CharField(max_length=200)
    frozen_time = models.DateTimeField(help_text="The moment the clock's customers live at.")
    status = models.CharField(max_length=20, choices=TestClockStatus, default=TestClockStatus.READY)
    failure = models.TextField(blank=True, help_text="What stopped the last advance (internal failure).")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return self.name


class AdvanceStatus(models.TextChoices):
    ADVANCING = "advancing", "Advancing"
    SUCCEEDED = "succeeded", "Done"
    FAILED = "failed", "Failed"


class ClockAdvance(models.Model):
    """One advance of a test clock: from which moment to which, requested when, by whom, and how
    it went. What happened during it is read from the objects' own simulated times."""

    test_clock = models.ForeignKey(TestClock, on_delete=models.CASCADE, related_name="advances")
    from_time = models.DateTimeField()
    to_time = models.DateTimeField()
    status = models.CharField(max_length=10, choices=AdvanceStatus, default=AdvanceStatus.ADVANCING)
    moments = models.PositiveIntegerField(default=0, help_text="Moments walked through so far.")
    error = models.TextField(blank=True)
    requested_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-requested_at", "-id"]

    def __str__(self) -> str:
        return f"{self.test_clock}: {self.from_time:%Y-%m-%d %H:%M} → {self.to_time:%Y-%m-%d %H:%M}"
