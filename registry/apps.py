from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "registry"
    verbose_name = "CRO registry"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the system check `manage.py check --deploy` runs for missing secrets.
        from cro import configuration  # noqa: F401
