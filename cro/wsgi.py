import os

from django.core.wsgi import get_wsgi_application

from cro.body_deadline import BodyDeadline

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cro.settings")
_django = get_wsgi_application()

from django.conf import settings  # noqa: E402 - configured by get_wsgi_application

application = BodyDeadline(_django, seconds=settings.CRO_BODY_READ_TIMEOUT_SECONDS)
