"""The audit log: one row per change made by a person or an API key, written in the
transaction that makes the change. Rows are never changed or deleted by the product."""

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone
from django.utils.functional import cached_property

from audit import words


class ActorKind(models.TextChoices):
    USER = "user", "Person"
    API_KEY = "api_key", "API key"


class AuditEntry(models.Model):
    created = models.DateTimeField(default=timezone.now)
    actor_kind = models.CharField(max_length=10, choices=ActorKind)
    actor_id = models.CharField(max_length=64, help_text="The user's id or the API key's public id.")
    actor_label = models.CharField(max_length=200, help_text="The username or the key's name at the time.")
    action = models.CharField(max_length=64, help_text="What was done, e.g. invoice.voided.")
    object_type = models.CharField(max_length=40)
    object_id = models.CharField(max_length=64, blank=True)
    object_label = models.CharField(max_length=200, blank=True)
    summary = models.CharField(max_length=300, blank=True)
    before = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    after = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        ordering = ["-created", "-id"]
        verbose_name = "audit entry"
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(fields=["-created", "-id"], name="audit_newest"),
            models.Index(fields=["actor_kind", "actor_id", "-created"], name="audit_by_actor"),
            models.Index(fields=["object_type", "-created"], name="audit_by_type"),
            models.Index(fields=["object_type", "object_id", "-created"], name="audit_by_object"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.object_id} by {self.actor_label}"

    @property
    def actor_key(self) -> str:
        """The actor as the page's "who" filter names it."""
        return f"{self.actor_kind}:{self.actor_id}"

    @property
    def action_label(self) -> str:
        return words.action_label(self.action, self.object_type)

    @property
    def type_label(self) -> str:
        return words.type_label(self.object_type)

    @cached_property
    def object_url(self) -> str | None:
        return words.object_url(self.object_type, self.object_id, self.action)

    @property
    def object_page_for_editors_only(self) -> bool:
        return words.editors_only(self.object_type)

    @property
    def changes(self) -> list[tuple[str, str, str]]:
        """(field, before, after) for each field in before or after, in words ("—" when absent)."""
        before, after = self.before or {}, self.after or {}
        names = list(dict.fromkeys([*before, *after]))
        return [
            (name.replace("_", " ").capitalize(), words.value_text(before, name), words.value_text(after, name))
            for name in names
        ]
