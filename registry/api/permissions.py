"""Who may use the API: staff read, administrators (superusers) write."""

from rest_framework.permissions import SAFE_METHODS, BasePermission


class StaffReadAdminWrite(BasePermission):
    """Reads for active staff users; writes (any unsafe method) for active staff superusers.

    Anonymous requests get 401 (the token authenticator names its scheme), authenticated users
    without the right flags get 403.
    """

    message = "reading needs a staff account; writing needs an administrator (superuser) account"

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_active and user.is_staff):
            return False
        if request.method in SAFE_METHODS:
            return True
        return bool(user.is_superuser)
