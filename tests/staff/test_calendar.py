"""The follow-up calendar: what each day holds, a day's clinic booked in one go."""

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine

from audit.models import AuditEvent
from scheduling.models import Visit
from tests.factories import CohortFactory, PatientFactory
from tests.staff.helpers import signed_in

pytestmark = [pytest.mark.django_db]
TUESDAY = "2026-06-02 14:00Z"
CLINIC_DAY = date(2026, 6, 4)


@pytest.fixture
def due_on_clinic_day(cohort_a):
    """Three patients of cohort A whose next visit is due on the clinic day."""
    cohort_a.timezone = "America/New_York"
    cohort_a.save()
    visits = []
    for name in ("Ames", "Baker", "Chen"):
        patient = PatientFactory(cohort=cohort_a, last_name=name, tier="high")
        visit = patient.visits.filter(status="planned").order_by("due_date").first()
        visit.window_start, visit.due_date = CLINIC_DAY - timedelta(days=14), CLINIC_DAY
        visit.window_end = CLINIC_DAY + timedelta(days=14)
        visit.save()
        visits.append(visit)
    return visits


@time_machine.travel(TUESDAY)
def test_the_week_shows_my_due_and_booked_visits_only_and_is_audited(
    alice, due_on_clinic_day, cohort_b
):
    other = PatientFactory(cohort=cohort_b, last_name="Elsewhere")
    theirs = other.visits.filter(status="planned").order_by("due_date").first()
    Visit.objects.filter(pk=theirs.pk).update(due_date=CLINIC_DAY, window_start=CLINIC_DAY)
    booked = due_on_clinic_day[0]
    booked.book(datetime(2026, 6, 3, 14, tzinfo=UTC), by=alice)

    response = signed_in(alice).get("/staff/calendar/", {"start": "2026-06-02"})

    page = response.content.decode()
    assert response.status_code == 200
    assert "10:00" in page  # the booked visit, at the site's time
    for visit in due_on_clinic_day[1:]:
        assert f"/staff/patients/{visit.patient_id}/" in page
    assert f"/staff/patients/{other.pk}/" not in page
    listed = AuditEvent.objects.get(action="list", reason="calendar")
    assert set(listed.patient_ids) == {v.patient_id for v in due_on_clinic_day}


@time_machine.travel(TUESDAY)
def test_the_month_counts_each_days_visits_and_a_tier_filter_narrows_them(alice, due_on_clinic_day):
    due_on_clinic_day[0].book(datetime(2026, 6, 4, 23, 30, tzinfo=UTC), by=alice)  # 19:30 local

    def day_cell(response, day: str) -> str:
        page = response.content.decode()
        return page.split(f'href="/staff/calendar/{day}/"')[1].split("</td>")[0]

    month = signed_in(alice).get("/staff/calendar/", {"view": "month", "start": "2026-06-15"})
    none = signed_in(alice).get(
        "/staff/calendar/", {"view": "month", "start": "2026-06-15", "tier": "standard"}
    )

    assert "June 2026" in month.content.decode()
    assert "1 booked" in day_cell(month, "2026-06-04")  # the site's date, not UTC's 5 June
    assert "2 due" in day_cell(month, "2026-06-04")
    assert "due" not in day_cell(none, "2026-06-04") and "booked" not in day_cell(
        none, "2026-06-04"
    )


def _booked_on_clinic_day(cohort, by, names, first_utc_hour=13):
    """A patient of `cohort` for each name, booked on the clinic day five minutes apart."""
    visits = []
    for n, name in enumerate(names):
        visit = PatientFactory(cohort=cohort, last_name=name, tier="high").visits.first()
        at = datetime(2026, 6, 4, first_utc_hour, tzinfo=UTC) + timedelta(minutes=5 * n)
        visit.book(at, by=by)
        visits.append(visit)
    return visits


def _cell(page: str, day: str) -> str:
    return page.split(f'href="/staff/calendar/{day}/"')[1].split("</td>")[0]


@time_machine.travel(TUESDAY)
def test_a_busy_day_shows_its_first_eight_in_the_week_and_every_one_on_its_own_page(
    alice, cohort_a
):
    cohort_a.timezone = "America/New_York"
    cohort_a.save()
    names = [f"Patient{letter}" for letter in "ABCDEFGHIJK"]  # eleven, booked in this order
    visits = _booked_on_clinic_day(cohort_a, alice, names)
    links = [f"/staff/patients/{visit.patient_id}/" for visit in visits]
    client = signed_in(alice)

    week = client.get("/staff/calendar/", {"start": "2026-06-02"}).content.decode()
    day = client.get("/staff/calendar/2026-06-04/").content.decode()

    cell = _cell(week, "2026-06-04")
    assert "+3 booked" in cell
    assert [link in cell for link in links] == [True] * 8 + [False] * 3  # the earliest eight
    assert 'Booked <span class="count">11</span>' in day
    assert all(name in day for name in names)
    assert day.index("PatientA") < day.index("PatientK")  # by time


