from django.apps import AppConfig


class RelanceConfig(AppConfig):
    """The project package as an app, so that its system checks and signal receivers are registered at startup."""

    name = "config"
    label = "relance"
    verbose_name = "Relance"

    def ready(self) -> None:
        from config import checks, login_throttle  # noqa: F401  (registers the checks and receivers)
