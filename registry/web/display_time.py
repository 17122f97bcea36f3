"""One time zone for display (settings.CRO_DISPLAY_TIME_ZONE, the market zone by default): every
request renders in it, the web pages and the Django admin alike, and every page can name it.
Stored times stay UTC; the XML of a message is shown as it was sent."""

from __future__ import annotations

from collections.abc import Callable
from zoneinfo import ZoneInfo

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone


def display_zone() -> ZoneInfo:
    return ZoneInfo(settings.CRO_DISPLAY_TIME_ZONE)


class DisplayTimeZoneMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # The REST API and the UFTP endpoint keep answering in UTC: machines read them.
        if request.path.startswith(("/api/", "/shapeshifter/")):
            return self.get_response(request)
        with timezone.override(display_zone()):
            return self.get_response(request)


def display_time_zone(request: HttpRequest) -> dict[str, str]:
    """Template context: the zone's name, for the labels ("times in Europe/Amsterdam")."""
    return {"display_time_zone": settings.CRO_DISPLAY_TIME_ZONE}
