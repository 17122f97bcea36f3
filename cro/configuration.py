"""Refuse to serve with an incomplete configuration (cro/settings.py's CRO_SETTINGS_MISSING).

Importing the settings never fails for a missing secret, so that commands which serve nothing
(makemigrations, check, cro_keygen) run anywhere. What serves calls `configuration_require()`
at start: the WSGI application (gunicorn), the Celery worker and beat. `manage.py check --deploy`
reports the same through the system check below.
"""

from __future__ import annotations

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured


def configuration_require() -> None:
    """ImproperlyConfigured naming every missing setting, if any."""
    missing = getattr(settings, "CRO_SETTINGS_MISSING", [])
    if missing:
        raise ImproperlyConfigured("; ".join(missing))


@checks.register(checks.Tags.security, deploy=True)
def configuration_complete_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    return [checks.Error(problem, id="cro.E001") for problem in getattr(settings, "CRO_SETTINGS_MISSING", [])]
