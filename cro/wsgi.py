"""The WSGI application: Django behind the body deadline, the UFTP endpoint on lean handlers.

A UFTP POST needs none of the middleware the administrators' pages need (static files,
sessions, CSRF, authentication, messages, the login throttle, the display time zone). An
ordinary one (registry.views.endpoint_wsgi.lean_path_takes) is answered without Django's
request cycle at all (`uftp_wsgi`); any other goes to a Django handler of its own with only the
middleware that matters for it (HTTPS redirect and security headers, allowed hosts, the
Content-Security-Policy header), which answers it as the full stack would. Measured with
bench/accept.py (README "Performance").
"""

import os
import re

from django.core.handlers.wsgi import WSGIHandler
from django.core.wsgi import get_wsgi_application

from cro.body_deadline import BodyDeadline

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cro.settings")
_django = get_wsgi_application()

from django.conf import settings  # noqa: E402 - configured by get_wsgi_application

from cro.configuration import configuration_require  # noqa: E402
from registry.views.endpoint_wsgi import lean_path_takes, uftp_wsgi  # noqa: E402

configuration_require()  # gunicorn does not serve with a secret missing

# The middleware of settings.MIDDLEWARE a UFTP POST goes through, in their order there.
UFTP_MIDDLEWARE = (
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "cro.csp.ContentSecurityPolicyMiddleware",
)
# The paths cro.urls serves with registry.views.endpoint.uftp_message.
UFTP_PATH = re.compile(r"^/shapeshifter/api/[^/]+/message$")


class UftpHandler(WSGIHandler):
    """Django's WSGI handler with UFTP_MIDDLEWARE instead of settings.MIDDLEWARE."""

    def load_middleware(self, is_async=False):
        everything = settings.MIDDLEWARE
        settings.MIDDLEWARE = [path for path in everything if path in UFTP_MIDDLEWARE]
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = everything


_uftp = UftpHandler()


def _route(environ, start_response):
    if environ.get("REQUEST_METHOD") == "POST" and UFTP_PATH.match(environ.get("PATH_INFO", "")):
        if lean_path_takes(environ):
            return uftp_wsgi(environ, start_response)
        return _uftp(environ, start_response)
    return _django(environ, start_response)


def warm_up() -> None:
    """Do at boot what Django does lazily on the first request: import the URL configuration
    (with it the API, the views and their libraries) and compile the resolver's patterns. Done
    on a request, it held the process's first requests for about 0.2 s of CPU each boot."""
    from django.urls import get_resolver

    from registry.uftp import versions

    for path in versions.ENDPOINT_PATHS.values():  # imports cro.urls and what it includes
        get_resolver().resolve(path)


warm_up()

application = BodyDeadline(_route, seconds=settings.CRO_BODY_READ_TIMEOUT_SECONDS)
