"""One heartbeat row per process (kind, host, pid) instead of one per kind; the worker clusters
beat from a thread of their own, so the one-minute `ops:heartbeat` schedule goes."""

from django.db import migrations, models


def remove_heartbeat_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name="ops:heartbeat").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("ops", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [
        migrations.DeleteModel(name="Heartbeat"),
        migrations.CreateModel(
            name="Heartbeat",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "kind",
                    models.CharField(
                        choices=[("dispatcher", "dispatcher"), ("worker", "worker cluster")], max_length=20
                    ),
                ),
                ("host", models.CharField(max_length=255)),
                ("pid", models.PositiveIntegerField()),
                ("started_at", models.DateTimeField()),
                ("beat_at", models.DateTimeField()),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("kind", "host", "pid"), name="one_heartbeat_per_process")
                ],
            },
        ),
        migrations.RunPython(remove_heartbeat_schedule, migrations.RunPython.noop),
    ]
