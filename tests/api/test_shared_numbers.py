"""A number two patients share: STOP stops it; what it says reaches both care teams,
a lesion report is a flag at once, and one coordinator says whose it is in one step."""

import importlib
from datetime import timedelta

import pytest
import time_machine
from django.apps import apps
from django.core import mail
from django.db import connection
from django.utils import timezone

from notifications import inbound
from notifications.models import Message
from records import withdrawal
from surveillance import alerts, escalation, lesions
from surveillance.models import Flag, Questionnaire
from tests.factories import CohortFactory, PatientFactory, UserFactory

pytestmark = [pytest.mark.django_db]
candidates_migration = importlib.import_module("surveillance.migrations.0003_flag_candidates")

SHARED = "+12015550150"
RED_FLAGS = {"location": "near_scar", "feel": "firm_lump", "colour": "purple", "itch": "no"}
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

    assert (message.subject, message.needs_review) == (None, True)
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


FLAGS = "/api/v1/flags/"


def test_a_lesion_report_is_a_flag_before_anyone_says_whose(api, alice, bob, world):
    with time_machine.travel("2026-06-01 15:00Z"):  # Monday 11:00 in New York
        message = receive("I found a lump near the scar")

    flag = Flag.objects.get(message=message)
    assert (flag.patient, flag.report, flag.status) == (None, None, Flag.Status.OPEN)
    assert message.routed_as == "shared_phone_flag"
    assert flag.created_at == message.created_on
    assert flag.review_due_at - message.created_on < timedelta(days=5)
    for user, patient in ((alice, world["north"]), (bob, world["south"])):
        [row] = api(user).get(FLAGS, {"unassigned": "true"}).json()["results"]
        assert (row["id"], row["patient"], row["message"]) == (flag.pk, None, message.pk)
        assert row["candidates"] == [patient.pk]


def test_words_that_are_not_a_report_raise_no_flag(world):
    message = receive("Can I change my appointment?")

    assert (message.routed_as, message.needs_review) == ("inbox", True)
    assert not Flag.objects.exists()


def test_a_very_high_risk_patient_on_the_phone_makes_it_urgent_and_both_teams_are_alerted(
    alice, bob, world
):
    PatientFactory(cohort=world["south"].cohort, phone=SHARED, tier="very_high")

    message = receive("2")
    flag = Flag.objects.get(message=message)
    alerts.alert_urgent(flag.pk)

    assert flag.urgency == Flag.Urgency.URGENT
    assert "Very-high-risk patient: every report is urgent" in flag.reasons
    [email] = mail.outbox
    assert sorted(email.to) == [alice.email, bob.email]


def test_assigning_the_flag_gives_it_the_patients_report_and_keeps_its_clock(api, alice, world):
    PatientFactory(cohort=world["north"].cohort, phone=SHARED, tier="very_high")
    with time_machine.travel("2026-06-01 15:00Z"):
        message = receive("It's a new spot and it is bleeding")
    flag = Flag.objects.get(message=message)
    due = flag.review_due_at
    north = world["north"]

    with time_machine.travel("2026-06-01 18:00Z"):
        response = api(alice).post(f"{FLAGS}{flag.pk}/assign/", {"patient": north.pk})

    assert response.status_code == 200, response.content
    assert (response.json()["patient"], response.json()["candidates"]) == (north.pk, [])
    flag.refresh_from_db()
    message.refresh_from_db()
    assert (flag.patient, flag.report.patient, message.subject) == (north, north, north)
    assert (flag.urgency, flag.review_due_at) == (Flag.Urgency.URGENT, due)
    assert "Patient's words: bleeding or an open sore" in flag.reasons
    assert (message.routed_as, message.needs_review) == ("questionnaire_started", False)
    assert Questionnaire.objects.get(patient=north).report == flag.report
    assert Flag.objects.count() == 1


