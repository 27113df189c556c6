"""A read-only look at automations, their versions, runs and matching records in the Django admin.
Automations are made and changed through the services (and the dashboard builder)."""

from django.contrib import admin

from automations.models import Automation, AutomationVersion, MatchingRecord, Run, RunStep
from billing.admin.base import ReadOnly


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
class RunAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("public_id", "automation", "trigger", "object_id", "status", "reason", "started_at")
    list_filter = ("status", "trigger")
    list_select_related = ("automation",)
    search_fields = ("public_id", "object_id", "automation__name")
    date_hierarchy = "started_at"
    inlines = [StepInline]


@admin.register(MatchingRecord)
class MatchingRecordAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("event", "trigger", "outcome", "handled_at")
    list_filter = ("trigger",)
    list_select_related = ("event",)
    search_fields = ("event__public_id", "event__object_id", "outcome")
