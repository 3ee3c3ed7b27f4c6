"""Test data builders. Patients are enrolled through the real service, so
every factory-built patient is assessed and planned like a real one."""

from datetime import date, time

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from cohorts import contacts, services
from cohorts.models import Cohort, Patient, TumourProfile
from notifications.models import Contact, Message
from surveillance.demo import PROFILES

# A complete lesion report with no red flag: routine, so no urgent alert is queued.
ROUTINE_ANSWERS = {
    "location": "elsewhere",
    "onset": "gradual",
    "feel": "flat",
    "colour": "pink",
    "itch": "yes",
    "pain": "no",
    "bleeding": "no",
    "count": "one",
    "duration": "under_two_weeks",
}


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.invalid")

    @factory.post_generation
    def role(user, create, extracted, **kwargs):
        if extracted:
            user.groups.add(Group.objects.get_or_create(name=extracted)[0])


class CohortFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Cohort
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Cohort {n}")
    site = "General Hospital"
    timezone = "UTC"
    country = "US"

    @factory.post_generation
    def coordinators(cohort, create, extracted, **kwargs):
        cohort.coordinators.add(*(extracted or []))

    @factory.post_generation
    def clinical_leads(cohort, create, extracted, **kwargs):
        cohort.clinical_leads.add(*(extracted or []))


class PatientFactory(factory.django.DjangoModelFactory):
    """`PatientFactory(tier="high", treatment_end_date=...)` enrols a planned patient."""

    class Meta:
        model = Patient

    cohort = factory.SubFactory(CohortFactory)
    first_name = factory.Sequence(lambda n: f"Test{n}")
    last_name = "Patient"
    date_of_birth = date(1970, 5, 17)
    mrn = factory.Sequence(lambda n: f"MRN{n:06d}")
    phone = factory.Sequence(lambda n: f"+1201555{n % 100 + 100:04d}")  # fictional 555-01xx
    timezone = "America/New_York"
    language = "en"
    reminder_time = time(10, 0)
    sms_consent = True
    enrolled_on = date(2026, 2, 1)
    # Tumour profile, popped in _create:
    tier = "standard"
    treatment_end_date = date(2026, 1, 15)
    histology = "ductal"

    @classmethod
    def _create(cls, model_class, *args, tier, treatment_end_date, histology, **kwargs):
        """The phone's details go to its contact, as the API and the import do."""
        phone = {"number": kwargs.pop("phone")}
        phone.update((key, kwargs.pop(key)) for key in contacts.DETAILS if key in kwargs)
        patient = model_class(*args, **kwargs)
        profile = TumourProfile(
            treatment_end_date=treatment_end_date, histology=histology, **PROFILES[tier]
        )
        contacts.bind([patient], [phone])
        services.enrol([patient], [profile])
        return patient


# The patient API's names of what lives on the phone's contact.
CONTACT_FIELDS = {
    "phone": "number",
    "timezone": "timezone",
    "language": "language",
    "sms_consent": "sms_consent",
    "sms_consent_at": "sms_consent_at",
    "sms_opted_out_at": "opted_out_at",
    "phone_invalid_at": "invalid_at",
    "phone_invalid_reason": "invalid_reason",
}


def change_patient(patient, **fields) -> None:
    """Update a patient in the database, by the API's field names, without the workflow."""
    on_contact = {
        CONTACT_FIELDS[key]: fields.pop(key) for key in list(fields) if key in CONTACT_FIELDS
    }
    if on_contact:
        Contact.objects.filter(pk=patient.contact_id).update(**on_contact)
    if fields:
        Patient.objects.filter(pk=patient.pk).update(**fields)


STAFF_PASSWORD = "a-long-enough-passphrase"


def with_password(user):
    """The user, able to sign in with STAFF_PASSWORD."""
    user.set_password(STAFF_PASSWORD)
    user.save()
    return user


def outbound(patient, **fields) -> Message:
    """A message to the patient, queued now unless `fields` say otherwise."""
    values = {
        "direction": "outbound",
        "kind": "self_exam",
        "body": "Your care team: time for your skin self-check.",
        "to_number": patient.phone,
        "status": "queued",
        "send_after": timezone.now(),
    }
    return Message.objects.create(subject=patient, contact=patient.contact, **{**values, **fields})


def waiting_inbound(patient, body: str = "A question") -> Message:
    """An unsaved inbound message from the patient that nobody could route: for the
    staff's lists, many at once (`bulk_create`)."""
    return Message(
        subject=patient,
        contact=patient.contact,
        direction="inbound",
        kind="inbound",
        body=body,
        from_number=patient.phone,
        to_number="+12015550100",
        status="received",
        needs_review=True,
    )
