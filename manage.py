#!/usr/bin/env python
"""Django's command-line utility for the CRO."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cro.settings")
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        # Django's command line would swallow a settings error and fail later with "Models
        # aren't loaded yet" (AppRegistryNotReady): load them first and say what is wrong.
        settings.INSTALLED_APPS  # noqa: B018
    except ImproperlyConfigured as exc:
        sys.exit(f"settings: {exc}")

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
