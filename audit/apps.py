from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit log"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django_q.signals import post_execute_in_worker, pre_execute

        from audit.context import task_ends, task_starts

        pre_execute.connect(task_starts, dispatch_uid="audit.task_starts")
        post_execute_in_worker.connect(task_ends, dispatch_uid="audit.task_ends")
