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


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_overlap_check_moves_from_the_exclusion_constraints_to_the_triggers_and_back():
    """0012 replaces 0003's GiST exclusion constraints by the statement triggers; backwards the
    constraints come back. Either way an overlapping current row is refused under the same name."""
    from django.db import IntegrityError, transaction
    from django.utils import timezone

    before = [("registry", "0011_registry_indexes_one_per_way_in")]
    after = [("registry", "0012_registry_overlap_check_by_connection_lock")]

    def state() -> tuple[set[str], set[str]]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT conname FROM pg_constraint WHERE conname LIKE %s",
                ["%connection_periods_do_not_overlap"],
            )
            constraints = {name for (name,) in cursor.fetchall()}
            cursor.execute("SELECT tgname FROM pg_trigger WHERE tgname LIKE %s", ["registry_%_no_overlap_%"])
            triggers = {name for (name,) in cursor.fetchall()}
        return constraints, triggers

    def overlap_refused(apps) -> None:
        Participant = apps.get_model("registry", "Participant")
        CongestionPoint = apps.get_model("registry", "CongestionPoint")
        Membership = apps.get_model("registry", "Membership")
        dso = Participant.objects.create(
            domain="dso.example.com", role="DSO", public_key=keys.generate_keypair()[1],
            endpoint_url="https://dso.example.com/",
        )  # fmt: skip
        cps = [CongestionPoint.objects.create(entity_address=f"ean.00000000000{n}", dso=dso) for n in (1, 2)]
        common = {"connection_address": "ean.100000000001", "recorded_at": timezone.now()}
        Membership.objects.create(congestion_point=cps[0], start_period="2024-01-01", **common)
        with pytest.raises(IntegrityError) as raised, transaction.atomic():
            Membership.objects.create(congestion_point=cps[1], start_period="2024-06-01", **common)
        assert raised.value.__cause__.diag.constraint_name == "membership_connection_periods_do_not_overlap"
        Membership.objects.all().delete()
        CongestionPoint.objects.all().delete()
        Participant.objects.all().delete()

    both = {
        "membership_connection_periods_do_not_overlap",
        "representation_connection_periods_do_not_overlap",
    }
    try:
        overlap_refused(migrate(before))
        assert state() == (both, set())
        overlap_refused(migrate(after))
        assert state() == (
            set(),
            {f"registry_{table}_no_overlap_{event}" for table in ("membership", "representation")
             for event in ("insert", "update")},
        )  # fmt: skip
        overlap_refused(migrate(before))
        assert state() == (both, set())
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
