"""Who may use the API: the roles of registry/roles.py, as in the web interface."""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from registry import roles

# The permission each write action needs; a write not listed here is for superusers only.
WRITE_PERMISSIONS = {
    "create": roles.MANAGE_PARTICIPANTS,
    "update": roles.MANAGE_PARTICIPANTS,
    "partial_update": roles.MANAGE_PARTICIPANTS,
    "bar": roles.MANAGE_PARTICIPANTS,
    "reactivate": roles.MANAGE_PARTICIPANTS,
    "rotate_key": roles.MANAGE_PARTICIPANTS,
    "complete_key_rotation": roles.MANAGE_PARTICIPANTS,
    "test_message": roles.SEND_TEST_MESSAGE,
    "retry": roles.RETRY_DELIVERY,
}


class StaffReadRoleWrite(BasePermission):
    """Reads for active staff users; each write (unsafe method) for active staff users holding its
    permission (groups operator and administrator; superusers hold every permission).

    Anonymous requests get 401 (the token authenticator names its scheme), authenticated users
    without the right flags or permission get 403.
    """

    message = "reading needs a staff account; this write needs an operator or administrator account"

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not roles.can_read(user):
            return False
        if request.method in SAFE_METHODS:
            return True
        # A viewset may name its own (e.g. the CSV import's create is the operator's).
        permissions = getattr(view, "write_permissions", WRITE_PERMISSIONS)
        permission = permissions.get(getattr(view, "action", None) or "")
        if permission is None:
            return bool(user.is_superuser)
        return roles.can(user, permission)


# The schema view (registry/api/urls.py) uses the earlier name.
StaffReadAdminWrite = StaffReadRoleWrite
