from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "ops"
    verbose_name = "Operations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django_q.signals import post_spawn

        from ops.tasks import start_cluster_beat

        post_spawn.connect(start_cluster_beat, dispatch_uid="ops.cluster_beat")
