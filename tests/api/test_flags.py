from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from notifications.models import Message
from scheduling.models import Visit
from surveillance import lesions
from surveillance.models import Flag
from tests.factories import PatientFactory, UserFactory

pytestmark = [pytest.mark.django_db]
# Friday 2026-06-05, 14:00 UTC (10:00 in New York).
FRIDAY = "2026-06-05 14:00Z"
RED_FLAGS = {"location": "near_scar", "feel": "firm_lump", "colour": "purple", "itch": "no"}


@pytest.fixture
def lead(cohort_a):
    user = UserFactory(username="lena", role="clinical_lead")
    cohort_a.clinical_leads.add(user)
    return user


@pytest.fixture
def patient(cohort_a):
    cohort_a.timezone = "America/New_York"
    cohort_a.save()
    return PatientFactory(cohort=cohort_a, tier="standard")


@time_machine.travel(FRIDAY, tick=False)
def test_it_turns_a_staff_report_into_an_urgent_flag_due_next_business_day(api, alice, patient):
    response = api(alice).post(
        "/api/v1/lesion-reports/",
        {"patient": patient.pk, "answers": RED_FLAGS, "note": "Called the clinic"},
        format="json",
    )

    assert response.status_code == 201, response.json()
    assert response.json()["channel"] == "staff"
    assert response.json()["complete"] is False
    flag = Flag.objects.get(pk=response.json()["flag"])
    assert flag.urgency == "urgent"
    assert "Firm lump" in flag.reasons
    # Friday 10:00 local + 1 business day = Monday 10:00 local.
    assert flag.review_due_at == datetime(2026, 6, 8, 14, tzinfo=UTC)
    ack = Message.objects.get(kind="report_received", patient=patient)
    assert "within one working day" in ack.body


@pytest.mark.parametrize(
    "answers", [{"location": "moon"}, {"mood": "good"}, ["near_scar"], "near_scar"]
)
def test_it_refuses_unknown_answers_and_writes_nothing(api, alice, patient, answers):
    response = api(alice).post(
        "/api/v1/lesion-reports/", {"patient": patient.pk, "answers": answers}, format="json"
    )

    assert response.status_code == 400
    assert "answers" in response.json()
    assert not Flag.objects.exists()


def test_each_care_team_lists_only_its_own_patients_reports(
    api, alice, bob, lead, admin_user, patient, cohort_b
):
    theirs = PatientFactory(cohort=cohort_b)
    ours = lesions.record_report(patient, "staff", RED_FLAGS).report_id
    other = lesions.record_report(theirs, "staff", RED_FLAGS).report_id

    def listed(user):
        body = api(user).get("/api/v1/lesion-reports/").json()
        return body["count"], {row["id"] for row in body["results"]}

    assert listed(alice) == (1, {ours})
    assert listed(lead) == (1, {ours})
    assert listed(bob) == (1, {other})
    assert listed(admin_user) == (2, {ours, other})


def test_it_refuses_a_report_for_another_cohorts_patient(api, bob, patient):
    response = api(bob).post(
        "/api/v1/lesion-reports/", {"patient": patient.pk, "answers": {}}, format="json"
    )

    assert response.status_code == 400
    assert not Flag.objects.exists()


@time_machine.travel(FRIDAY)
def test_it_walks_a_flag_through_acknowledge_and_resolve(api, alice, lead, patient):
    flag = lesions.record_report(patient, "staff", {"itch": "yes"})

    acknowledged = api(alice).post(f"/api/v1/flags/{flag.pk}/acknowledge/")
    by_coordinator = api(alice).post(f"/api/v1/flags/{flag.pk}/resolve/", {"outcome": "benign"})
    resolved = api(lead).post(f"/api/v1/flags/{flag.pk}/resolve/", {"outcome": "benign"})
    again = api(lead).post(f"/api/v1/flags/{flag.pk}/resolve/", {"outcome": "biopsy_ordered"})

    assert acknowledged.json()["status"] == "acknowledged"
    assert by_coordinator.status_code == 403
    assert resolved.json()["status"] == "resolved"
    assert resolved.json()["outcome"] == "benign"
    assert again.status_code == 409
    flag.refresh_from_db()
    assert (flag.outcome, flag.resolved_by, flag.acknowledged_by) == ("benign", lead, alice)


def test_it_refuses_an_unknown_outcome(api, lead, patient):
    flag = lesions.record_report(patient, "staff", {})

    response = api(lead).post(f"/api/v1/flags/{flag.pk}/resolve/", {"outcome": "cured"})

    assert response.status_code == 400
    flag.refresh_from_db()
    assert flag.status == "open"


def test_it_hides_flags_of_other_cohorts(api, bob, patient):
    flag = lesions.record_report(patient, "staff", {})

    assert api(bob).get(f"/api/v1/flags/{flag.pk}/").status_code == 404
    assert api(bob).post(f"/api/v1/flags/{flag.pk}/acknowledge/").status_code == 404
    assert api(bob).get("/api/v1/flags/").json()["count"] == 0


