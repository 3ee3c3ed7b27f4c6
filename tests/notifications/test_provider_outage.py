"""A provider outage holds sending instead of failing messages; a probe finds it healed and
the outbox drains in order, each message sent once. Through the real `twilio` SDK against
the fake Twilio, stopped and restarted."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from notifications import circuit, dispatch
from notifications.models import Message
from tests.factories import PatientFactory, UserFactory
from tests.notifications.test_twilio_dispatch import queue, to
from tests.staff.helpers import signed_in

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def patients():
    return [PatientFactory(tier="high", timezone="America/New_York") for _ in range(8)]


def dispatch_due(ids) -> list[str]:
    """What a dispatcher does with each message whose time has come, in due order."""
    due = Message.objects.filter(pk__in=ids, status="queued", send_after__lte=timezone.now())
    return [
        dispatch.send(pk) for pk in due.order_by("send_after", "pk").values_list("pk", flat=True)
    ]


def test_an_outage_holds_sending_without_failing_anything_then_drains_once(fake, clock, patients):
    ids = [queue(patient).pk for patient in patients]
    fake.stop()

    first = dispatch_due(ids)

    assert first[: circuit.FAILURES_TO_OPEN] == ["retry"] * circuit.FAILURES_TO_OPEN
    assert set(first[circuit.FAILURES_TO_OPEN :]) == {"held: provider outage"}
    held = Message.objects.filter(pk__in=ids)
    assert set(held.values_list("status", flat=True)) == {"queued"}
    assert set(held.values_list("attempts", flat=True)) == {0}
    assert circuit.status()["outage"] is True
    health = APIClient().get("/healthz").json()
    assert health["sms_provider"]["outage"] is True and health["status"] == "ok"

    # Ten minutes of outage: only one probe per cool-off reaches for the provider.
    probes = 0
    for _ in range(20):
        clock.shift(timedelta(seconds=30))
        results = dispatch_due(ids)
        probes += results.count("retry")
    assert 0 < probes <= 6
    assert set(Message.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"queued"}

    fake.restart()
    for _ in range(20):
        if not Message.objects.filter(pk__in=ids, status="queued").exists():
            break
        clock.shift(timedelta(seconds=30))
        dispatch_due(ids)

    sent = Message.objects.filter(pk__in=ids)
    assert set(sent.values_list("status", flat=True)) == {"sent"}
    assert set(sent.values_list("attempts", flat=True)) == {1}
    for patient in patients:
        assert len(to(fake, patient.phone)) == 1
    assert circuit.status()["outage"] is False


def test_the_dashboard_shows_the_outage(fake, clock, patients):
    ids = [queue(patient).pk for patient in patients]
    fake.stop()
    dispatch_due(ids)
    admin = UserFactory(role="admin")
    client = APIClient()
    client.force_authenticate(admin)

    body = client.get("/api/v1/dashboard/").json()

    assert body["sms_provider"]["outage"] is True
    assert body["sms_provider"]["since"] is not None


def test_the_staff_dashboard_shows_the_outage(fake, clock, patients):
    admin = UserFactory(role="admin")
    banner = "SMS sending is held: the provider has been unreachable since"
    assert banner not in signed_in(admin).get("/staff/dashboard/").content.decode()
    ids = [queue(patient).pk for patient in patients]
    fake.stop()
    dispatch_due(ids)

    page = signed_in(admin).get("/staff/dashboard/")

    assert page.status_code == 200
    html = page.content.decode()
    assert banner in html
    assert 'role="alert"' in html[: html.index(banner)].rsplit("<p", 1)[-1]


def test_an_answer_from_the_provider_is_no_outage(fake, clock, patients):
    ids = [queue(patient).pk for patient in patients]
    fake.fault_rate(1.0, kinds=["rate_limit"])

    results = dispatch_due(ids)

    assert results == ["retry"] * len(ids)  # 429 is the provider answering: keep trying
    assert circuit.status()["outage"] is False
