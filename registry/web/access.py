"""Who may use the administrators' web interface: active staff users, for reading and writing.

Anonymous users are sent to the login page; a signed-in user who is not staff gets 403.
Every page renders in the market time zone (settings.CRO_TIME_ZONE).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.utils import timezone


def is_administrator(user) -> bool:
    return bool(user.is_authenticated and user.is_active and user.is_staff)


def staff_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not is_administrator(request.user):
            raise PermissionDenied("the CRO's web interface is for staff users")
        with timezone.override(ZoneInfo(settings.CRO_TIME_ZONE)):
            return view(request, *args, **kwargs)

    return wrapper
