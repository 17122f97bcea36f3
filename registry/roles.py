"""The roles of the CRO's staff, one model for the web interface and the REST API.

Reading needs an active staff account. Each write needs a Django permission, granted through the
groups the migration 0006_roles creates (superusers have every permission):

- viewer: reads (and the Django admin's view pages);
- operator: retries deliveries, sends TestMessages, imports CSV files;
- administrator: everything, also adding, editing, barring and reactivating participants and
  rotating their keys (a participant's key decides who can speak for a DSO or an AGR).

A staff user without any group or permission only reads.
"""

from __future__ import annotations

MANAGE_PARTICIPANTS = "registry.manage_participants"
SEND_TEST_MESSAGE = "registry.send_test_message"
RETRY_DELIVERY = "registry.retry_delivery"
IMPORT_CSV = "registry.import_csv"


def can_read(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active and user.is_staff)


def can(user, permission: str) -> bool:
    """A write: an active staff user holding the permission (superusers hold them all)."""
    return can_read(user) and user.has_perm(permission)


# (model, codename, name) of the permissions beyond Django's view/add/change/delete.
CUSTOM_PERMISSIONS = [
    (
        "participant",
        "manage_participants",
        "Can add, edit, bar and reactivate participants and rotate their keys",
    ),
    ("participant", "send_test_message", "Can send a TestMessage to a participant"),
    ("message", "retry_delivery", "Can retry the delivery of a failed message"),
    ("csvimport", "import_csv", "Can import registry data from CSV"),
]
OPERATOR_PERMISSIONS = ["send_test_message", "retry_delivery", "import_csv"]
GROUPS = ("viewer", "operator", "administrator")


def roles_create(*, apps) -> None:
    """Create (or reset) the permissions and the three groups; idempotent, members are kept.

    `apps`: the migration's historical apps, or django.apps.apps.
    """
    from django.contrib.auth.management import create_permissions

    content_type_model = apps.get_model("contenttypes", "ContentType")
    permission_model = apps.get_model("auth", "Permission")
    group_model = apps.get_model("auth", "Group")
    # Django makes the default view/add/change/delete permissions after the migrations of a new
    # database; the groups need them now (a historical app config has no models module).
    registry_config = apps.get_app_config("registry")
    historical = getattr(registry_config, "models_module", None) is None
    if historical:
        registry_config.models_module = True
    try:
        create_permissions(registry_config, apps=apps, verbosity=0)
    finally:
        if historical:
            registry_config.models_module = None

    custom = {}
    for model, codename, name in CUSTOM_PERMISSIONS:
        content_type, _ = content_type_model.objects.get_or_create(app_label="registry", model=model)
        custom[codename], _ = permission_model.objects.get_or_create(
            content_type=content_type, codename=codename, defaults={"name": name}
        )
    registry_permissions = permission_model.objects.filter(content_type__app_label="registry")
    # Who holds an API token is for administrators only.
    views = list(registry_permissions.filter(codename__startswith="view_").exclude(codename="view_apitoken"))
    roles = {
        "viewer": views,
        "operator": [*views, *(custom[codename] for codename in OPERATOR_PERMISSIONS)],
        # Everything in the registry app, also the Django admin's add/change/delete.
        "administrator": list(registry_permissions),
    }
    for name, permissions in roles.items():
        group, _ = group_model.objects.get_or_create(name=name)
        group.permissions.set(permissions)
