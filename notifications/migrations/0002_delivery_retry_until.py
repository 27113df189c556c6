from datetime import timedelta

from django.db import migrations, models


def fill_retry_until(apps, schema_editor):
    WebhookDelivery = apps.get_model("notifications", "WebhookDelivery")
    for delivery in WebhookDelivery.objects.all().only("pk", "created"):
        WebhookDelivery.objects.filter(pk=delivery.pk).update(retry_until=delivery.created + timedelta(days=3))


class Migration(migrations.Migration):
    dependencies = [("notifications", "0001_initial")]

    operations = [
        migrations.AddField(model_name="webhookdelivery", name="retry_until", field=models.DateTimeField(null=True)),
        migrations.RunPython(fill_retry_until, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="webhookdelivery",
            name="retry_until",
            field=models.DateTimeField(
                help_text="Failed attempts are retried until then (3 days; reset by a resend)."
            ),
        ),
    ]
