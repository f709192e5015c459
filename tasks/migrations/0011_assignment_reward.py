from pathlib import Path

from django.db import migrations, models

# The functions as commit.sql defines them now (CREATE OR REPLACE): a lease records the job's reward on its
# assignment, counts the worker's live leases against their limit under a per-worker lock, and sends workers only
# the columns the job shows.
SQL = (Path(__file__).resolve().parent.parent / "scheduling" / "commit.sql").read_text()


class Migration(migrations.Migration):
    dependencies = [("tasks", "0010_intake_hardening")]

    operations = [
        migrations.AddField(
            model_name="job",
            name="shown_fields",
            field=models.JSONField(
                blank=True, default=list, help_text="More columns shown to workers, after the text column."
            ),
        ),
        migrations.AddField(
            model_name="assignment",
            name="reward",
            field=models.DecimalField(
                decimal_places=4, max_digits=10, null=True, help_text="Pay on acceptance, fixed at the lease."
            ),
        ),
        # Assignments made before this recorded nothing: they pay the job's reward as it is now.
        migrations.RunSQL(
            "UPDATE tasks_assignment a SET reward = j.reward FROM tasks_job j WHERE j.id = a.job_id",
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.AlterField(
            model_name="assignment",
            name="reward",
            field=models.DecimalField(
                decimal_places=4, max_digits=10, help_text="Pay on acceptance, fixed at the lease."
            ),
        ),
        migrations.RunSQL(SQL, reverse_sql=migrations.RunSQL.noop),
    ]