@time_machine.travel(TUESDAY)
def test_each_sites_bookings_fall_on_its_own_date(alice, cohort_a):
    cohort_a.timezone = "America/New_York"
    cohort_a.save()
    tokyo = CohortFactory(timezone="Asia/Tokyo", coordinators=[alice])
    # 23:00 UTC on 4 June: 19:00 in New York that day; 16:00 UTC: 01:00 on 5 June in Tokyo.
    (new_york,) = _booked_on_clinic_day(cohort_a, alice, ["Newyorker"], first_utc_hour=23)
    (japan,) = _booked_on_clinic_day(tokyo, alice, ["Tokyoite"], first_utc_hour=16)
    client = signed_in(alice)

    week = client.get("/staff/calendar/", {"start": "2026-06-02"}).content.decode()
    month = client.get("/staff/calendar/", {"view": "month", "start": "2026-06-01"}).content
    month = month.decode()

    wednesday, thursday = _cell(week, "2026-06-04"), _cell(week, "2026-06-05")
    assert f'19:00 <a href="/staff/patients/{new_york.patient_id}/"' in wednesday
    assert f'01:00 <a href="/staff/patients/{japan.patient_id}/"' in thursday
    assert f"/staff/patients/{japan.patient_id}/" not in wednesday
    assert "1 booked" in _cell(month, "2026-06-04") and "1 booked" in _cell(month, "2026-06-05")


@time_machine.travel(TUESDAY)
def test_a_days_clinic_is_booked_in_consecutive_slots_in_the_sites_time(alice, due_on_clinic_day):
    ids = [str(v.pk) for v in due_on_clinic_day]

    response = signed_in(alice).post(
        f"/staff/calendar/{CLINIC_DAY}/book/", {"visit": ids, "first": "09:00", "minutes": "20"}
    )

    assert response.status_code == 302
    booked = Visit.objects.filter(pk__in=ids).order_by("patient__last_name")
    assert [v.booked_at for v in booked] == [
        datetime(2026, 6, 4, 13, 0, tzinfo=UTC),  # 09:00 in New York
        datetime(2026, 6, 4, 13, 20, tzinfo=UTC),
        datetime(2026, 6, 4, 13, 40, tzinfo=UTC),
    ]


@time_machine.travel(TUESDAY)
def test_a_days_clinic_refuses_a_slot_it_does_not_offer_and_books_nothing(alice, due_on_clinic_day):
    ids = [str(v.pk) for v in due_on_clinic_day]

    response = signed_in(alice).post(
        f"/staff/calendar/{CLINIC_DAY}/book/", {"visit": ids, "first": "09:00", "minutes": "7"}
    )

    assert response.status_code == 400
    assert not Visit.objects.filter(pk__in=ids, status="booked").exists()


@time_machine.travel(TUESDAY)
def test_a_visit_is_completed_missed_or_rebooked_by_the_rules(
    alice, bob, cohort_b, due_on_clinic_day
):
    first, second, third = due_on_clinic_day
    client = signed_in(alice)
    first.book(datetime(2026, 6, 4, 13, tzinfo=UTC), by=alice)

    assert client.post(f"/staff/visits/{first.pk}/complete/").status_code == 302
    assert client.post(f"/staff/visits/{first.pk}/miss/").status_code == 409
    assert client.post(f"/staff/visits/{second.pk}/fly/").status_code == 404
    assert signed_in(bob).post(f"/staff/visits/{third.pk}/miss/").status_code == 404
    rebook = client.post(f"/staff/visits/{second.pk}/book/", {"booked_at": "2026-06-05T08:15"})

    assert rebook.status_code == 302
    first.refresh_from_db()
    second.refresh_from_db()
    third.refresh_from_db()
    assert first.status == "completed"
    assert second.booked_at == datetime(2026, 6, 5, 12, 15, tzinfo=UTC)
    assert third.status == "planned"


@time_machine.travel(TUESDAY)
def test_a_step_goes_back_to_the_page_it_came_from_never_to_another_site(alice, due_on_clinic_day):
    first, second = due_on_clinic_day[:2]
    client = signed_in(alice)
    day_page = f"/staff/calendar/{CLINIC_DAY}/"

    back = client.post(
        f"/staff/visits/{first.pk}/book/", {"booked_at": "2026-06-04T09:00", "next": day_page}
    )
    elsewhere = client.post(
        f"/staff/visits/{second.pk}/book/",
        {"booked_at": "2026-06-04T09:20", "next": "https://evil.example/phish"},
    )

    assert back["Location"] == day_page
    assert elsewhere["Location"] == "/staff/"
    assert "Booked for" in client.get(day_page).content.decode()  # said once, on the next page


@time_machine.travel(TUESDAY)
def test_each_day_is_shaded_by_the_windows_open_on_it(alice, due_on_clinic_day, cohort_b):
    closing = due_on_clinic_day[0]
    Visit.objects.filter(pk=closing.pk).update(  # its window closes on Wednesday
        due_date=date(2026, 5, 27), window_end=date(2026, 6, 3)
    )
    PatientFactory(cohort=cohort_b, tier="high")  # another cohort's windows are not counted
    week = [date(2026, 6, 1) + timedelta(days=n) for n in range(7)]
    mine = Visit.objects.filter(cohort=due_on_clinic_day[0].cohort_id, status="planned")

    def open_on(day):  # the oracle: one count a day
        return mine.filter(window_start__lte=day, window_end__gte=day).count()

    page = signed_in(alice).get("/staff/calendar/", {"start": "2026-06-02"}).content.decode()
    cells = {day: page.split(f'href="/staff/calendar/{day}/"')[1].split("</td>")[0] for day in week}

    assert open_on(date(2026, 6, 3)) == open_on(date(2026, 6, 4)) + 1
    for day in week:
        assert f"{open_on(day)} in window" in cells[day]
    busiest = max(open_on(day) for day in week)
    shaded = page.split('href="/staff/calendar/2026-06-03/"')[0].rsplit("<td", 1)[1]
    assert f"window-{-(-3 * open_on(date(2026, 6, 3)) // busiest)}" in shaded
