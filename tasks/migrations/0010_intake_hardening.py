"""A job's columns name every column its items have (the CSV export writes each one). Jobs ingested before kept
only the first 200 names; their lists are completed from the items: the names kept first, then the others in
the order of the item that has each first."""

from django.db import migrations

# The old cap: a job with fewer names already had them all.
OLD_MAX_COLUMNS = 200

MISSING_COLUMNS_SQL = """
SELECT k.key
FROM tasks_item i, jsonb_object_keys(i.data) AS k(key)
WHERE i.job_id = %s AND jsonb_typeof(i.data) = 'object' AND NOT (k.key = ANY(%s))
GROUP BY k.key
ORDER BY min(i.position), k.key
"""


def complete_job_columns(apps, schema_editor) -> None:
    Job = apps.get_model("tasks", "Job")
    connection = schema_editor.connection
    for job in Job.objects.only("id", "columns").iterator():
        columns = list(job.columns or [])
        if len(columns) < OLD_MAX_COLUMNS:
            continue
        with connection.cursor() as cursor:
            cursor.execute(MISSING_COLUMNS_SQL, [job.pk, columns])
            missing = [row[0] for row in cursor.fetchall()]
        if missing:
            Job.objects.filter(pk=job.pk).update(columns=columns + missing)


class Migration(migrations.Migration):
    dependencies = [("tasks", "0009_microtask_results_for")]

    operations = [migrations.RunPython(complete_job_columns, migrations.RunPython.noop, elidable=True)]