def test_urgency_raised_by_a_phone_mate_does_not_fall_on_assignment(api, alice, world):
    PatientFactory(cohort=world["north"].cohort, phone=SHARED, tier="very_high")
    flag = Flag.objects.get(message=receive("2"))

    api(alice).post(f"{FLAGS}{flag.pk}/assign/", {"patient": world["north"].pk})

    flag.refresh_from_db()
    assert flag.urgency == Flag.Urgency.URGENT
    assert "Very-high-risk patient: every report is urgent" in flag.reasons


def test_a_patient_already_answering_questions_gets_the_message_as_a_report_of_its_own(
    api, alice, world
):
    north = world["north"]
    message = receive("I have a rash")
    flag = Flag.objects.get(message=message)
    # Meanwhile north is answering questions about an earlier report.
    Questionnaire.objects.create(patient=north, expires_at=timezone.now() + timedelta(hours=4))

    response = api(alice).post(f"{FLAGS}{flag.pk}/assign/", {"patient": north.pk})

    assert response.status_code == 200, response.content
    flag.refresh_from_db()
    assert (flag.patient, flag.report.note) == (north, "I have a rash")
    message.refresh_from_db()
    assert message.routed_as == "report_from_shared_phone"


def test_a_waiting_flag_is_acknowledged_but_resolved_only_once_assigned(api, admin_user, world):
    flag = Flag.objects.get(message=receive("2"))

    acknowledged = api(admin_user).post(f"{FLAGS}{flag.pk}/acknowledge/")
    resolved = api(admin_user).post(f"{FLAGS}{flag.pk}/resolve/", {"outcome": "benign"})
    visit = api(admin_user).post(f"{FLAGS}{flag.pk}/urgent-visit/")

    assert acknowledged.status_code == 200
    assert (resolved.status_code, visit.status_code) == (409, 409)
    assert "assign" in resolved.json()["detail"]


def test_an_overdue_waiting_flag_escalates_to_both_care_teams(alice, bob, world):
    with time_machine.travel("2026-06-01 15:00Z"):
        flag = Flag.objects.get(message=receive("2"))

    with time_machine.travel("2026-06-20 15:00Z"):
        counts = escalation.escalate_overdue(timezone.now())

    assert counts["coordinators"] == 1
    overdue = [email for email in mail.outbox if "Overdue review" in email.subject]
    assert sorted(overdue[0].to) == [alice.email, bob.email]
    assert f"flag #{flag.pk}" in overdue[0].subject


def test_the_dashboard_counts_a_waiting_flag_in_each_cohort_using_the_phone(api, alice, world):
    receive("2")

    body = api(alice).get("/api/v1/dashboard/").json()

    [row] = body["cohorts"]
    assert (row["flags_open"], body["totals"]["flags_open"]) == (1, 1)


def test_a_stranger_sees_no_waiting_flag(api, world):
    receive("I found a lump")
    stranger = UserFactory(role="coordinator")

    assert api(stranger).get(FLAGS).json()["results"] == []


def test_the_flag_list_counts_and_pages_its_two_parts_as_one(api, alice, bob, admin_user, world):
    """The patients' flags, and a flag waiting on the shared phone: two parts of one list
    (surveillance.care_teams.cohort_parts), in order of their deadlines."""
    north_only = PatientFactory(cohort=world["north"].cohort, phone="+12015550151")
    with time_machine.travel("2026-06-01 15:00Z"):
        waiting = Flag.objects.get(message=receive("I found a lump near the scar"))
    with time_machine.travel("2026-06-08 15:00Z"):
        later = lesions.record_report(north_only, "staff", RED_FLAGS)
    with time_machine.travel("2026-05-29 15:00Z"):
        sooner = lesions.record_report(north_only, "staff", RED_FLAGS)

    statements = []
    with connection.execute_wrapper(lambda run, sql, *a: statements.append(sql) or run(sql, *a)):
        body = api(alice).get(FLAGS).json()

    assert sum("COUNT(" in sql for sql in statements) == 2, "each part counted on its own"
    assert body["count"] == 3
    assert [row["id"] for row in body["results"]] == [sooner.pk, waiting.pk, later.pk]
    assert [row["id"] for row in api(bob).get(FLAGS).json()["results"]] == [waiting.pk]
    assert api(admin_user).get(FLAGS).json()["count"] == 3
    assert api(alice).get(FLAGS, {"unassigned": "false"}).json()["count"] == 2


