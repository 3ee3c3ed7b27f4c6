"""A number two patients share: STOP stops it; what it says reaches both care teams,
and one coordinator says whose it is in one step."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from notifications import inbound
from notifications.models import Message
from surveillance.models import Flag
from tests.factories import CohortFactory, PatientFactory, UserFactory

pytestmark = [pytest.mark.django_db]

SHARED = "+12015550150"
MESSAGES = "/api/v1/messages/"


@pytest.fixture
def world(alice, bob):
    north = CohortFactory(site="North Hospital", coordinators=[alice])
    south = CohortFactory(site="South Hospital", coordinators=[bob])
    with time_machine.travel("2026-06-01 14:00Z"):
        return {
            "north": PatientFactory(cohort=north, phone=SHARED, tier="high"),
            "south": PatientFactory(cohort=south, phone=SHARED),
        }


def receive(body: str) -> Message:
    message, _ = inbound.store(f"SM{timezone.now().timestamp():.0f}x", SHARED, "+12015550100", body)
    inbound.route(message.pk)
    message.refresh_from_db()
    return message


def test_each_care_team_sees_the_message_with_only_its_own_patient(api, alice, bob, world):
    with time_machine.travel("2026-06-01 15:00Z"):
        message = receive("I found a lump near the scar")

    assert (message.subject, message.routed_as, message.needs_review) == (None, "inbox", True)
    for user, patient in ((alice, world["north"]), (bob, world["south"])):
        [row] = api(user).get(MESSAGES, {"needs_review": "true"}).json()["results"]
        assert (row["id"], row["patient"], row["candidates"]) == (message.pk, None, [patient.pk])


def test_a_coordinator_assigns_it_and_the_flag_counts_from_the_message(api, alice, world):
    with time_machine.travel("2026-06-01 15:00Z"):  # Monday 11:00 in New York
        message = receive("I found a lump near the scar")
    north = world["north"]

    with time_machine.travel("2026-06-02 16:00Z"):  # read a day later
        response = api(alice).post(f"{MESSAGES}{message.pk}/assign/", {"patient": north.pk})

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["patient"], body["routed_as"], body["needs_review"]) == (
        north.pk,
        "questionnaire_started",
        False,
    )
    flag = Flag.objects.get(patient=north)
    assert flag.created_at == message.created_on
    assert flag.review_due_at - message.created_on < timedelta(days=5)  # not from the assignment


def test_only_a_patient_using_the_number_can_be_chosen(api, alice, bob, world):
    message = receive("2")
    other = PatientFactory(cohort=world["north"].cohort, phone="+12015550151")

    not_theirs = api(alice).post(f"{MESSAGES}{message.pk}/assign/", {"patient": other.pk})
    other_cohort = api(bob).post(f"{MESSAGES}{message.pk}/assign/", {"patient": world["north"].pk})

    assert not_theirs.status_code == 400
    assert other_cohort.status_code == 400
    message.refresh_from_db()
    assert message.subject_id is None


def test_a_message_that_already_has_a_patient_is_not_reassigned(api, alice, world):
    message = receive("2")
    api(alice).post(f"{MESSAGES}{message.pk}/assign/", {"patient": world["north"].pk})

    again = api(alice).post(f"{MESSAGES}{message.pk}/assign/", {"patient": world["north"].pk})

    assert again.status_code == 409


def test_stop_from_the_shared_number_stops_both(world):
    receive("STOP")

    for patient in world.values():
        patient.refresh_from_db()
        assert patient.contact.opted_out_at is not None
        assert not patient.can_receive_sms


def test_a_stranger_sees_nothing_of_it(api, world):
    receive("I found a lump")
    stranger = UserFactory(role="coordinator")

    assert api(stranger).get(MESSAGES).json()["results"] == []
