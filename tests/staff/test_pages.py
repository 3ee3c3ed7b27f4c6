"""The staff web pages: scoped like the API, audited, the API's rules for every step."""

import csv
import gzip
import io
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from icalendar import Calendar

from audit.models import AuditEvent
from notifications import inbound
from notifications.models import Message
from notifications.sms_templates import names_a_diagnosis
from scheduling.models import Visit
from staff.models import CalendarFeed
from surveillance import lesions
from surveillance.models import Flag
from tests.factories import PatientFactory, UserFactory, waiting_inbound
from tests.staff.helpers import signed_in

pytestmark = [pytest.mark.django_db]
# Tuesday 2026-06-02, 14:00 UTC (10:00 in New York).
TUESDAY = "2026-06-02 14:00Z"
RED_FLAGS = {"location": "near_scar", "feel": "firm_lump", "colour": "purple", "itch": "no"}
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def patient(cohort_a):
    cohort_a.timezone = "America/New_York"
    cohort_a.save()
    return PatientFactory(cohort=cohort_a, tier="high", first_name="Ada", last_name="Lovelace")


@pytest.fixture
def lead(cohort_a):
    user = UserFactory(username="lena", role="clinical_lead")
    cohort_a.clinical_leads.add(user)
    return user


def flag_for(patient, answers=None) -> Flag:
    return lesions.record_report(patient, "staff", answers or RED_FLAGS)


def received(from_number: str, body: str) -> Message:
    """An SMS as the webhook takes it: stored, then routed."""
    message, _ = inbound.store(f"SM{uuid.uuid4().hex}", from_number, "+12025550100", body)
    with transaction.atomic():
        inbound.route(message.pk)
    message.refresh_from_db()
    return message


def inbound_from(patient, body: str) -> Message:
    message = received(patient.phone, body)
    assert message.needs_review, message.routed_as  # free text: the inbox
    return message


@time_machine.travel(TUESDAY)
def test_today_shows_only_the_coordinators_cohorts_and_is_audited_as_one_list(
    alice, patient, cohort_b
):
    mine = flag_for(patient)
    theirs = flag_for(PatientFactory(cohort=cohort_b, first_name="Other", last_name="Person"))

    response = signed_in(alice).get("/staff/")

    assert response.status_code == 200
    page = response.content.decode()
    assert f"/staff/flags/{mine.pk}/" in page
    assert f"/staff/flags/{theirs.pk}/" not in page and "Other Person" not in page
    listed = AuditEvent.objects.get(action="list", object_type="worklist")
    assert listed.user == alice
    assert listed.patient_ids == [patient.pk]
    assert f"flags:{mine.pk}" in listed.object_ids


