from pathlib import Path

from django.db import migrations

# The functions as commit.sql defines them now (CREATE OR REPLACE): quorum_submit refuses a second answer under
# another key, and an answer to a microtask the worker skipped.
SQL = (Path(__file__).resolve().parent.parent / "scheduling" / "commit.sql").read_text()


class Migration(migrations.Migration):
    dependencies = [("tasks", "0007_bulk_id_cache")]

    operations = [migrations.RunSQL(SQL, reverse_sql=migrations.RunSQL.noop)]
