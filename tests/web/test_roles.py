"""One permission model (registry/roles.py) in the web interface: every write per role.

viewer (and staff without a group): 403 on each write; operator: retry, TestMessage and CSV import,
403 on the participant writes; administrator and superuser: everything. Write buttons and forms a
user may not use are not shown.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from registry.models import CsvImport, Participant
from tests.api.conftest import make_message

MANAGE, OPERATE = "manage", "operate"
# (URL name, object it needs, HTTP methods that write, what it needs)
WRITES = [
    ("participant-add", None, ("get", "post"), MANAGE),
    ("participant-edit", "participant", ("get", "post"), MANAGE),
    ("participant-bar", "participant", ("post",), MANAGE),
    ("participant-reactivate", "participant", ("post",), MANAGE),
    ("participant-key-rotate", "participant", ("get", "post"), MANAGE),
    ("participant-key-rotation-complete", "participant", ("post",), MANAGE),
    ("participant-time-stamp-reset", "participant", ("post",), MANAGE),
    ("participant-test-message", "participant", ("post",), OPERATE),
    ("message-retry", "message", ("post",), OPERATE),
    ("import", None, ("post",), OPERATE),
    ("import-apply", "csv_import", ("post",), OPERATE),
]
ALLOWED = {
    None: set(),
    "viewer": set(),
    "operator": {OPERATE},
    "administrator": {MANAGE, OPERATE},
    "superuser": {MANAGE, OPERATE},
}


@pytest.fixture
def objects(make_participant):
    dso, _ = make_participant("dso1.example.com", "DSO")
    return {
        "participant": dso,
        "message": make_message(dso, direction="out", status="failed"),
        "csv_import": CsvImport.objects.create(dso=dso, csv_text="", status="applied"),
    }


@pytest.fixture
def user_for(make_role_user, django_user_model):
    def _user(role):
        if role == "superuser":
            return django_user_model.objects.create_superuser("root", password="a-long-root-password-42")
        return make_role_user(role)

    return _user


def _url(name, needs, objects):
    return reverse(f"web:{name}", kwargs={"pk": objects[needs].pk} if needs else {})


@pytest.mark.parametrize("role", list(ALLOWED))
@pytest.mark.parametrize(("name", "needs", "methods", "kind"), WRITES, ids=[write[0] for write in WRITES])
def test_each_write_needs_its_role(client, objects, user_for, role, name, needs, methods, kind):
    client.force_login(user_for(role))
    before = list(
        Participant.objects.values_list("status", "public_key", "public_key_previous", "endpoint_url")
    )
    for method in methods:
        response = getattr(client, method)(_url(name, needs, objects))
        if kind in ALLOWED[role]:
            assert response.status_code != 403, f"{role} {method} {name}"
        else:
            assert response.status_code == 403, f"{role} {method} {name}: {response.status_code}"
    if kind not in ALLOWED[role]:
        after = list(
            Participant.objects.values_list("status", "public_key", "public_key_previous", "endpoint_url")
        )
        assert after == before


@pytest.mark.parametrize("role", list(ALLOWED))
def test_every_role_reads(client, objects, user_for, role):
    client.force_login(user_for(role))
    for url in (
        reverse("web:dashboard"),
        reverse("web:participant-detail", kwargs={"pk": objects["participant"].pk}),
        reverse("web:failed-deliveries"),
        reverse("web:import"),
        reverse("web:import-detail", kwargs={"pk": objects["csv_import"].pk}),
        reverse("web:message-detail", kwargs={"pk": objects["message"].pk}),
    ):
        assert client.get(url).status_code == 200, f"{role} {url}"


def test_the_operator_really_retries(client, objects, user_for):
    client.force_login(user_for("operator"))
    client.post(reverse("web:message-retry", kwargs={"pk": objects["message"].pk}))
    objects["message"].refresh_from_db()
    assert objects["message"].status != "failed"


def test_the_administrator_really_bars(client, objects, user_for):
    client.force_login(user_for("administrator"))
    client.post(reverse("web:participant-bar", kwargs={"pk": objects["participant"].pk}), {"reason": "test"})
    objects["participant"].refresh_from_db()
    assert objects["participant"].status == Participant.Status.BARRED


# What each role sees on the participant, failed-deliveries, message and import pages.
BUTTONS = {
    "participant-edit": MANAGE,
    "participant-bar": MANAGE,
    "participant-key-rotate": MANAGE,
    "participant-test-message": OPERATE,
    "message-retry": OPERATE,
    "import-form": OPERATE,
}


@pytest.mark.parametrize("role", list(ALLOWED))
def test_write_buttons_are_shown_only_to_who_may_use_them(client, objects, user_for, role):
    client.force_login(user_for(role))
    participant, message = objects["participant"], objects["message"]
    pages = "".join(
        client.get(url).content.decode()
        for url in (
            reverse("web:participant-detail", kwargs={"pk": participant.pk}),
            reverse("web:participant-list"),
            reverse("web:failed-deliveries"),
            reverse("web:message-detail", kwargs={"pk": message.pk}),
            reverse("web:import"),
        )
    )
    shown = {
        "participant-edit": reverse("web:participant-edit", kwargs={"pk": participant.pk}) in pages,
        "participant-bar": reverse("web:participant-bar", kwargs={"pk": participant.pk}) in pages,
        "participant-key-rotate": reverse("web:participant-key-rotate", kwargs={"pk": participant.pk})
        in pages,
        "participant-test-message": reverse("web:participant-test-message", kwargs={"pk": participant.pk})
        in pages,
        "message-retry": reverse("web:message-retry", kwargs={"pk": message.pk}) in pages,
        "import-form": 'enctype="multipart/form-data"' in pages,
    }
    assert shown == {button: kind in ALLOWED[role] for button, kind in BUTTONS.items()}
    assert (reverse("web:participant-add") in pages) == (MANAGE in ALLOWED[role])


def test_the_migration_creates_the_groups_with_their_permissions(db):
    """The data migration's code with the migration's historical models, on an emptied table."""
    from django.contrib.auth.models import Group, Permission
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    from registry.roles import roles_create

    Group.objects.all().delete()
    Permission.objects.filter(content_type__app_label="registry").delete()
    historical = MigrationLoader(connection).project_state(("registry", "0006_roles")).apps
    roles_create(apps=historical)

    def codenames(name):
        return set(Group.objects.get(name=name).permissions.values_list("codename", flat=True))

    viewer, operator, administrator = codenames("viewer"), codenames("operator"), codenames("administrator")
    assert {"view_participant", "view_message", "view_csvimport"} <= viewer
    assert not any(codename.startswith(("add_", "change_", "delete_")) for codename in viewer)
    assert "view_apitoken" not in viewer
    assert operator - viewer == {"send_test_message", "retry_delivery", "import_csv"}
    assert {"manage_participants", "change_participant", "view_apitoken"} <= administrator
    assert operator <= administrator