def test_it_re_plans_a_patient_when_a_recurrence_is_confirmed(api, lead, patient):
    flag = lesions.record_report(patient, "staff", {})

    api(lead).post(
        f"/api/v1/flags/{flag.pk}/resolve/", {"outcome": "cutaneous_recurrence_confirmed"}
    )

    patient.refresh_from_db()
    assert patient.profile.prior_recurrence is True
    assert patient.risk_tier == "very_high"
    weekly = patient.reminder_series.filter(
        is_active=True, rule__startswith="FREQ=WEEKLY;INTERVAL=1"
    )
    assert weekly.exists()


@time_machine.travel(FRIDAY)
def test_it_books_an_urgent_visit_in_one_click_and_tells_the_patient(api, alice, lead, patient):
    flag = lesions.record_report(patient, "staff", RED_FLAGS)
    when = timezone.now() + timedelta(days=1)

    visit = api(alice).post(
        f"/api/v1/flags/{flag.pk}/urgent-visit/",
        {"booked_at": when.isoformat(), "location": "Clinic 4"},
    )
    api(lead).post(f"/api/v1/flags/{flag.pk}/resolve/", {"outcome": "urgent_visit_booked"})

    assert visit.status_code == 201
    assert (visit.json()["kind"], visit.json()["status"]) == ("urgent", "booked")
    booked = Message.objects.get(kind="visit_booked", patient=patient)
    assert "2026-06-06 at 10:00, Clinic 4" in booked.body


@time_machine.travel(FRIDAY)
def test_a_flag_gets_a_new_urgent_visit_once_its_first_was_cancelled(api, alice, patient):
    flag = lesions.record_report(patient, "staff", RED_FLAGS)
    first = lesions.add_urgent_visit(flag, alice, timezone.now() + timedelta(days=1))
    first.cancel(by=alice, note="Cannot come on Saturday")  # the patient rang
    when = timezone.now() + timedelta(days=3)

    again = api(alice).post(
        f"/api/v1/flags/{flag.pk}/urgent-visit/", {"booked_at": when.isoformat()}
    )

    assert again.status_code == 201
    assert again.json()["id"] != first.pk
    assert (again.json()["kind"], again.json()["status"]) == ("urgent", "booked")
    flag.refresh_from_db()
    assert flag.urgent_visit_id == again.json()["id"]
    assert Visit.objects.get(pk=first.pk).status == "cancelled"  # kept, as it was


@time_machine.travel(FRIDAY)
def test_asking_again_with_a_time_books_the_urgent_visit_still_to_come(api, alice, patient):
    flag = lesions.record_report(patient, "staff", RED_FLAGS)
    unbooked = lesions.add_urgent_visit(flag, alice)  # one click, no time yet
    when = timezone.now() + timedelta(days=2)

    booked = api(alice).post(
        f"/api/v1/flags/{flag.pk}/urgent-visit/",
        {"booked_at": when.isoformat(), "location": "Clinic 4"},
    )
    again = api(alice).post(f"/api/v1/flags/{flag.pk}/urgent-visit/")

    assert booked.json()["id"] == again.json()["id"] == unbooked.pk
    assert booked.json()["status"] == again.json()["status"] == "booked"
    assert Visit.objects.get(pk=unbooked.pk).location == "Clinic 4"


@time_machine.travel(FRIDAY)
def test_it_filters_overdue_flags(api, alice, patient):
    with time_machine.travel("2026-06-01 14:00Z"):
        old = lesions.record_report(patient, "staff", {})
    lesions.record_report(patient, "staff", {})

    overdue = api(alice).get("/api/v1/flags/", {"overdue": "true"}).json()

    assert [f["id"] for f in overdue["results"]] == [old.pk]
    assert overdue["results"][0]["overdue"] is True


@time_machine.travel(FRIDAY)
def test_it_counts_what_needs_attention_on_the_dashboard(api, alice, bob, patient):
    with time_machine.travel("2026-06-01 14:00Z"):
        lesions.record_report(patient, "staff", {})
    lesions.record_report(patient, "staff", RED_FLAGS)

    mine = api(alice).get("/api/v1/dashboard/").json()
    theirs = api(bob).get("/api/v1/dashboard/").json()

    assert mine["totals"]["flags_open"] == 2
    assert mine["totals"]["flags_overdue"] == 1
    assert mine["totals"]["flags_urgent_open"] == 1
    assert mine["totals"]["patients"] == 1
    assert theirs["totals"]["flags_open"] == 0


def test_the_dashboards_figures_are_kept_a_minute_and_fresh_counts_again(api, alice, patient):
    client = api(alice)
    with time_machine.travel("2026-06-05 14:00Z", tick=False):
        first = client.get("/api/v1/dashboard/").json()
        lesions.record_report(patient, "staff", RED_FLAGS)
        kept = client.get("/api/v1/dashboard/").json()
        fresh = client.get("/api/v1/dashboard/?fresh=1").json()
    with time_machine.travel("2026-06-05 14:01:01Z", tick=False):
        later = client.get("/api/v1/dashboard/").json()

    assert first["totals"]["flags_open"] == kept["totals"]["flags_open"] == 0
    assert kept["generated_at"] == first["generated_at"]  # it says when it was counted
    assert fresh["totals"]["flags_open"] == later["totals"]["flags_open"] == 1
    assert later["generated_at"].startswith("2026-06-05T14:01:01")
