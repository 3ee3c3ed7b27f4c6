"""Withdrawal from follow-up: reminders stop at once, flags stay for the care team to close."""

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from audit.models import AuditEvent
from cohorts.models import Patient
from notifications.models import Message
from records import withdrawal
from scheduling.models import ReminderSeries, Visit
from scheduling.sweep import sweep
from tests.factories import outbound
from tests.records.helpers import flag_for
from tests.staff.helpers import signed_in

pytestmark = [pytest.mark.django_db]
# Tuesday 2026-06-02, 14:00 UTC (10:00 in New York).
TUESDAY = "2026-06-02 14:00Z"


def withdraw_url(patient) -> str:
    return f"/api/v1/patients/{patient.pk}/withdraw/"


def reloaded(patient) -> Patient:
    return Patient.objects.get(pk=patient.pk)


# --- The service -------------------------------------------------------------------------


@time_machine.travel(TUESDAY)
def test_withdrawal_stops_every_reminder_at_once_and_cancels_what_is_queued(alice, patient):
    booked = patient.visits.filter(status="planned").order_by("due_date").first()
    booked.book(datetime(2026, 6, 20, 14, tzinfo=UTC), "Clinic 2", by=alice)
    routine = outbound(patient)
    reply = outbound(patient, kind="help", is_reply=True)
    assert ReminderSeries.objects.filter(patient=patient, is_active=True).exists()

    withdrawal.withdraw(patient, "moved_away", date(2026, 6, 1), by=alice)

    patient = reloaded(patient)
    assert (patient.is_active, patient.withdrawn_on, patient.withdrawal_reason) == (
        False,
        date(2026, 6, 1),
        "moved_away",
    )
    assert patient.history.filter(history_user=alice, withdrawal_reason="moved_away").exists()
    assert Message.objects.get(pk=routine.pk).status == "cancelled"
    assert Message.objects.get(pk=reply.pk).status == "queued"  # a reply may still go
    assert not ReminderSeries.objects.filter(patient=patient, is_active=True).exists()
    # Visits only planned are dropped; the booked one stays for the care team to cancel.
    assert list(Visit.objects.filter(patient=patient).values_list("pk", flat=True)) == [booked.pk]
    for weeks in (1, 3, 8):
        with time_machine.travel(timezone.now() + timedelta(weeks=weeks)):
            sweep()
    assert not Message.objects.filter(patient=patient).exclude(pk__in=[routine.pk, reply.pk])


@time_machine.travel(TUESDAY)
def test_a_withdrawal_dated_in_the_future_or_for_an_unknown_reason_changes_nothing(patient):
    for reason, on in (("moved_away", date(2026, 6, 3)), ("bored", date(2026, 6, 1))):
        with pytest.raises(ValueError):
            withdrawal.withdraw([patient], reason, on)

    assert reloaded(patient).is_active
    assert ReminderSeries.objects.filter(patient=patient, is_active=True).exists()


@time_machine.travel(TUESDAY)
def test_open_flags_stay_open_and_the_care_team_closes_them_as_withdrawn(api, alice, lead, patient):
    flag = flag_for(patient)
    url = f"/api/v1/flags/{flag.pk}/resolve/"
    # While the patient is followed up, the outcome is refused, and a coordinator resolves nothing.
    assert api(lead).post(url, {"outcome": "patient_withdrawn"}).status_code == 409
    assert api(alice).post(url, {"outcome": "patient_withdrawn"}).status_code == 403

    withdrawal.withdraw(patient, "deceased", date(2026, 6, 2), by=alice)

    flag.refresh_from_db()
    assert flag.status == "open"
    assert api(alice).post(url, {"outcome": "benign"}).status_code == 403  # still clinical
    response = api(alice).post(url, {"outcome": "patient_withdrawn", "note": "Died 1 June."})
    assert response.status_code == 200, response.content
    flag.refresh_from_db()
    assert (flag.status, flag.outcome, flag.resolved_by) == ("resolved", "patient_withdrawn", alice)


# --- The API -----------------------------------------------------------------------------


@time_machine.travel("2026-06-02 02:00Z")  # still 1 June in New York
def test_the_api_withdraws_on_the_sites_today_and_audits_it(api, alice, patient):
    queued = outbound(patient)

    response = api(alice).post(withdraw_url(patient), {"reason": "consent_withdrawn"})

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["is_active"], body["withdrawn_on"], body["withdrawal_reason"]) == (
        False,
        "2026-06-01",
        "consent_withdrawn",
    )
    assert body["erased_at"] is None
    assert Message.objects.get(pk=queued.pk).status == "cancelled"
    [event] = AuditEvent.objects.filter(patient_id=patient.pk, action="update")
    assert (event.user, event.object_type, event.object_id) == (alice, "patient", str(patient.pk))
    assert event.reason == "api:patient-withdraw withdraw"