def test_someone_on_no_care_team_gets_403_and_a_stranger_is_sent_to_sign_in(db):
    nobody = UserFactory(username="nobody")

    assert signed_in(nobody).get("/staff/").status_code == 403
    response = Client().get("/staff/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@time_machine.travel(TUESDAY)
def test_another_cohorts_flag_is_not_found_and_nothing_changes(bob, cohort_b, patient):
    flag = flag_for(patient)

    assert signed_in(bob).get(f"/staff/flags/{flag.pk}/").status_code == 404
    assert signed_in(bob).post(f"/staff/flags/{flag.pk}/acknowledge/").status_code == 404
    flag.refresh_from_db()
    assert flag.status == "open"


@time_machine.travel(TUESDAY)
def test_today_costs_the_same_queries_whatever_the_cohort_holds(
    alice, patient, django_assert_max_num_queries
):
    client = signed_in(alice)

    def queries_for_today() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/staff/").status_code == 200
        return len(captured)

    flag_for(patient)
    inbound_from(patient, "Is my appointment next week?")
    few = queries_for_today()
    for n in range(30):
        other = PatientFactory(cohort=patient.cohort, first_name=f"More{n}")
        flag_for(other)
        inbound_from(other, "Is my appointment next week?")

    assert queries_for_today() == few  # a section counts the rest from the ids it reads
    with django_assert_max_num_queries(25):
        client.get("/staff/")


@time_machine.travel(TUESDAY)
def test_acknowledging_from_today_swaps_the_row_and_a_second_try_is_a_409(alice, patient):
    flag = flag_for(patient)
    client = signed_in(alice)

    response = client.post(f"/staff/flags/{flag.pk}/acknowledge/", {"from": "today"}, **HTMX)

    assert response.status_code == 200
    assert f'id="flag-{flag.pk}"' in response.content.decode()
    assert "Acknowledged" in response.content.decode()
    flag.refresh_from_db()
    assert (flag.status, flag.acknowledged_by) == ("acknowledged", alice)
    again = client.post(f"/staff/flags/{flag.pk}/acknowledge/")
    assert again.status_code == 409
    assert "cannot be acknowledged" in again.content.decode()


@time_machine.travel(TUESDAY)
def test_only_the_cohorts_clinical_lead_resolves_with_an_outcome(alice, lead, patient):
    flag = flag_for(patient)

    refused = signed_in(alice).post(f"/staff/flags/{flag.pk}/resolve/", {"outcome": "benign"})
    nonsense = signed_in(lead).post(f"/staff/flags/{flag.pk}/resolve/", {"outcome": "fine"})
    response = signed_in(lead).post(
        f"/staff/flags/{flag.pk}/resolve/", {"outcome": "benign", "note": "Seen on video call"}
    )

    assert refused.status_code == 403
    assert nonsense.status_code == 400 and "outcome" in nonsense.content.decode()
    assert response.status_code == 302
    flag.refresh_from_db()
    assert (flag.status, flag.outcome, flag.resolved_by) == ("resolved", "benign", lead)
    assert flag.outcome_note == "Seen on video call"


@time_machine.travel(TUESDAY)
def test_the_flag_page_shows_the_answers_tier_and_earlier_reports_and_is_audited(alice, patient):
    earlier = flag_for(patient, {"itch": "yes"})
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        flag = flag_for(patient)
        response = signed_in(alice).get(f"/staff/flags/{flag.pk}/")

    page = response.content.decode()
    assert response.status_code == 200
    assert "Firm lump" in page  # a triage reason
    assert "HER2-positive" in page  # the tier's reason
    assert "Earlier reports" in page and f"/staff/flags/{earlier.pk}/" not in page
    assert "Book an urgent visit" in page
    assert AuditEvent.objects.filter(
        action="view", object_type="flag", object_id=str(flag.pk), patient=patient
    ).exists()


@time_machine.travel(TUESDAY)
def test_an_urgent_visit_booked_in_one_click_is_read_in_the_sites_own_time(alice, patient):
    flag = flag_for(patient)

    response = signed_in(alice).post(
        f"/staff/flags/{flag.pk}/urgent-visit/", {"booked_at": "2026-06-03T09:30", "location": ""}
    )

    assert response.status_code == 302
    flag.refresh_from_db()
    visit = flag.urgent_visit
    assert (visit.kind, visit.status) == ("urgent", "booked")
    assert visit.booked_at == datetime(2026, 6, 3, 13, 30, tzinfo=UTC)  # 09:30 in New York


@time_machine.travel(TUESDAY)
def test_the_flag_page_offers_another_urgent_visit_once_the_first_was_cancelled(alice, patient):
    flag = flag_for(patient)
    client = signed_in(alice)
    client.post(f"/staff/flags/{flag.pk}/urgent-visit/", {"booked_at": "2026-06-03T09:30"})
    booked = client.get(f"/staff/flags/{flag.pk}/").content.decode()
    flag.refresh_from_db()
    flag.urgent_visit.cancel(by=alice)

    cancelled = client.get(f"/staff/flags/{flag.pk}/").content.decode()

    assert "Urgent visit: Booked" in booked and 'class="urgent-visit"' not in booked
    assert "Urgent visit: Cancelled, " in cancelled  # and when it was to have been
    assert "Book another urgent visit</button>" in cancelled


@time_machine.travel(TUESDAY)
def test_booking_from_today_refuses_a_time_far_in_the_past_and_books_nothing(alice, patient):
    visit = patient.visits.filter(status="planned").order_by("due_date").first()
    client = signed_in(alice)

    refused = client.post(f"/staff/visits/{visit.pk}/book/", {"booked_at": "2020-01-01T09:00"})
    booked = client.post(
        f"/staff/visits/{visit.pk}/book/", {"booked_at": "2026-06-10T11:00"}, **HTMX
    )

    assert refused.status_code == 400
    assert booked.status_code == 200 and "Booked for Ada Lovelace" in booked.content.decode()
    visit.refresh_from_db()
    assert (visit.status, visit.booked_at) == ("booked", datetime(2026, 6, 10, 15, tzinfo=UTC))


@time_machine.travel(TUESDAY)
def test_a_reply_from_the_inbox_goes_through_the_outbox_and_never_names_a_diagnosis(
    alice, patient, sms_outbox
):
    question = inbound_from(patient, "Can I move my appointment?")
    client = signed_in(alice)

    refused = client.post(
        f"/staff/messages/{question.pk}/reply/", {"text": "About your cancer follow-up"}
    )
    assert refused.status_code == 400
    assert not Message.objects.filter(kind="reply").exists()

    response = client.post(
        f"/staff/messages/{question.pk}/reply/", {"text": "Yes: call us on Monday."}
    )

    assert response.status_code == 302
    reply = Message.objects.get(kind="reply", patient=patient)
    assert reply.is_reply and reply.direction == "outbound"
    assert reply.body.endswith("Yes: call us on Monday.")
    assert names_a_diagnosis(reply.body) == ""
    question.refresh_from_db()
    assert (question.needs_review, question.reviewed_by) == (False, alice)


@time_machine.travel(TUESDAY)
def test_the_inbox_goes_page_by_page_oldest_first_and_each_page_is_audited(alice, patient):
    waiting = [inbound_from(patient, f"Question number {n}") for n in range(53)]
    client = signed_in(alice)
    cohort = f"cohort={patient.cohort_id}"

    first = client.get("/staff/inbox/", {"cohort": patient.cohort_id}).content.decode()
    second = client.get("/staff/inbox/", {"cohort": patient.cohort_id, "page": 2})
    second = second.content.decode()

    def shown(page: str) -> list[int]:
        return [m.pk for m in waiting if f'id="message-{m.pk}"' in page]

    assert shown(first) == [m.pk for m in waiting[:50]] and shown(second) == [
        waiting[-3].pk,
        waiting[-2].pk,
        waiting[-1].pk,
    ]
    assert f'href="?{cohort}&amp;page=2" rel="next"' in first and 'rel="prev"' not in first
    assert f'href="?{cohort}&amp;page=1" rel="prev"' in second and 'rel="next"' not in second
    assert '<span class="count">53</span>' in first  # all of them, on every page
    audited = AuditEvent.objects.filter(action="list", reason="inbox").order_by("pk")
    assert [set(event.object_ids) for event in audited] == [
        {str(m.pk) for m in waiting[:50]},
        {str(m.pk) for m in waiting[50:]},
    ]
    for bad in ("3", "0", "-1", "two", "1.5"):
        assert client.get("/staff/inbox/", {"page": bad}).status_code == 404


@time_machine.travel(TUESDAY)
def test_bulk_review_marks_only_what_the_user_may_see(alice, patient, cohort_b):
    mine = inbound_from(patient, "Thanks!")
    theirs = inbound_from(PatientFactory(cohort=cohort_b), "Hello?")

    response = signed_in(alice).post(
        "/staff/inbox/review/", {"message": [str(mine.pk), str(theirs.pk)]}
    )

    assert response.status_code == 302
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert (mine.needs_review, theirs.needs_review) == (False, True)


@time_machine.travel(TUESDAY)
def test_the_timeline_shows_the_patients_messages_and_who_looked(alice, patient):
    inbound_from(patient, "A new spot on my arm")

    response = signed_in(alice).get(f"/staff/patients/{patient.pk}/")

    page = response.content.decode()
    assert response.status_code == 200
    assert "A new spot on my arm" in page and patient.mrn in page
    assert "Who looked" in page
    assert 'class="flash"' not in page  # the patient's SMS are not the page's notices
    assert AuditEvent.objects.filter(action="view", object_type="patient", patient=patient).exists()


@time_machine.travel(TUESDAY)
def test_a_pause_is_validated_as_the_api_does_and_a_double_check_in_is_refused(alice, patient):
    client = signed_in(alice)

    assert (
        client.post(f"/staff/patients/{patient.pk}/pause/", {"until": "2099-01-01"}).status_code
        == 400
    )
    assert (
        client.post(f"/staff/patients/{patient.pk}/pause/", {"until": "2026-06-20"}).status_code
        == 302
    )
    patient.refresh_from_db()
    assert str(patient.reminders_paused_until) == "2026-06-20"
    assert client.post(f"/staff/patients/{patient.pk}/check-in/").status_code == 302
    assert client.post(f"/staff/patients/{patient.pk}/check-in/").status_code == 409
    assert Message.objects.filter(kind="check_in", patient=patient).count() == 1


@time_machine.travel(TUESDAY)
def test_the_calendar_feed_parses_names_no_mrn_and_answers_404_once_revoked(alice, patient):
    visit = patient.visits.filter(status="planned").order_by("due_date").first()
    visit.book(datetime(2026, 6, 10, 15, tzinfo=UTC), "Room 4", by=alice)
    client = signed_in(alice)

    client.post("/staff/calendar-feed/new/")
    address = client.get("/staff/calendar-feed/").context["address"]
    path = address.split("testserver", 1)[1]
    feed = Client().get(path)

    assert feed.status_code == 200
    assert feed["Content-Type"].startswith("text/calendar")
    calendar = Calendar.from_ical(feed.content)
    events = {str(event["uid"]): event for event in calendar.walk("VEVENT")}
    booked = events[f"visit-{visit.pk}@testserver"]
    assert booked.decoded("dtstart") == datetime(2026, 6, 10, 15, tzinfo=UTC)
    assert patient.mrn not in feed.content.decode() and "Lovelace" not in feed.content.decode()
    assert names_a_diagnosis(feed.content.decode()) == ""
    assert AuditEvent.objects.filter(action="list", reason="calendar feed", user=alice).exists()

    client.post("/staff/calendar-feed/revoke/")
    assert Client().get(path).status_code == 404
    assert not CalendarFeed.objects.live().exists()


@time_machine.travel(TUESDAY)
def test_the_feed_holds_four_weeks_of_bookings_and_a_days_visits_to_book_as_a_count(
    alice, patient, cohort_b
):
    planned = list(patient.visits.filter(status="planned").order_by("due_date"))
    week_ago, far, soon, *_ = planned
    Visit.objects.filter(pk=week_ago.pk).update(
        status="booked",
        booked_at=datetime(2026, 5, 20, 15, tzinfo=UTC),  # 13 days ago
    )
    Visit.objects.filter(pk=far.pk).update(
        status="booked",
        booked_at=datetime(2026, 8, 4, 15, tzinfo=UTC),  # nine weeks ahead
    )
    due_day = date(2026, 6, 12)
    others = [PatientFactory(cohort=patient.cohort) for _ in range(2)]
    to_book = [soon] + [o.visits.filter(status="planned").first() for o in others]
    theirs = PatientFactory(cohort=cohort_b).visits.filter(status="planned").first()
    Visit.objects.filter(pk__in=[v.pk for v in [*to_book, theirs]]).update(
        due_date=due_day,
        window_start=due_day - timedelta(days=14),
        window_end=due_day + timedelta(days=14),
    )
    client = signed_in(alice)
    client.post("/staff/calendar-feed/new/")
    path = client.get("/staff/calendar-feed/").context["address"].split("testserver", 1)[1]

    feed = Client().get(path, HTTP_ACCEPT_ENCODING="gzip")

    assert feed["Content-Encoding"] == "gzip"
    events = Calendar.from_ical(gzip.decompress(feed.content)).walk("VEVENT")
    uids = {str(event["uid"]) for event in events}
    assert (
        f"visit-{week_ago.pk}@testserver" not in uids and f"visit-{far.pk}@testserver" not in uids
    )
    assert not any(uid.startswith(f"visit-{v.pk}@") for v in to_book for uid in uids)
    (day,) = [
        e for e in events if str(e["uid"]) == f"to-book-{patient.cohort_id}-20260612@testserver"
    ]
    assert str(day["summary"]) == f"3 follow-up visits to book ({patient.cohort.site})"
    assert day.decoded("dtstart") == due_day
    assert (
        str(day["url"])
        == f"http://testserver/staff/calendar/2026-06-12/?cohort={patient.cohort_id}"
    )
    assert not any(f"to-book-{cohort_b.pk}-" in uid for uid in uids)  # not her cohort
    # No booked visit in the window, and counts name no patient: no patient was disclosed.
    assert not AuditEvent.objects.filter(action="list", reason="calendar feed").exists()


@time_machine.travel(TUESDAY)
def test_a_flag_from_a_shared_phone_is_assigned_to_one_of_its_patients(alice, cohort_a):
    cohort_a.timezone = "America/New_York"
    cohort_a.save()
    first = PatientFactory(cohort=cohort_a, phone="+12015550177", first_name="Ann")
    second = PatientFactory(cohort=cohort_a, phone="+12015550177", first_name="Ben")
    received("+12015550177", "2")
    flag = Flag.objects.get(patient__isnull=True)
    page = signed_in(alice).get(f"/staff/flags/{flag.pk}/").content.decode()
    assert "Whose report is it?" in page and "Ann" in page and "Ben" in page
    assert "EDT (" in page and "UTC" not in page  # its deadline at its patients' site

    response = signed_in(alice).post(f"/staff/flags/{flag.pk}/assign/", {"patient": second.pk})

    assert response.status_code == 302
    flag.refresh_from_db()
    assert flag.patient == second
    assert Visit.objects.filter(patient=first).exists()  # untouched


@time_machine.travel(TUESDAY)
def test_the_dashboard_counts_per_cohort_and_per_coordinator_and_links_to_the_lists(
    alice, patient, admin_user, cohort_b
):
    flag_for(patient)
    flag_for(PatientFactory(cohort=cohort_b))

    mine = signed_in(alice).get("/staff/dashboard/").content.decode()
    everyone = signed_in(admin_user).get("/staff/dashboard/").content.decode()

    assert "Cohort A" in mine and "Cohort B" not in mine
    assert f"/staff/?cohort={patient.cohort_id}#section-flags" in mine
    assert "Cohort A" in everyone and "Cohort B" in everyone
    assert "By coordinator" in everyone and "alice" in everyone and "bob" in everyone
    assert "Self-exam response rate" in everyone and "<svg" in everyone


def test_today_for_a_cohort_that_is_not_yours_is_not_found(alice, cohort_a, cohort_b):
    assert signed_in(alice).get(f"/staff/?cohort={cohort_a.pk}").status_code == 200
    assert signed_in(alice).get(f"/staff/?cohort={cohort_b.pk}").status_code == 404


@time_machine.travel(TUESDAY)
def test_a_list_exports_every_row_as_csv_defused_and_audited(alice, patient):
    inbound_from(patient, '=HYPERLINK("http://example.invalid")')
    for n in range(30):
        flag_for(PatientFactory(cohort=patient.cohort, first_name=f"Many{n}"))

    flags = signed_in(alice).get("/staff/export/flags.csv")
    inbox = signed_in(alice).get("/staff/export/inbox.csv")

    assert flags.status_code == 200 and flags["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(flags.streaming_content).decode())))
    assert rows[0][:4] == ["flag", "first name", "last name", "MRN"]
    assert len(rows) == 1 + 30  # every row, past the first rows Today shows
    words = list(csv.reader(io.StringIO(b"".join(inbox.streaming_content).decode())))[1][-1]
    assert words.startswith("'=HYPERLINK")  # a spreadsheet shows it, never runs it
    exported = AuditEvent.objects.get(action="export", object_type="flags")
    assert len(exported.patient_ids) == 30 and exported.user == alice
    assert signed_in(alice).get("/staff/export/nothing.csv").status_code == 404


@time_machine.travel(TUESDAY, tick=False)
def test_the_dashboard_counts_at_most_a_minute_ago_unless_asked_to_count_now(alice, patient):
    from django.core.cache import cache

    cache.clear()
    client = signed_in(alice)
    client.get("/staff/dashboard/")
    flag_for(patient)

    kept = client.get("/staff/dashboard/").context["rows"][0][0]["flags_open"]
    fresh = client.get("/staff/dashboard/?fresh=1").context["rows"][0][0]["flags_open"]

    assert (kept, fresh) == (0, 1)


@pytest.mark.parametrize(
    ("waiting", "skip", "shown", "more", "counted"),
    [
        (100, 0, 15, True, "100"),
        (101, 0, 15, True, "100+"),
        (120, 50, 50, True, "100+"),
        (120, 100, 20, False, "100+"),
        (12, 0, 12, False, "12"),
    ],
)
def test_a_list_counts_up_to_a_hundred_from_the_ids_it_reads(
    admin_user, patient, waiting, skip, shown, more, counted
):
    from staff import worklist

    Message.objects.bulk_create([waiting_inbound(patient, f"question {n}") for n in range(waiting)])
    queryset = worklist.inbox(admin_user, [patient.cohort], timezone.now())

    found = worklist.first_rows(queryset, count=15 if skip == 0 else 50, skip=skip)

    expected = list(queryset.values_list("pk", flat=True))[skip : skip + len(found.rows)]
    assert (len(found.rows), found.more, found.counted) == (shown, more, counted)
    assert [message.pk for message in found.rows] == expected


@time_machine.travel(TUESDAY)
def test_visits_to_book_from_several_cohorts_come_in_one_order(admin_user, cohort_a, cohort_b):
    from staff import worklist

    for cohort in (cohort_a, cohort_b):
        for n in range(3):
            patient = PatientFactory(cohort=cohort, first_name=f"{cohort.name}-{n}")
            visit = patient.visits.filter(status="planned").order_by("due_date").first()
            start = date(2026, 5, 1) + timedelta(days=7 * n + (cohort == cohort_b) * 3)
            Visit.objects.filter(pk=visit.pk).update(
                window_start=start, due_date=start, window_end=start + timedelta(days=60)
            )
    cohorts = [cohort_a, cohort_b]
    queryset = worklist.visits(admin_user, cohorts, timezone.now())

    chosen = worklist.first_rows(queryset, count=4, cohorts=cohorts)

    assert [v.pk for v in chosen.rows] == list(queryset.values_list("pk", flat=True)[:4])
    assert [v.window_start.day for v in chosen.rows] == [1, 4, 8, 11]


@time_machine.travel(TUESDAY)
def test_the_flags_refresh_is_audited_when_what_it_shows_changes(alice, patient):
    flag_for(patient)
    client = signed_in(alice)

    for _ in range(3):
        assert client.get("/staff/today/flags/", **HTMX).status_code == 200
    flag_for(PatientFactory(cohort=patient.cohort, first_name="New"))
    client.get("/staff/today/flags/", **HTMX)

    refreshed = AuditEvent.objects.filter(reason="Today list, refreshed").order_by("pk")
    assert [len(event.object_ids) for event in refreshed] == [1, 2]
