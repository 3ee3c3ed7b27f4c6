"""A protocol version is checked before it is put in force: nothing changes if it is unsafe."""

import pytest

from scheduling.models import InvalidProtocol, Protocol
from scheduling.planner import ReminderRule, TierProtocol, VisitKind, VisitRule, protocol_problems
from tests.factories import UserFactory

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
