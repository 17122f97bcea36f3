"""PostgreSQL only: the exclusion constraints' GiST keys keep neighbouring addresses together.

Migration 0003 keyed them by a 64-bit hash of the connection address: exact enough (see there) but
random, so the 1,000 connections of one CP update (addresses that differ in their last digits)
landed on 1,000 scattered GiST pages. Once the index outgrows the buffer cache (2,000,000 current
rows: 143 MB) every inserted row read and wrote back a page: about 150 µs a row, most of a
DSOPortfolioUpdate's time, and growing with the registry.

The first key is now a hash of the address without its last 3 characters: GiST places a tuple by
its first key first, so addresses that share all but their last 3 characters share pages, and the
conflict search for one address looks only at its group. The second key is the whole address's
hash as before, so two rows conflict only if both hashes are equal (never less exact than 0003).
"""

from django.db import migrations

EXCLUSION_CONSTRAINTS = [
    ("registry_membership", "membership_connection_periods_do_not_overlap"),
    ("registry_representation", "representation_connection_periods_do_not_overlap"),
]
GROUPED = (
    "(hashtextextended(left(connection_address, -3), 0)) WITH =, "
    "(hashtextextended(connection_address, 0)) WITH =, "
    "daterange(start_period, end_period, '[]') WITH &&"
)
HASHED = "(hashtextextended(connection_address, 0)) WITH =, daterange(start_period, end_period, '[]') WITH &&"


def _exclusion_constraints_replace(schema_editor, keys: str) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, name in EXCLUSION_CONSTRAINTS:
        schema_editor.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {name}")
        schema_editor.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {name} EXCLUDE USING gist ({keys}) "
            "WHERE (superseded_at IS NULL)"
        )


def exclusion_constraints_group(apps, schema_editor):
    _exclusion_constraints_replace(schema_editor, GROUPED)


def exclusion_constraints_ungroup(apps, schema_editor):
    _exclusion_constraints_replace(schema_editor, HASHED)


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0011_registry_indexes_one_per_way_in"),
    ]

    operations = [
        migrations.RunPython(exclusion_constraints_group, exclusion_constraints_ungroup, elidable=False),
    ]
