"""The admin's patient form: the phone's details are edited with the patient.

The contact itself is never picked by id (that would let staff attach a
patient to any number the service knows, in any cohort): the number is typed,
and the contact of that number is found or made, as the API does.
"""

from django import forms

from notifications.models import Language
from notifications.phones import to_e164
from notifications.validators import validate_time_zone

from .models import Patient


class PatientAdminForm(forms.ModelForm):
    phone = forms.CharField(max_length=32, help_text="Mobile number; stored as E.164.")
    timezone = forms.CharField(
        max_length=64, required=False, help_text="IANA zone; the cohort's zone when blank."
    )
    language = forms.ChoiceField(choices=Language.choices, initial=Language.ENGLISH)
    sms_consent = forms.BooleanField(required=False, label="SMS consent")

    class Meta:
        model = Patient
        fields = [
            "cohort",
            "first_name",
            "last_name",
            "date_of_birth",
            "mrn",
            "reminder_time",
            "reminders_paused_until",
            "enrolled_on",
            "is_active",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        contact = self.instance.contact if self.instance.contact_id else None
        if contact is not None:
            for name, value in self.contact_details(contact).items():
                self.fields["phone" if name == "number" else name].initial = value

    @staticmethod
    def contact_details(contact) -> dict:
        return {
            "number": contact.number,
            "timezone": contact.timezone,
            "language": contact.language,
            "sms_consent": contact.sms_consent,
        }

    def clean_phone(self) -> str:
        return to_e164(self.cleaned_data["phone"])

    def clean_timezone(self) -> str:
        zone = self.cleaned_data["timezone"].strip()
        if zone:
            validate_time_zone(zone)
        return zone

    def phone_details(self) -> dict:
        """What `cohorts.contacts.bind` needs from the cleaned form."""
        data = self.cleaned_data
        details = {
            "number": data["phone"],
            "language": data["language"],
            "sms_consent": data["sms_consent"],
        }
        if data["timezone"]:
            details["timezone"] = data["timezone"]
        return details
