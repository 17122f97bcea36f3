"""The Celery application of the CRO: settings come from Django's (CELERY_ prefix)."""

import os
from pathlib import Path

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cro.settings")

app = Celery("cro")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

_FILESYSTEM_BROKER_FOLDERS = ("data_folder_in", "data_folder_out", "processed_folder", "control_folder")


@app.on_after_configure.connect
def _filesystem_broker_folders_create(sender, source, **kwargs) -> None:
    """The filesystem broker writes into folders it does not create: create them on first use
    (not in the settings, which only read)."""
    if str(source.broker_url or "").startswith("filesystem://"):
        options = source.broker_transport_options or {}
        for name in _FILESYSTEM_BROKER_FOLDERS:
            if name in options:
                Path(options[name]).mkdir(parents=True, exist_ok=True)
