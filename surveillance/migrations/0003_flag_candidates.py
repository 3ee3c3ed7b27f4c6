from django.db import migrations, models


def candidates_of_waiting_flags(apps, schema_editor):
    """A flag still waiting for its patient gets the patients who use its phone now: the
    best record there is of who used it when the flag was raised."""
    Flag = apps.get_model("surveillance", "Flag")
    Patient = apps.get_model("cohorts", "Patient")
    waiting = Flag.objects.filter(patient__isnull=True, message__isnull=False)
    for flag in waiting.select_related("message").iterator():
        sharers = Patient.objects.filter(contact_id=flag.message.contact_id, is_active=True)
        flag.candidates.set(sharers)


class Migration(migrations.Migration):
    dependencies = [
        ("cohorts", "0005_dashboard_patient_indexes"),
        ("surveillance", "0002_withdrawal_and_retention"),
    ]

    operations = [
        migrations.AddField(
            model_name="flag",
            name="candidates",
            field=models.ManyToManyField(
                blank=True,
                help_text="Raised on a shared phone: the patients using it then, one of whom "
                "the report is from. Their care teams look after the flag until it has a "
                "patient, whatever number each of them uses later, and withdrawn or not.",
                related_name="+",
                to="cohorts.patient",
            ),
        ),
        migrations.RunPython(
            candidates_of_waiting_flags, migrations.RunPython.noop, elidable=False
        ),
    ]
