"""The staff roles (registry/roles.py): custom permissions and the groups viewer, operator and
administrator (groups that exist keep their members; their permissions are set to the role's),
and the API tokens' admin model that shows only a prefix of each key."""

from django.db import migrations

from registry.roles import CUSTOM_PERMISSIONS, GROUPS, roles_create


def create_roles(apps, schema_editor):
    roles_create(apps=apps)


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=GROUPS).delete()
    apps.get_model("auth", "Permission").objects.filter(
        content_type__app_label="registry", codename__in=[codename for _, codename, _ in CUSTOM_PERMISSIONS]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0005_participant_public_key_previous"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("authtoken", "0004_alter_tokenproxy_options"),
    ]

    operations = [
        migrations.CreateModel(
            name="ApiToken",
            fields=[],
            options={
                "verbose_name": "API token",
                "verbose_name_plural": "API tokens",
                "proxy": True,
                "indexes": [],
                "constraints": [],
            },
            bases=("authtoken.tokenproxy",),
        ),
        migrations.RunPython(create_roles, remove_roles),
    ]
