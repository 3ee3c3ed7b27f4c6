"""A synthetic demo cohort: fake people, fictional 555-01xx numbers, every tier."""

import random
from datetime import date, time, timedelta
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from django.db import transaction
from django.utils import timezone

from cohorts import contacts, services
from cohorts.models import Cohort, Patient, TumourProfile
from notifications.models import ConsentSource, Contact
from scheduling.models import ReminderSeries
from scheduling.services import replan

DEMO_COHORT = "Demo follow-up cohort"
DEMO_SITE = "Demo General Hospital"

# Receptor status and history that put a profile in each risk tier.
PROFILES = {
    "standard": {"er": "positive", "pr": "positive", "her2": "negative"},
    "high": {"er": "negative", "pr": "negative", "her2": "positive"},
    "triple_negative": {"er": "negative", "pr": "negative", "her2": "negative"},
    "unknown_receptors": {"er": "positive", "pr": "unknown", "her2": "unknown"},
    "very_high": {"er": "positive", "pr": "positive", "her2": "negative", "prior_recurrence": True},
    "inflammatory": {
        "er": "negative",
        "pr": "negative",
        "her2": "positive",
        "histology": "inflammatory",
    },
}
FIRST_NAMES = [
    "Alex",
    "Brook",
    "Casey",
    "Dana",
    "Eden",
    "Frankie",
    "Gale",
    "Harper",
    "Indy",
    "Jules",
    "Kit",
    "Lane",
]
TIME_ZONES = ["America/New_York", "America/Chicago", "America/Los_Angeles", "Europe/Madrid"]
# Zones around the world: one of them is always inside SMS sending hours.
DAYTIME_CANDIDATES = [
    "Pacific/Honolulu",
    "America/Los_Angeles",
    "America/Chicago",
    "America/New_York",
    "America/Sao_Paulo",
    "Atlantic/Azores",
    "Europe/London",
    "Europe/Madrid",
    "Europe/Athens",
    "Asia/Dubai",
    "Asia/Kolkata",
    "Asia/Bangkok",
    "Asia/Shanghai",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Pacific/Auckland",
]


def _demo_patient(cohort: Cohort, number: int, rng: random.Random) -> Patient:
    return Patient(
        cohort=cohort,
        first_name=FIRST_NAMES[number % len(FIRST_NAMES)],
        last_name=f"Demo-{number:02d}",
        date_of_birth=date(1950 + rng.randrange(40), rng.randrange(1, 13), rng.randrange(1, 29)),
        mrn=f"DEMO-{number:04d}",
        reminder_time=time(10, 0),
    )


def _demo_phone(number: int) -> dict:
    return {
        "number": f"+1201555{100 + number:04d}",
        "timezone": TIME_ZONES[number % len(TIME_ZONES)],
        "language": "es" if number % 5 == 0 else "en",
        "sms_consent": True,
    }


def _demo_profile(kind: str, rng: random.Random) -> TumourProfile:
    treatment_end = timezone.localdate() - relativedelta(months=rng.randrange(1, 84))
    return TumourProfile(
        treatment_end_date=treatment_end,
        surgery_date=treatment_end - relativedelta(months=6),
        stage=rng.choice(["I", "II", "III"]),
        **{"histology": "ductal", **PROFILES[kind]},
    )


@transaction.atomic
def create_demo_cohort(coordinator, size: int = 36, seed: int = 2026) -> Cohort | None:
    """Create the demo cohort once; returns None when it already exists."""
    cohort, created = Cohort.objects.get_or_create(
        name=DEMO_COHORT,
        site=DEMO_SITE,
        defaults={"timezone": "America/New_York", "country": "US", "subdivision": "NY"},
    )
    cohort.coordinators.add(coordinator)
    if not created:
        return None
    rng = random.Random(seed)
    kinds = list(PROFILES)
    patients = [_demo_patient(cohort, n, rng) for n in range(size)]
    profiles = [_demo_profile(kinds[n % len(kinds)], rng) for n in range(size)]
    contacts.bind(patients, [_demo_phone(n) for n in range(size)], ConsentSource.WRITTEN)
    services.enrol(patients, profiles, by=coordinator)
    return cohort


def daytime_zones(now, first_hour: int = 10, last_hour: int = 19) -> list[str]:
    """Zones whose local hour is now within [first_hour, last_hour]: well inside sending hours."""
    return [
        zone
        for zone in DAYTIME_CANDIDATES
        if first_hour <= now.astimezone(ZoneInfo(zone)).hour <= last_hour
    ]


@transaction.atomic
def bring_reminders_forward(cohort: Cohort, count: int = 4) -> list[Patient]:
    """Make a few demo reminders fall due in the next minutes, at a decent local hour.

    The chosen patients move to a time zone where it is daytime now and are
    re-planned; then their first self-exam reminder is set a minute or two
    ahead, so a newcomer watches the worker send SMS right after start-up.
    """
    now = timezone.now()
    patients = list(
        cohort.patients.select_related("profile", "cohort", "contact").order_by("pk")[:count]
    )
    zone = daytime_zones(now)[0]
    Contact.objects.filter(patients__in=patients).update(timezone=zone)
    for patient in patients:
        patient.contact.timezone = zone
    replan(patients)
    for minutes, patient in enumerate(patients, start=1):
        series = patient.reminder_series.filter(is_active=True).order_by("dtstart").first()
        ReminderSeries.objects.filter(pk=series.pk).update(
            next_due_at=now + timedelta(minutes=minutes)
        )
    return patients
