"""The audit log in the admin: read only for everyone, superusers included."""

from django.contrib import admin

from audit.models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["created", "actor_label", "actor_kind", "action", "object_label", "object_id", "summary"]
    list_filter = ["actor_kind", "object_type"]
    search_fields = ["object_id", "object_label", "actor_label", "action"]
    date_hierarchy = "created"
    readonly_fields = [field.name for field in AuditEntry._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
