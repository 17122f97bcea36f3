"""Data migrations: rows written under the old meaning of a column read right under the new one."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from registry.uftp import keys

BEFORE = [("registry", "0004_web_csv_import")]
AFTER = [("registry", "0005_participant_public_key_previous")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_public_key_next_becomes_the_previous_key():
    """An administrator's rotation stored the NEW key in public_key_next, the DNS refresh the OLD
    one: after the migration the current key is the newest for both."""
    old_admin, new_admin, old_dns, new_dns, single = (keys.generate_keypair()[1] for _ in range(5))
    try:
        apps = migrate(BEFORE)
        Participant = apps.get_model("registry", "Participant")
        common = {"endpoint_url": "https://x.example.com/"}
        Participant.objects.create(
            domain="admin.example.com", role="DSO", public_key=old_admin, public_key_next=new_admin, **common
        )
        Participant.objects.create(
            domain="dns.example.com", role="DSO", public_key=new_dns, public_key_next=old_dns, source="dns",
            **common,
        )  # fmt: skip
        Participant.objects.create(domain="one.example.com", role="AGR", public_key=single, **common)

        apps = migrate(AFTER)
        Participant = apps.get_model("registry", "Participant")
        rows = dict(Participant.objects.values_list("domain", "public_key"))
        previous = dict(Participant.objects.values_list("domain", "public_key_previous"))
        assert rows == {"admin.example.com": new_admin, "dns.example.com": new_dns, "one.example.com": single}
        assert previous == {"admin.example.com": old_admin, "dns.example.com": old_dns, "one.example.com": ""}

        # Backwards, the old meaning comes back.
        apps = migrate(BEFORE)
        Participant = apps.get_model("registry", "Participant")
        admin = Participant.objects.get(domain="admin.example.com")
        assert (admin.public_key, admin.public_key_next) == (old_admin, new_admin)
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
