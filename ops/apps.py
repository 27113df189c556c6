from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "ops"
    verbose_name = "Operations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django_q.signals import post_execute_in_worker, post_spawn, pre_execute

        from ops.tasks import count_finished, count_started, start_cluster_beat

        post_spawn.connect(start_cluster_beat, dispatch_uid="ops.cluster_beat")
        pre_execute.connect(count_started, dispatch_uid="ops.task_started")
        post_execute_in_worker.connect(count_finished, dispatch_uid="ops.task_finished")
