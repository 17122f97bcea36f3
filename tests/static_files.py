"""WhiteNoise for the test suite: the static files are scanned once per process, not per client.

Production builds one WhiteNoiseMiddleware per process, and its __init__ walks every static file
of every finder (WHITENOISE_USE_FINDERS: a few hundred files, with Django admin's and the API
docs' assets). The test suite builds a middleware chain for every test client (Django's `client`,
DRF's APIClient, `Client()` in a loop), so it paid that walk thousands of times: a 600-request
flood test spent three quarters of its time there. Here the walk's result is kept per process
and reused while the settings it depends on are the same; serving is WhiteNoise's own.
"""

from __future__ import annotations

from django.conf import settings
from whitenoise.middleware import WhiteNoiseMiddleware

_SCANS: dict[tuple, dict] = {}


class WhiteNoiseScanOnceMiddleware(WhiteNoiseMiddleware):
    def add_files_from_finders(self) -> None:
        key = (
            self.static_prefix,
            self.max_age,
            self.allow_all_origins,
            self.charset,
            tuple(str(path) for path in settings.STATICFILES_DIRS),
            tuple(settings.STATICFILES_FINDERS),
            tuple(settings.INSTALLED_APPS),
        )
        scanned = _SCANS.get(key)
        if scanned is None:
            earlier, self.files = self.files, {}
            super().add_files_from_finders()
            scanned = _SCANS[key] = self.files
            self.files = earlier
        # What the finders found wins over STATIC_ROOT's files, as in WhiteNoise's own order.
        self.files.update(scanned)
