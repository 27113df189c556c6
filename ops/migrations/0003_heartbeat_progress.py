"""A worker cluster's beat says how many tasks wait in its queue and when its workers last took
one: a wedged cluster (django-q2 #23) beats on but takes nothing."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('ops', '0002_heartbeat_per_process'),
    ]

    operations = [
        migrations.AddField(
            model_name='heartbeat',
            name='progress_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='heartbeat',
            name='queued',
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
    ]
