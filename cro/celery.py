"""The Celery application of the CRO: settings come from Django's (CELERY_ prefix)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cro.settings")

app = Celery("cro")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
