"""`public_key_next` becomes `public_key_previous`, with one meaning: the key being retired.

Until now an administrator's rotation put the NEW key in `public_key_next` while the DNS refresh
put the OLD one there. Rows rotated by an administrator are turned around so that `public_key`
is the newest key and `public_key_previous` the one it replaces; rows found in DNS already are.
`CsvImport.preview_accepted` equals "no preview reasons" and becomes a property.
"""

from django.db import migrations, models
from django.db.models import F, Q


def _swap_admin_rotations(apps, schema_editor):
    Participant = apps.get_model("registry", "Participant")
    for participant in Participant.objects.exclude(public_key_previous="").exclude(source="dns"):
        participant.public_key, participant.public_key_previous = (
            participant.public_key_previous,
            participant.public_key,
        )
        participant.save(update_fields=["public_key", "public_key_previous"])


class Migration(migrations.Migration):
    dependencies = [("registry", "0004_web_csv_import")]

    operations = [
        migrations.RemoveConstraint(model_name="participant", name="participant_second_key_differs_from_first"),
        migrations.RenameField(model_name="participant", old_name="public_key_next", new_name="public_key_previous"),
        migrations.AddConstraint(
            model_name="participant",
            constraint=models.CheckConstraint(
                condition=~Q(public_key_previous=F("public_key")),
                name="participant_second_key_differs_from_first",
            ),
        ),
        # Swapping is its own inverse.
        migrations.RunPython(_swap_admin_rotations, _swap_admin_rotations),
        migrations.RemoveField(model_name="csvimport", name="preview_accepted"),
    ]
