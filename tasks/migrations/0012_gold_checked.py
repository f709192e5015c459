from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("tasks", "0011_assignment_reward")]

    operations = [
        migrations.AddField(
            model_name="assignment",
            name="gold_checked_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name="microtask",
            index=models.Index(condition=models.Q(("is_gold", True)), fields=["job"], name="microtask_gold_by_job"),
        ),
        # Gold answers submitted before this were scored by the queue already: the repair pass must not count
        # them again.
        migrations.RunSQL(
            "UPDATE tasks_assignment a SET gold_checked_at = coalesce(a.submitted_at, now())"
            " FROM tasks_microtask m WHERE m.id = a.microtask_id AND m.is_gold AND a.status = 'submitted'",
            migrations.RunSQL.noop,
        ),
    ]
