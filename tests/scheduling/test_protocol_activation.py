"""A protocol version is checked before it is put in force: nothing changes if it is unsafe."""

from datetime import date

import pytest
import time_machine

from audit.models import AuditEvent
from scheduling.models import InvalidProtocol, Protocol
from scheduling.planner import ReminderRule, TierProtocol, VisitKind, VisitRule, protocol_problems
from scheduling.tasks import replan_everyone
from tests.factories import PatientFactory, UserFactory

pytestmark = [pytest.mark.django_db]

CLINIC = VisitRule(VisitKind.CLINIC, 0, None, 3, 14)
SELF_EXAM = ReminderRule("self_exam", 0, None, "WEEKLY", 2)


def test_the_default_protocol_has_no_problems():
    assert Protocol.objects.active().problems() == []


@pytest.mark.parametrize(
    ("tier", "problem"),
    [
        (TierProtocol((), (SELF_EXAM,)), "high: no clinic-visit rule."),
        (TierProtocol((CLINIC,), ()), "high: no self-exam reminder rule."),
        (
            TierProtocol((VisitRule(VisitKind.CLINIC, 0, None, 0, 14),), (SELF_EXAM,)),
            "high: clinic visits every 0 months.",
        ),
        (
            TierProtocol((VisitRule(VisitKind.CLINIC, 0, None, 1, 14),), (SELF_EXAM,)),
            "the window must be narrower than the interval",
        ),
        (
            TierProtocol((CLINIC,), (ReminderRule("self_exam", 0, None, "WEEKLY", 0),)),
            "every 0 is not an interval",
        ),
        (
            TierProtocol((VisitRule(VisitKind.CLINIC, 36, 12, 3, 14),), (SELF_EXAM,)),
            "ends before it starts",
        ),
    ],
)
def test_it_names_each_problem(tier, problem):
    problems = protocol_problems({"high": tier})

    assert any(problem in found for found in problems), problems


def test_a_draft_with_a_tier_left_empty_is_refused_and_nothing_changes():
    active = Protocol.objects.active()
    draft = active.new_draft()
    draft.visit_rules.filter(tier="standard").delete()

    with pytest.raises(InvalidProtocol) as refused:
        draft.activate()

    assert "standard: no clinic-visit rule." in refused.value.problems
    assert Protocol.objects.active() == active
    draft.refresh_from_db()
    assert draft.status == "draft"


def test_a_draft_with_a_zero_interval_is_refused():
    draft = Protocol.objects.active().new_draft()
    draft.visit_rules.filter(tier="high", kind="clinic").update(interval_months=0)

    with pytest.raises(InvalidProtocol):
        draft.activate()


def test_a_sound_draft_is_activated():
    draft = Protocol.objects.active().new_draft()

    draft.activate()

    assert Protocol.objects.active() == draft


def test_the_admin_says_why_a_draft_is_refused(client):
    client.force_login(UserFactory(username="lead-su", is_superuser=True, is_staff=True))
    draft = Protocol.objects.active().new_draft()
    draft.reminder_rules.filter(tier="very_high").delete()

    response = client.post(
        "/admin/scheduling/protocol/",
        {"action": "activate", "_selected_action": [draft.pk]},
        follow=True,
    )

    shown = [str(message) for message in response.context["messages"]]
    assert "very_high: no self-exam reminder rule." in shown
    assert "Not activated: nothing changed." in shown
    draft.refresh_from_db()
    assert draft.status == "draft"


ACTIVATE = {"action": "activate"}


@pytest.fixture
def superuser_client(client):
    client.force_login(UserFactory(username="lead-su", is_superuser=True, is_staff=True))
    return client


@time_machine.travel("2026-01-10 12:00Z")
def test_the_admin_shows_a_dry_run_first_and_changes_nothing_until_confirmed(superuser_client):
    standard = [PatientFactory(treatment_end_date=date(2025, 12, 1)) for _ in range(2)]
    PatientFactory(tier="high", treatment_end_date=date(2025, 12, 1))
    draft = Protocol.objects.active().new_draft()
    draft.visit_rules.filter(tier="standard", kind="clinic").update(interval_months=12)
    draft.reminder_rules.filter(tier="high").update(interval=1)
    visits = {patient.pk: patient.visits.count() for patient in standard}

    page = superuser_client.post(
        "/admin/scheduling/protocol/", {**ACTIVATE, "_selected_action": [draft.pk]}
    )

    assert page.status_code == 200
    tiers = {change.tier: change for change in page.context["tiers"]}
    assert (tiers["standard"].patients, tiers["standard"].lose_visits) == (2, 2)
    assert tiers["standard"].visits_draft < tiers["standard"].visits_now
    assert (tiers["high"].gain_reminders, tiers["high"].lose_visits) == (1, 0)
    assert tiers["high"].reminders_draft > tiers["high"].reminders_now
    assert b"Patients losing visits" in page.content
    draft.refresh_from_db()
    assert draft.status == "draft"
    assert {patient.pk: patient.visits.count() for patient in standard} == visits


def test_the_confirmed_dry_run_activates_and_the_trail_says_so(
    superuser_client, django_capture_on_commit_callbacks
):
    PatientFactory()
    draft = Protocol.objects.active().new_draft()

    with django_capture_on_commit_callbacks() as replans:
        superuser_client.post(
            "/admin/scheduling/protocol/",
            {**ACTIVATE, "_selected_action": [draft.pk], "confirmed": "yes"},
        )
    assert len(replans) == 1
    replan_everyone()  # what the queued task does on a worker

    assert Protocol.objects.active() == draft
    activated = AuditEvent.objects.get(object_type="protocol")
    assert (activated.action, activated.username) == ("update", "lead-su")
    assert activated.reason == f"activated version {draft.version}; re-planning every patient"
    replanned = AuditEvent.objects.get(object_type="replan")
    assert replanned.reason == f"re-planned 1 patients on protocol version {draft.version}"


def test_a_coordinator_cannot_run_the_protocol_actions(client):
    client.force_login(UserFactory(role="coordinator", is_staff=True))
    draft = Protocol.objects.active().new_draft()
    assert client.get("/admin/scheduling/protocol/").status_code == 200  # they may look

    for action in ("activate", "make_draft"):
        client.post(
            "/admin/scheduling/protocol/",
            {"action": action, "_selected_action": [draft.pk], "confirmed": "yes"},
        )

    draft.refresh_from_db()
    assert draft.status == "draft"
    assert Protocol.objects.count() == 2
