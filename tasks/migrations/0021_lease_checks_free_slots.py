from pathlib import Path

from django.db import migrations

# The functions as commit.sql defines them now: a lease is refused where PostgreSQL already holds a live lease or an
# answer for every answer the microtask still wants (Redis may have lost the pick that took the slot).
SQL = (Path(__file__).resolve().parent.parent / "scheduling" / "commit.sql").read_text()


class Migration(migrations.Migration):
    dependencies = [("tasks", "0020_partition_items_by_job")]

    operations = [migrations.RunSQL(SQL, reverse_sql=migrations.RunSQL.noop)]
