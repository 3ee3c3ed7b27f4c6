"""The development phone simulator: a demo patient's SMS, and their reply through the
webhook's own inbound route."""

import pytest
import time_machine
from django.test import Client

from notifications.models import Message
from surveillance.models import Flag
from tests.factories import PatientFactory

pytestmark = [pytest.mark.django_db]


@time_machine.travel("2026-06-02 14:00Z")
def test_a_reply_from_the_simulated_phone_is_routed_like_a_real_one(alice, cohort_a):
    patient = PatientFactory(cohort=cohort_a, first_name="Ada", tier="very_high")
    client = Client()
    client.force_login(alice)

    page = client.get("/staff/phone/", {"patient": patient.pk})
    response = client.post(f"/staff/phone/{patient.pk}/reply/", {"body": "2"})

    assert page.status_code == 200 and "Ada's phone" in page.content.decode()
    assert response.status_code == 302
    received = Message.objects.get(direction="inbound", patient=patient)
    assert (received.body, received.routed_as) == ("2", "questionnaire_started")
    assert Flag.objects.get(patient=patient).urgency == "urgent"
    conversation = client.get("/staff/phone/", {"patient": patient.pk}).content.decode()
    assert "would like to know more" in conversation  # the first question, sent back


def test_another_cohorts_patient_cannot_be_played(alice, cohort_a, cohort_b):
    stranger = PatientFactory(cohort=cohort_b)
    client = Client()
    client.force_login(alice)

    assert client.post(f"/staff/phone/{stranger.pk}/reply/", {"body": "STOP"}).status_code == 404
    assert not Message.objects.filter(direction="inbound").exists()
