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


# The appointment of the visits below (now + 3 days) as the change page shows it, sent back.
SHOWN_BOOKING = {"booked_at_0": "2026-06-04", "booked_at_1": "14:00:00"}


@time_machine.travel("2026-06-01 14:00Z", tick=False)
@pytest.mark.parametrize("step", ["complete", "cancel"])
def test_a_done_visits_place_is_refused_with_a_message_and_nothing_changes(client, visit, step):
    visit.book(timezone.now() + timedelta(days=3), location="Room 2")
    getattr(visit, step)(note="as planned")

    response = post_change(client, visit, **SHOWN_BOOKING, location="Room 9", note="moved")

    assert response.status_code == 200
    page = response.content.decode()
    assert f"A {visit.status} visit cannot be booked again" in page
    visit.refresh_from_db()
    assert (visit.status, visit.location, visit.note) == (visit.status, "Room 2", "as planned")
    assert visit.status in (Visit.Status.COMPLETED, Visit.Status.CANCELLED)


@time_machine.travel("2026-06-01 14:00Z", tick=False)
def test_a_missed_visit_is_not_booked_again_at_its_old_time_by_a_new_place(client, visit):
    visit.book(timezone.now() + timedelta(days=3), location="Room 2")
    visit.miss(note="did not come")

    response = post_change(client, visit, **SHOWN_BOOKING, location="Room 9")

    assert response.status_code == 200
    assert "A missed visit is booked again at a new time" in response.content.decode()
    visit.refresh_from_db()
    assert (visit.status, visit.location) == (Visit.Status.MISSED, "Room 2")


@time_machine.travel("2026-06-01 14:00Z", tick=False)
@pytest.mark.parametrize("step", ["complete", "cancel"])
def test_a_done_visits_note_is_edited_without_a_transition(client, visit, step):
    visit.book(timezone.now() + timedelta(days=3), location="Room 2")
    getattr(visit, step)()
    visit.refresh_from_db()
    status, changed_at, booked_at = visit.status, visit.status_changed_at, visit.booked_at

    note = "The patient brought her imaging report."
    response = post_change(client, visit, **SHOWN_BOOKING, note=note)

    assert response.status_code == 302, response.content[:2000]
    visit.refresh_from_db()
    assert visit.note == note
    assert (visit.status, visit.status_changed_at, visit.booked_at, visit.location) == (
        status,
        changed_at,
        booked_at,
        "Room 2",
    )
