"""EventHandling is the spec's matching record: the model (and its table) is renamed, so the rows
installs hold stay, with their event and run; the run's reverse name and the constraint follow."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("automations", "0005_document_fields"),
    ]

    operations = [
        migrations.RenameModel(old_name="EventHandling", new_name="MatchingRecord"),
        migrations.AlterField(
            model_name="matchingrecord",
            name="run",
            field=models.OneToOneField(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="matching_record",
                to="automations.run",
            ),
        ),
        migrations.RemoveConstraint(model_name="matchingrecord", name="one_handling_per_event_and_trigger"),
        migrations.AddConstraint(
            model_name="matchingrecord",
            constraint=models.UniqueConstraint(
                fields=("event", "trigger"), name="one_matching_record_per_event_and_trigger"
            ),
        ),
    ]
