from django.db import migrations, models


def candidates_of_waiting_flags(apps, schema_editor):
    """A flag still waiting for its patient gets the patients who use its phone now; if
    nobody active does any more (the flag was lost), whoever the patients' history shows
    on that phone up to the message."""
    Flag = apps.get_model("surveillance", "Flag")
    Patient = apps.get_model("cohorts", "Patient")
    History = apps.get_model("cohorts", "HistoricalPatient")
    waiting = Flag.objects.filter(patient__isnull=True, message__isnull=False)
    for flag in waiting.select_related("message").iterator():
        phone = flag.message.contact_id
        sharers = Patient.objects.filter(contact_id=phone, is_active=True)
        if not sharers.exists():
            on_it = History.objects.filter(
                contact_id=phone, history_date__lte=flag.message.created_on
            )
            sharers = Patient.objects.filter(pk__in=on_it.values("id"))
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
