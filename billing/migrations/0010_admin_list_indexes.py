"""The Django admin's event list filtered by type, newest first, at scale (issue 17): the index on
`type` alone made PostgreSQL fetch every event of the type and sort them."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0009_payment_page"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="event",
            index=models.Index(fields=["type", "-created", "-id"], name="event_type_created"),
        ),
    ]
