"""Retry schedules: a named RetryPolicy, and the account's default retry settings."""

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

MAX_RETRIES = 8
MAX_RETRY_DAYS = 60


class ScheduleKind(models.TextChoices):
    WITHIN_DAYS = "within_days", "Up to N retries within D days"
    DAY_OFFSETS = "day_offsets", "Retry on chosen days after the first failure"


class EndBehavior(models.TextChoices):
    CANCEL_SUBSCRIPTION = "cancel_subscription", "Cancel the subscription"
    MARK_UNPAID = "mark_unpaid", "Mark the subscription unpaid"
    LEAVE_PAST_DUE = "leave_past_due", "Leave the subscription past due"


class RetrySchedule(models.Model):
    """Fields and arithmetic shared by RetryPolicy and AccountSettings."""

    schedule_kind = models.CharField(max_length=20, choices=ScheduleKind, default=ScheduleKind.WITHIN_DAYS)
    max_retries = models.PositiveSmallIntegerField(
        default=4,
        validators=[MinValueValidator(0), MaxValueValidator(MAX_RETRIES)],
        help_text=f"Number of retries after the first failed attempt (0 to {MAX_RETRIES}).",
    )
    within_days = models.PositiveSmallIntegerField(
        default=14,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_RETRY_DAYS)],
        help_text=f"Days after the first failure within which the retries happen (1 to {MAX_RETRY_DAYS}).",
    )
    day_offsets = models.JSONField(
        default=list,
        blank=True,
        help_text="Days after the first failure, e.g. [1, 3, 5, 7] (used by the 'chosen days' schedule).",
    )
    end_behavior = models.CharField(
        max_length=30,
        choices=EndBehavior,
        default=EndBehavior.LEAVE_PAST_DUE,
        help_text="What happens to the subscription after the last retry fails.",
    )

    class Meta:
        abstract = True

    def clean(self) -> None:
        super().clean()
        if self.schedule_kind == ScheduleKind.DAY_OFFSETS:
            offsets = self.day_offsets
            if not isinstance(offsets, list) or not offsets:
                raise ValidationError({"day_offsets": "List at least one day, e.g. [1, 3, 7]."})
            if len(offsets) > MAX_RETRIES:
                raise ValidationError({"day_offsets": f"At most {MAX_RETRIES} retries."})
            if any(not isinstance(d, int) or isinstance(d, bool) or d < 1 or d > MAX_RETRY_DAYS for d in offsets):
                raise ValidationError({"day_offsets": f"Each day must be a whole number from 1 to {MAX_RETRY_DAYS}."})
            if offsets != sorted(set(offsets)):
                raise ValidationError({"day_offsets": "Days must be increasing, without repeats."})

    def retry_offsets(self) -> list[timedelta]:
        """Delays after the first failed attempt at which each retry happens."""
        if self.schedule_kind == ScheduleKind.DAY_OFFSETS:
            return [timedelta(days=d) for d in self.day_offsets]
        count = min(self.max_retries, MAX_RETRIES)
        if count == 0:
            return []
        window = timedelta(days=self.within_days)
        return [window * (i + 1) / count for i in range(count)]

    def describe_schedule(self) -> str:
        if self.schedule_kind == ScheduleKind.DAY_OFFSETS:
            days = ", ".join(str(d) for d in self.day_offsets)
            return f"retry on days {days} after the first failure"
        return f"up to {self.max_retries} retries within {self.within_days} days"


class RetryPolicy(RetrySchedule):
    name = models.CharField(max_length=100, unique=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "retry policies"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
