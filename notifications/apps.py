from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Webhooks and email"

    def ready(self) -> None:
        from notifications import receivers  # noqa: F401  (connects to billing events)
