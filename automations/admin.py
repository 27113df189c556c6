"""A read-only look at automations, their versions, runs and matching records in the Django admin.
Automations are made and changed through the services (and the dashboard builder)."""

from django.contrib import admin

from automations.models import Automation, AutomationVersion, MatchingRecord, Run, RunStep
from automations.triggers import trigger_choices
from billing.admin.base import ReadOnly
from billing.admin.scale import LargeTableAdmin, choices_filter


class VersionInline(ReadOnly, admin.TabularInline):
    model = AutomationVersion
    fields = ("number", "filters", "steps", "created", "created_by")
    readonly_fields = fields
    extra = 0


@admin.register(Automation)
class AutomationAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("name", "trigger", "priority", "enabled", "archived_at", "updated")
    list_filter = ("trigger", "enabled")
    search_fields = ("name", "public_id")
    inlines = [VersionInline]


class StepInline(ReadOnly, admin.TabularInline):
    model = RunStep
    fields = ("position", "action", "scheduled_at", "status", "attempts", "executed_at", "error", "result")
    readonly_fields = fields
    extra = 0


@admin.register(Run)
class RunAdmin(ReadOnly, LargeTableAdmin):
    list_display = ("public_id", "automation", "trigger", "object_id", "status", "reason", "started_at")
    list_filter = ("status", choices_filter("trigger", "trigger", trigger_choices), "started_at")
    list_select_related = ("automation",)
    search_fields = ("public_id__startswith", "object_id__startswith")
    search_related = {"automation": ("public_id__startswith", "name__icontains")}
    search_help_text = "Search by the beginning of the run's id or its object's id, or part of its automation's name."
    inlines = [StepInline]


@admin.register(MatchingRecord)
class MatchingRecordAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("event", "trigger", "outcome", "handled_at")
    list_filter = ("trigger",)
    list_select_related = ("event",)
    search_fields = ("event__public_id", "event__object_id", "outcome")
