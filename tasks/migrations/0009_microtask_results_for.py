from django.db import migrations, models

# Microtasks finished before this migration count as having their results when every item has one; the others
# (results lost with Redis's queue) stay due, and the repair pass writes them.
BACKFILL = """
UPDATE tasks_microtask m SET results_for = m.completed_at
WHERE m.status = 'done' AND m.completed_at IS NOT NULL AND NOT EXISTS (
  SELECT 1 FROM tasks_item i
  WHERE i.job_id = m.job_id AND i.microtask_index = m.index AND i.gold IS NULL AND i.result_source = ''
)
"""


class Migration(migrations.Migration):
    dependencies = [
        ("tasks", "0008_submit_refuses_second_answers"),
    ]

    operations = [
        migrations.AddField(
            model_name="microtask",
            name="results_for",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunSQL(BACKFILL, reverse_sql=migrations.RunSQL.noop),
        migrations.AddIndex(
            model_name="microtask",
            index=models.Index(
                condition=models.Q(
                    ("is_gold", False),
                    ("status", "done"),
                    models.Q(
                        ("results_for__isnull", True),
                        models.Q(("results_for", models.F("completed_at")), _negated=True),
                        _connector="OR",
                    ),
                ),
                fields=["job", "completed_at"],
                name="microtask_results_due",
            ),
        ),
    ]