@time_machine.travel(TUESDAY)
@pytest.mark.parametrize(
    "body",
    [
        {"reason": "bored"},
        {"reason": "deceased", "on": "2026-06-03"},
        {"reason": "deceased", "on": "yesterday"},
        {"on": "2026-06-01"},
        {},
    ],
    ids=["unknown reason", "future date", "not a date", "no reason", "empty"],
)
def test_the_api_refuses_bad_input_and_changes_nothing(api, alice, patient, body):
    queued = outbound(patient)

    response = api(alice).post(withdraw_url(patient), body, format="json")

    assert response.status_code == 400, response.content
    patient = reloaded(patient)
    assert (patient.is_active, patient.withdrawn_on, patient.withdrawal_reason) == (True, None, "")
    assert Message.objects.get(pk=queued.pk).status == "queued"
    assert not AuditEvent.objects.filter(patient_id=patient.pk, action="update").exists()


@time_machine.travel(TUESDAY)
def test_another_cohorts_patient_is_not_found_and_the_probe_is_audited(api, bob, patient):
    response = api(bob).post(withdraw_url(patient), {"reason": "moved_away"})

    assert response.status_code == 404
    assert reloaded(patient).is_active
    [probe] = AuditEvent.objects.filter(action="denied")
    assert (probe.user, probe.patient_id) == (bob, patient.pk)


@time_machine.travel("2026-06-02 02:00Z")
def test_deactivating_through_the_api_records_a_withdrawal_and_reactivating_clears_it(
    api, alice, patient
):
    url = f"/api/v1/patients/{patient.pk}/"
    queued = outbound(patient)

    response = api(alice).patch(url, {"is_active": False}, format="json")

    assert response.status_code == 200, response.content
    assert (response.json()["withdrawn_on"], response.json()["withdrawal_reason"]) == (
        "2026-06-01",
        "other",
    )
    assert Message.objects.get(pk=queued.pk).status == "cancelled"
    assert not ReminderSeries.objects.filter(patient=patient, is_active=True).exists()
    # Read-only: the API's withdrawal fields are not written by a PATCH.
    api(alice).patch(url, {"withdrawal_reason": "deceased"}, format="json")
    assert reloaded(patient).withdrawal_reason == "other"

    response = api(alice).patch(url, {"is_active": True}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["is_active"], body["withdrawn_on"], body["withdrawal_reason"]) == (True, None, "")
    assert ReminderSeries.objects.filter(patient=patient, is_active=True).exists()


@time_machine.travel(TUESDAY)
def test_an_erased_record_cannot_be_reactivated_edited_or_withdrawn_again(api, alice, patient):
    withdrawal.withdraw(patient, "deceased", date(2026, 6, 1))
    erased_at = datetime(2026, 6, 2, 13, tzinfo=UTC)
    Patient.objects.filter(pk=patient.pk).update(erased_at=erased_at)
    url = f"/api/v1/patients/{patient.pk}/"

    for change in ({"is_active": True}, {"first_name": "Ada"}, {"reminder_time": "11:00"}):
        response = api(alice).patch(url, change, format="json")
        assert response.status_code == 400, response.content
        assert "erased" in str(response.json())
    response = api(alice).post(withdraw_url(patient), {"reason": "moved_away"})
    assert response.status_code == 409
    with pytest.raises(withdrawal.WithdrawalRefused):
        withdrawal.withdraw(patient, "moved_away", date(2026, 6, 1))

    patient = reloaded(patient)
    assert (patient.is_active, patient.withdrawal_reason, patient.erased_at) == (
        False,
        "deceased",
        erased_at,
    )
    assert api(alice).get(url).json()["erased_at"] == "2026-06-02T13:00:00Z"


@time_machine.travel(TUESDAY)
def test_an_overdue_visit_is_cancelled_so_no_list_asks_to_book_it(alice, patient):
    overdue = patient.visits.filter(status="planned").order_by("due_date").first()
    Visit.objects.filter(pk=overdue.pk).update(
        due_date=date(2026, 5, 1), window_start=date(2026, 4, 15), window_end=date(2026, 5, 15)
    )

    withdrawal.withdraw(patient, "consent_withdrawn", date(2026, 6, 1), by=alice)

    overdue.refresh_from_db()
    assert overdue.status == "cancelled" and overdue.status_changed_at is not None
    today = signed_in(alice).get("/staff/").content.decode()
    assert f"/staff/patients/{patient.pk}/" not in today
