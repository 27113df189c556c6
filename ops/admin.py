"""django-q2's Schedule admin is limited to superusers: a schedule runs any dotted path
(`os.system` included) on the workers, which is more than staff permissions should grant."""

from django.contrib import admin
from django_q.admin import ScheduleAdmin
from django_q.models import Schedule


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
