"""django-q2's Schedule admin is limited to superusers: a schedule runs any dotted path
(`os.system` included) on the workers, which is more than staff permissions should grant.
Django's user admin records roles and admin access given or taken in the audit log."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User
from django_q.admin import ScheduleAdmin
from django_q.models import Schedule

import audit
from ops.users import access_of, record_access_change


class SuperuserScheduleAdmin(ScheduleAdmin):
    def has_module_permission(self, request) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request) -> bool:
        return self.has_module_permission(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return self.has_module_permission(request)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self.has_module_permission(request)


admin.site.unregister(Schedule)
admin.site.register(Schedule, SuperuserScheduleAdmin)


class AuditedUserAdmin(UserAdmin):
    """Django's user admin; who gets or loses a role, staff or superuser goes to the audit log
    (the admin saves the user, then its groups, in one transaction)."""

    def save_model(self, request, obj, form, change):
        obj._access_before = access_of(User.objects.get(pk=obj.pk)) if change else None
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        record_access_change(form.instance, getattr(form.instance, "_access_before", None))

    def delete_model(self, request, obj):
        before, pk, label = access_of(obj), obj.pk, obj.get_username()
        super().delete_model(request, obj)
        audit.record("user.deleted", object_id=str(pk), label=label, before=before)

    def delete_queryset(self, request, queryset):
        gone = [(user.pk, user.get_username(), access_of(user)) for user in queryset]
        super().delete_queryset(request, queryset)
        for pk, label, before in gone:
            audit.record("user.deleted", object_id=str(pk), label=label, before=before)


admin.site.unregister(User)
admin.site.register(User, AuditedUserAdmin)
