from pathlib import Path

from django.db import migrations

SQL = (Path(__file__).resolve().parent.parent / "scheduling" / "commit.sql").read_text()


class Migration(migrations.Migration):
    dependencies = [("tasks", "0005_automation")]

    operations = [
        migrations.RunSQL(
            SQL,
            reverse_sql=(
                "DROP FUNCTION IF EXISTS quorum_commit_batch(jsonb); DROP FUNCTION IF EXISTS quorum_submit(jsonb);"
                " DROP FUNCTION IF EXISTS quorum_lease(jsonb); DROP FUNCTION IF EXISTS quorum_release(jsonb);"
            ),
        )
    ]
