"""A patient who writes has answered their reminders: each series' count starts again.

The due-sweep counts the reminders a series wrote since the patient last wrote
(`ReminderSeries.unanswered`); the Today list shows the patients silent
through SILENT_AFTER of them. Any message from the patient (an answer, a
question, a report) counts as a word back.
"""

from django.contrib.contenttypes.models import ContentType

from cohorts.models import Patient
from notifications import hooks
from notifications.models import Message

from .models import ReminderSeries


def answered(message: Message) -> None:
    if message.subject_type_id != ContentType.objects.get_for_model(Patient).pk:
        return
    ReminderSeries.objects.filter(patient_id=message.subject_id, unanswered__gt=0).update(
        unanswered=0
    )


def register() -> None:
    hooks.listens(answered)
