"""The staff web's withdrawal: a form on the timeline, scoped and audited like every step."""

from datetime import date

import pytest
import time_machine
from django.test import Client

from audit.models import AuditEvent
from cohorts.models import Patient
from notifications.models import Message
from records import withdrawal
from tests.factories import outbound
from tests.records.helpers import flag_for
from tests.staff.helpers import signed_in

pytestmark = [pytest.mark.django_db]
TUESDAY = "2026-06-02 14:00Z"


def withdraw_url(patient) -> str:
    return f"/staff/patients/{patient.pk}/withdraw/"


@time_machine.travel(TUESDAY)
def test_the_timeline_offers_a_labelled_withdrawal_form(alice, patient):
    page = signed_in(alice).get(f"/staff/patients/{patient.pk}/").content.decode()

    assert f'action="{withdraw_url(patient)}"' in page
    assert '<label for="withdrawal-reason">' in page and 'id="withdrawal-reason"' in page
    assert '<label for="withdrawal-on">' in page and 'id="withdrawal-on"' in page
    assert 'name="csrfmiddlewaretoken"' in page
    assert '<option value="deceased">Deceased</option>' in page


@time_machine.travel(TUESDAY)
def test_a_coordinator_withdraws_a_patient_and_sees_a_notice(alice, patient):
    queued = outbound(patient)

    response = signed_in(alice).post(
        withdraw_url(patient), {"reason": "deceased", "on": "2026-05-30"}, follow=True
    )

    assert response.status_code == 200
    assert response.redirect_chain == [(f"/staff/patients/{patient.pk}/", 302)]
    page = response.content.decode()
    assert "Ada Lovelace is withdrawn from follow-up" in page
    assert "no longer followed up since May 30, 2026 (deceased)" in page
    assert 'action="/staff/patients/' + str(patient.pk) + '/withdraw/"' not in page
    patient = Patient.objects.get(pk=patient.pk)
    assert (patient.is_active, patient.withdrawn_on, patient.withdrawal_reason) == (
        False,
        date(2026, 5, 30),
        "deceased",
    )
    assert Message.objects.get(pk=queued.pk).status == "cancelled"
    assert AuditEvent.objects.filter(
        action="update", user=alice, patient_id=patient.pk, reason="staff:patient-withdraw"
    ).exists()


@time_machine.travel(TUESDAY)
@pytest.mark.parametrize(
    "posted", [{"reason": "bored"}, {"reason": "deceased", "on": "2026-06-09"}, {"on": ""}]
)
def test_a_bad_withdrawal_is_refused_and_changes_nothing(alice, patient, posted):
    response = signed_in(alice).post(withdraw_url(patient), posted)

    assert response.status_code == 400
    assert Patient.objects.get(pk=patient.pk).is_active


@time_machine.travel(TUESDAY)
def test_another_cohorts_patient_cannot_be_withdrawn_from_the_staff_pages(bob, cohort_b, patient):
    response = signed_in(bob).post(withdraw_url(patient), {"reason": "moved_away"})

    assert response.status_code == 404
    assert Patient.objects.get(pk=patient.pk).is_active


@time_machine.travel(TUESDAY)
def test_the_form_needs_its_csrf_token(alice, patient):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)

    assert client.post(withdraw_url(patient), {"reason": "moved_away"}).status_code == 403
    assert Patient.objects.get(pk=patient.pk).is_active


@time_machine.travel(TUESDAY)
def test_a_coordinator_closes_a_withdrawn_patients_flag_from_the_flag_page(alice, patient):
    flag = flag_for(patient)
    client = signed_in(alice)
    # Followed up: resolving is the clinical lead's, and the outcome is not offered.
    assert "patient_withdrawn" not in client.get(f"/staff/flags/{flag.pk}/").content.decode()

    withdrawal.withdraw(patient, "moved_away", date(2026, 6, 1))

    page = client.get(f"/staff/flags/{flag.pk}/").content.decode()
    assert '<option value="patient_withdrawn">Patient withdrawn from follow-up</option>' in page
    assert 'value="benign"' not in page
    assert client.post(f"/staff/flags/{flag.pk}/resolve/", {"outcome": "benign"}).status_code == 403
    response = client.post(f"/staff/flags/{flag.pk}/resolve/", {"outcome": "patient_withdrawn"})
    assert response.status_code == 302
    flag.refresh_from_db()
    assert (flag.status, flag.outcome) == ("resolved", "patient_withdrawn")
