"""The visit admin obeys the workflow: a booking records who and when and plans its
reminders; a status is never a free field."""

from datetime import date, timedelta

import pytest
import time_machine
from django.contrib.admin.utils import quote
from django.urls import reverse
from django.utils import timezone

from scheduling.models import Visit
from tests.admin_pages import form_data
from tests.factories import PatientFactory, UserFactory

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def coordinator(client):
    user = UserFactory(role="coordinator", is_staff=True)
    client.force_login(user)
    return user


@pytest.fixture
def visit(coordinator):
    patient = PatientFactory(tier="high", treatment_end_date=date(2026, 5, 1))
    patient.cohort.coordinators.add(coordinator)
    return patient.visits.filter(kind="clinic").order_by("due_date").first()


def change_url(visit) -> str:
    return reverse("admin:scheduling_visit_change", args=[quote(visit.pk)])


def post_change(client, visit, **changes):
    data = form_data(client.get(change_url(visit)))
    data.update(changes)
    return client.post(change_url(visit), data)


@time_machine.travel("2026-06-01 14:00Z", tick=False)
def test_booking_in_the_admin_goes_through_the_workflow(client, coordinator, visit):
    response = post_change(
        client, visit, booked_at_0="2026-07-20", booked_at_1="10:30:00", location="Room 2"
    )

    assert response.status_code == 302, response.content[:2000]
    visit.refresh_from_db()
    assert (visit.status, visit.status_changed_by) == (Visit.Status.BOOKED, coordinator)
    assert visit.status_changed_at == timezone.now()
    assert visit.next_reminder_at == visit.booked_at - timedelta(days=7)


@time_machine.travel("2026-06-01 14:00Z", tick=False)
def test_a_status_posted_to_the_admin_is_ignored(client, visit):
    visit.complete()

    post_change(client, visit, status="planned", note="seen")

    visit.refresh_from_db()
    assert (visit.status, visit.note) == (Visit.Status.COMPLETED, "seen")


@time_machine.travel("2026-06-01 14:00Z", tick=False)
def test_a_completed_visit_cannot_be_booked_in_the_admin(client, visit):
    visit.complete()

    response = post_change(client, visit, booked_at_0="2026-07-20", booked_at_1="10:30:00")

    assert response.status_code == 200
    assert "A completed visit cannot be booked." in response.content.decode()
    visit.refresh_from_db()
    assert (visit.status, visit.booked_at) == (Visit.Status.COMPLETED, None)


@time_machine.travel("2026-06-01 14:00Z", tick=False)
def test_the_admin_actions_move_visits_through_the_workflow(client, coordinator, visit):
    client.post(
        reverse("admin:scheduling_visit_changelist"),
        {"action": "mark_missed", "_selected_action": [visit.pk]},
    )

    visit.refresh_from_db()
    assert (visit.status, visit.status_changed_by) == (Visit.Status.MISSED, coordinator)
