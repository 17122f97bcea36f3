"""PostgreSQL only: current rows of one connection never overlap, checked with btree costs (issue 10).

Replaces the GiST exclusion constraints of migration 0003, which cost 150-200 µs per inserted row
on a registry of 2,000,000 connections (about 90% of inserting a membership whose address follows
the ones before; their hashed key lands every insert on a page of its own), by what they
guaranteed, in two parts:

- Serialised writers per connection: every statement that writes current rows of a connection
  first holds that connection's row of registry_connection, created if missing and then locked
  FOR NO KEY UPDATE until the transaction ends (a row lock lives in the tuple, not in the shared
  lock table, so 50,000 of them cost no lock memory). A row created by the statement needs no lock:
  a concurrent writer of that address waits on its unique index entry until this transaction ends.
- A set-based check after each INSERT or UPDATE statement (statement triggers with a transition
  table): for each new current row, the current rows of its connection that overlap it, counted
  through the btree index by connection (membership_conn_idx / representation_conn_idx), must be
  that row alone. Under the lock the check sees every committed row of the connection, and no other
  writer can add one until this transaction ends.

A violation raises SQLSTATE 23P01 (exclusion_violation, an IntegrityError) naming the same
constraints as before (membership_connection_periods_do_not_overlap,
representation_connection_periods_do_not_overlap), so callers map it as they mapped the
exclusion constraint. The check is exact (the address itself, no hash). It needs the lock's wait
to refresh the snapshot (READ COMMITTED, Django's default) or SERIALIZABLE, whose conflict
detection stops the second writer; under REPEATABLE READ a statement writing current rows is
refused.

The price: a statement writing memberships and one writing representations of the same connection
wait for each other (they lock the same row), as two DSOs or two AGRs did before. SQLite migrates
too (nothing to do there): the services refuse overlaps themselves and SQLite serialises writers.
"""

from django.db import migrations

# (table, constraint name of migration 0003, trigger function)
TABLES = [
    ("registry_membership", "membership_connection_periods_do_not_overlap", "registry_membership_no_overlap"),
    (
        "registry_representation",
        "representation_connection_periods_do_not_overlap",
        "registry_representation_no_overlap",
    ),
]

FUNCTION_SQL = """
CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    created varchar[];
    clash record;
BEGIN
    -- Under REPEATABLE READ the check below would read the snapshot taken before the wait for a
    -- lock, and miss the row of the writer it waited for (SERIALIZABLE detects that conflict).
    IF current_setting('transaction_isolation') = 'repeatable read'
       AND EXISTS (SELECT 1 FROM new_rows WHERE superseded_at IS NULL) THEN
        RAISE EXCEPTION 'current rows of {table} are written under READ COMMITTED or SERIALIZABLE only'
            USING ERRCODE = 'feature_not_supported';
    END IF;
    -- 1. One registry_connection row per address written current, created if missing (in address
    --    order, so that two writers never wait on each other crosswise).
    WITH inserted AS (
        INSERT INTO registry_connection (entity_address, created_at)
        SELECT DISTINCT connection_address, now() FROM new_rows WHERE superseded_at IS NULL
        ORDER BY 1
        ON CONFLICT (entity_address) DO NOTHING
        RETURNING entity_address
    )
    SELECT array_agg(entity_address) INTO created FROM inserted;
    -- 2. Lock the rows that existed (a new statement: it also sees rows a concurrent writer
    --    committed while step 1 waited for it).
    PERFORM 1 FROM registry_connection c
    WHERE c.entity_address IN (
        SELECT connection_address FROM new_rows WHERE superseded_at IS NULL
        EXCEPT SELECT unnest(created)
    )
    ORDER BY c.entity_address
    FOR NO KEY UPDATE;
    -- 3. Each new current row overlaps no current row of its connection but itself.
    SELECT n.connection_address, n.start_period, n.end_period INTO clash
    FROM new_rows n
    WHERE n.superseded_at IS NULL AND (
        SELECT count(*) FROM {table} t
        WHERE t.connection_address = n.connection_address AND t.superseded_at IS NULL
          AND (t.end_period IS NULL OR n.start_period <= t.end_period)
          AND (n.end_period IS NULL OR t.start_period <= n.end_period)
    ) > 1
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'conflicting key value violates exclusion constraint "{constraint}"'
            USING ERRCODE = 'exclusion_violation', CONSTRAINT = '{constraint}', TABLE = '{table}',
                  DETAIL = format('Current rows of connection %s overlap the period %s..%s.',
                                  clash.connection_address, clash.start_period,
                                  coalesce(clash.end_period::text, ''));
    END IF;
    RETURN NULL;
END
$$
"""

TRIGGER_SQL = (
    "CREATE TRIGGER {function}_{event} AFTER {event} ON {table} REFERENCING NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
)
EVENTS = ("insert", "update")


def overlap_triggers_create(schema_editor) -> None:
    for table, constraint, function in TABLES:
        # params=None: the function's format() holds %s, which are not parameters.
        schema_editor.execute(
            FUNCTION_SQL.format(function=function, table=table, constraint=constraint), params=None
        )
        for event in EVENTS:
            schema_editor.execute(TRIGGER_SQL.format(function=function, event=event, table=table))


def overlap_triggers_drop(schema_editor) -> None:
    for table, _constraint, function in TABLES:
        for event in EVENTS:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {function}_{event} ON {table}")
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {function}()")


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, constraint, _function in TABLES:
        schema_editor.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {constraint}")
    overlap_triggers_create(schema_editor)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    overlap_triggers_drop(schema_editor)
    for table, constraint, _function in TABLES:
        schema_editor.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {constraint} EXCLUDE USING gist ("
            "(hashtextextended(connection_address, 0)) WITH =, "
            "daterange(start_period, end_period, '[]') WITH &&"
            ") WHERE (superseded_at IS NULL)"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0011_registry_indexes_one_per_way_in"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards, elidable=False),
    ]
