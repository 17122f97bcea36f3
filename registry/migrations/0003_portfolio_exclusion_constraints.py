"""PostgreSQL only: current rows of one connection never overlap in valid time.

Kept out of the models' Meta so that SQLite migrates too and `makemigrations --check` stays clean;
on SQLite the services refuse overlaps themselves (and SQLite serialises writers anyway).
A NULL end_period is an unbounded upper end of the inclusive daterange.

The GiST key is a 64-bit hash of the connection address, not the varchar itself: btree_gist on
varchar made each 50,000-row insert take 5-10 s (and slower as the table grows), the int8 key about
1 s. Equal addresses always have equal hashes, so every real overlap is refused. Two different
addresses with one hash (expected about 3e-6 times over 10 million connections) would only make
an update fail with an error, never let a wrong row in; the services' own check is exact.
"""

from django.db import migrations

EXCLUSION_CONSTRAINTS = [
    ("registry_membership", "membership_connection_periods_do_not_overlap"),
    ("registry_representation", "representation_connection_periods_do_not_overlap"),
]


def exclusion_constraints_create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    for table, name in EXCLUSION_CONSTRAINTS:
        schema_editor.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {name} EXCLUDE USING gist ("
            "(hashtextextended(connection_address, 0)) WITH =, "
            "daterange(start_period, end_period, '[]') WITH &&"
            ") WHERE (superseded_at IS NULL)"
        )


def exclusion_constraints_drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, name in EXCLUSION_CONSTRAINTS:
        schema_editor.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0002_registry_portfolio"),
    ]

    operations = [
        migrations.RunPython(exclusion_constraints_create, exclusion_constraints_drop, elidable=False),
    ]
