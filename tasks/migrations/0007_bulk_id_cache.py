from django.db import migrations

# Intake COPYs items and microtasks by the million, and every row draws its id from the table's identity
# sequence. With the default cache of 1 each draw locks and updates the sequence (and writes WAL every 32
# draws); a cache of 1,000 hands each connection a block of ids (about 4 % off a million-item COPY into the
# indexed items table, docs/BENCHMARKS.md). Ids stay unique and rise within one COPY; a block a connection
# does not use leaves a gap.
TABLES = ("tasks_item", "tasks_microtask")


class Migration(migrations.Migration):
    dependencies = [
        ("tasks", "0006_scheduler_functions"),
    ]

    operations = [
        migrations.RunSQL(
            [f"ALTER TABLE {table} ALTER COLUMN id SET CACHE 1000" for table in TABLES],
            [f"ALTER TABLE {table} ALTER COLUMN id SET CACHE 1" for table in TABLES],
        )
    ]
