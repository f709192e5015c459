import django.db.models.deletion
from pathlib import Path

from django.db import migrations, models

# Items and microtasks move to a table per job: tasks_item and tasks_microtask become tables partitioned by LIST
# (job_id), and each job's existing rows go into a partition of its own (tasks/partitions.py says why and how).
# A partitioned table's primary key and unique constraints must include job_id; ids keep coming from one
# sequence per table (cache 1,000, as tasks.0007 set), so they stay unique across jobs. The foreign keys that
# named an item or a microtask by id alone are dropped by the AlterFields first.
PARENTS = ("tasks_item", "tasks_microtask")
# The scheduler's functions as commit.sql defines them now: they name the job of each microtask, and plan each
# statement for its parameters.
SQL = (Path(__file__).resolve().parent.parent / "scheduling" / "commit.sql").read_text()


def partition_by_job(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        for table in PARENTS:
            convert(cursor, table)


def constraints_and_indexes(cursor, table):
    """The table's primary key, unique and check constraints, and its other indexes: (name, definition)."""
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid), contype FROM pg_constraint"
        " WHERE conrelid = %s::regclass AND contype IN ('p', 'u', 'c') ORDER BY conname",
        [table],
    )
    constraints = cursor.fetchall()
    cursor.execute(
        "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index x WHERE indrelid = %s::regclass"
        " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid) ORDER BY 1",
        [table],
    )
    return constraints, cursor.fetchall()


def convert(cursor, table):
    old = f"{table}_unpartitioned"
    constraints, indexes = constraints_and_indexes(cursor, table)
    cursor.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {table}")
    (start,) = cursor.fetchone()
    cursor.execute(f"ALTER TABLE {table} RENAME TO {old}")
    cursor.execute(f"ALTER TABLE {old} ALTER COLUMN id DROP IDENTITY IF EXISTS")
    cursor.execute(f"ALTER TABLE {old} ALTER COLUMN id DROP DEFAULT")
    cursor.execute(f"DROP SEQUENCE IF EXISTS {table}_id_seq")  # one left by unpartition
    for constraint, _, _ in constraints:
        cursor.execute(f"ALTER TABLE {old} DROP CONSTRAINT {constraint}")
    for index, _ in indexes:
        cursor.execute(f"DROP INDEX {index}")
    cursor.execute(f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS) PARTITION BY LIST (job_id)")
    cursor.execute(f"CREATE SEQUENCE {table}_id_seq START {start} CACHE 1000 OWNED BY {table}.id")
    cursor.execute(f"ALTER TABLE {table} ALTER COLUMN id SET DEFAULT nextval('{table}_id_seq')")
    for constraint, definition, kind in constraints:
        if kind == "p":
            definition = "PRIMARY KEY (id, job_id)"
        elif kind == "u" and "job_id" not in definition:
            raise RuntimeError(f"{constraint} would not hold across partitions: {definition}")
        cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {constraint} {definition}")
    for _, definition in indexes:
        cursor.execute(definition)
    cursor.execute(f"SELECT DISTINCT job_id FROM {old} ORDER BY 1")
    for (job_id,) in cursor.fetchall():
        cursor.execute(f"CREATE TABLE {table}_p{job_id} PARTITION OF {table} FOR VALUES IN ({job_id})")
    cursor.execute(f"INSERT INTO {table} SELECT * FROM {old}")
    cursor.execute(f"DROP TABLE {old}")


def jit_off(apps, schema_editor):
    """Queries over every job's table (the repair passes) cost enough to set off PostgreSQL's JIT compiler, which
    then spends seconds compiling a query that runs in a millisecond: off for this database's sessions. A role
    that may not ALTER DATABASE is told so, and the migration goes on (set jit = off in postgresql.conf)."""
    from django.db import DatabaseError, transaction

    try:
        with transaction.atomic(using=schema_editor.connection.alias), schema_editor.connection.cursor() as cursor:
            cursor.execute("DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET jit = off', current_database()); END $$")
    except DatabaseError as exc:
        print(f"\n  could not turn JIT off for this database ({exc}); set jit = off in postgresql.conf")


def unpartition(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        for table in PARENTS:
            constraints, indexes = constraints_and_indexes(cursor, table)
            old = f"{table}_partitioned"
            cursor.execute(f"ALTER TABLE {table} RENAME TO {old}")
            for constraint, _, _ in constraints:
                cursor.execute(f"ALTER TABLE {old} DROP CONSTRAINT {constraint}")
            for index, _ in indexes:
                cursor.execute(f"DROP INDEX {index}")
            cursor.execute(f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS)")
            cursor.execute(f"INSERT INTO {table} SELECT * FROM {old}")
            cursor.execute(f"ALTER SEQUENCE {table}_id_seq OWNED BY {table}.id")
            cursor.execute(f"DROP TABLE {old} CASCADE")
            for constraint, definition, kind in constraints:
                definition = "PRIMARY KEY (id)" if kind == "p" else definition
                cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {constraint} {definition}")
            for _, definition in indexes:
                cursor.execute(definition.replace(" ON ONLY ", " ON "))


class Migration(migrations.Migration):

    dependencies = [
        ('tasks', '0019_item_result_version'),
    ]

    operations = [
        migrations.AlterField(
            model_name='answer',
            name='item',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='answers', to='tasks.item'),
        ),
        migrations.AlterField(
            model_name='assignment',
            name='microtask',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='assignments', to='tasks.microtask'),
        ),
        migrations.AlterField(
            model_name='automationaudit',
            name='item',
            field=models.OneToOneField(db_constraint=False, on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='audit', serialize=False, to='tasks.item'),
        ),
        migrations.AlterField(
            model_name='item',
            name='job',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='items', to='tasks.job'),
        ),
        migrations.AlterField(
            model_name='itemembedding',
            name='item',
            field=models.OneToOneField(db_constraint=False, on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='embedding', serialize=False, to='tasks.item'),
        ),
        migrations.AlterField(
            model_name='microtask',
            name='job',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='microtasks', to='tasks.job'),
        ),
        migrations.RunPython(partition_by_job, unpartition),
        migrations.RunPython(jit_off, migrations.RunPython.noop),
        migrations.RunSQL(SQL, reverse_sql=migrations.RunSQL.noop),
    ]