def test_a_waiting_flag_stays_with_its_care_teams_once_the_phone_is_no_longer_shared(
    api, alice, bob, admin_user, world
):
    """Each patient gets a number of their own after the report came: it is still one of
    theirs, and still to be said whose."""
    with time_machine.travel("2026-06-01 15:00Z"):
        flag = Flag.objects.get(message=receive("I found a lump near the scar"))
    north, south = world["north"], world["south"]

    with time_machine.travel("2026-06-01 16:00Z"):
        for user, patient, phone in ((alice, north, "+12015550161"), (bob, south, "+12015550162")):
            moved = api(user).patch(f"/api/v1/patients/{patient.pk}/", {"phone": phone})
            assert moved.status_code == 200, moved.content
        seen = {
            user.username: [
                (row["id"], row["candidates"]) for row in api(user).get(FLAGS).json()["results"]
            ]
            for user in (alice, bob, admin_user)
        }
        assigned = api(alice).post(f"{FLAGS}{flag.pk}/assign/", {"patient": north.pk})

    assert seen == {
        alice.username: [(flag.pk, [north.pk])],
        bob.username: [(flag.pk, [south.pk])],
        admin_user.username: [(flag.pk, [north.pk, south.pk])],
    }
    assert assigned.status_code == 200, assigned.content
    flag.refresh_from_db()
    assert (flag.patient, flag.report.patient) == (north, north)


def test_a_waiting_flag_whose_patients_all_left_is_assigned_and_closed(api, admin_user, world):
    with time_machine.travel("2026-06-01 15:00Z"):
        flag = Flag.objects.get(message=receive("I found a lump near the scar"))
    north = world["north"]

    with time_machine.travel("2026-06-02 15:00Z"):
        withdrawal.withdraw([north, world["south"]], "moved_away", timezone.localdate())
        [row] = api(admin_user).get(FLAGS).json()["results"]
        assigned = api(admin_user).post(f"{FLAGS}{flag.pk}/assign/", {"patient": north.pk})
        closed = api(admin_user).post(
            f"{FLAGS}{flag.pk}/resolve/", {"outcome": "patient_withdrawn"}
        )

    assert (row["id"], row["candidates"]) == (flag.pk, [north.pk, world["south"].pk])
    assert (assigned.status_code, closed.status_code) == (200, 200), closed.content
    flag.refresh_from_db()
    assert (flag.patient, flag.status, flag.outcome) == (north, "resolved", "patient_withdrawn")


def test_the_migration_gives_a_waiting_flag_its_phones_patients_as_candidates(world):
    """Flags raised before `Flag.candidates` existed: the patients on the phone now."""
    flag = Flag.objects.get(message=receive("I found a lump near the scar"))
    flag.candidates.clear()
    PatientFactory(cohort=world["north"].cohort, phone=SHARED, is_active=False)

    candidates_migration.candidates_of_waiting_flags(apps, None)

    assert set(flag.candidates.all()) == {world["north"], world["south"]}


def test_the_migration_finds_a_lost_flags_patients_in_their_history(api, admin_user, world):
    """A flag lost before the migration (both had new numbers): the history says who used
    the phone when the message came."""
    with time_machine.travel("2026-06-01 15:00Z"):
        flag = Flag.objects.get(message=receive("I found a lump near the scar"))
    with time_machine.travel("2026-06-01 16:00Z"):
        for patient, phone in ((world["north"], "+12015550161"), (world["south"], "+12015550162")):
            moved = api(admin_user).patch(f"/api/v1/patients/{patient.pk}/", {"phone": phone})
            assert moved.status_code == 200, moved.content
    flag.candidates.clear()

    candidates_migration.candidates_of_waiting_flags(apps, None)

    assert set(flag.candidates.all()) == {world["north"], world["south"]}
