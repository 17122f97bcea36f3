"""Who may use the administrators' web interface (registry/roles.py): active staff users read;
each write needs its permission (the groups operator and administrator, or a superuser).

Anonymous users are sent to the login page; a signed-in user who is not staff, or lacks the
write's permission, gets 403. Every page renders in the display time zone (settings.CRO_DISPLAY_TIME_ZONE).
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

from registry import roles


def is_administrator(user) -> bool:
    """May use the web interface at all (reads): an active staff user."""
    return roles.can_read(user)


def staff_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not is_administrator(request.user):
            raise PermissionDenied("the CRO's web interface is for staff users")
        with timezone.override(ZoneInfo(settings.CRO_DISPLAY_TIME_ZONE)):
            return view(request, *args, **kwargs)

    return wrapper


def permission_required(
    permission: str, *, methods: tuple[str, ...] | None = None
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """A write: staff_required plus the permission; `methods`: only for these (e.g. a page whose
    GET is a read and whose POST is the write)."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def checked(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if (methods is None or request.method in methods) and not roles.can(request.user, permission):
                raise PermissionDenied("your account may not do this")
            return view(request, *args, **kwargs)

        return staff_required(checked)

    return decorator
