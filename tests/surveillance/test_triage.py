"""Lesion triage: the table of docs/clinical-defaults.md row by row, then its properties. Pure."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from surveillance.triage import (
    QUESTIONS,
    RED_FLAGS,
    RULE_VERSION,
    invalid_answers,
    triage,
    words_reasons,
)

TIERS = ("standard", "high", "very_high")
RANK = {"routine": 0, "urgent": 1}
# A report with every answer on the reassuring side: no red flag at all.
CALM = {
    "location": "elsewhere",
    "onset": "gradual",
    "feel": "flat",
    "colour": "skin",
    "itch": "yes",
    "pain": "no",
    "bleeding": "no",
    "count": "one",
    "duration": "under_two_weeks",
}
# Every (question, answer) that raises a red flag, with its label.
RAISING = [
    (question, answer, label)
    for question, answers, label in RED_FLAGS
    for answer in sorted(answers)
]
PARTIAL = "Questionnaire not finished: answers are partial"


# --- The triage table (docs/clinical-defaults.md), row by row -------------------------


def test_it_keeps_a_calm_report_routine():
    result = triage(CALM, "standard")

    assert result.urgency == "routine"
    assert result.reasons == ("No red flags reported",)
    assert (result.red_flags, result.rule_version) == (0, RULE_VERSION)


@pytest.mark.parametrize(
    ("question", "answer", "label"),
    [
        ("location", "near_scar", "Near the scar or on the chest wall"),
        ("location", "chest_wall", "Near the scar or on the chest wall"),
        ("feel", "firm_lump", "Firm lump"),
        ("onset", "sudden_or_fast", "Appeared suddenly or growing fast"),
        ("colour", "red", "Red or purple"),
        ("colour", "purple", "Red or purple"),
        ("count", "more_than_one", "More than one"),
        ("itch", "no", "Not itchy"),
        ("duration", "over_two_weeks", "Present for over two weeks"),
    ],
)
@pytest.mark.parametrize("tier", ["standard", "high"])
def test_it_keeps_one_red_flag_routine_and_names_it(question, answer, label, tier):
    result = triage({**CALM, question: answer}, tier)

    assert result.urgency == "routine"
    assert result.reasons == (label,)
    assert result.red_flags == 1


def test_it_lists_exactly_the_design_red_flags():
    assert {(question, answer) for question, answer, _ in RAISING} == {
        ("location", "near_scar"),
        ("location", "chest_wall"),
        ("feel", "firm_lump"),
        ("onset", "sudden_or_fast"),
        ("colour", "red"),
        ("colour", "purple"),
        ("bleeding", "yes"),
        ("count", "more_than_one"),
        ("itch", "no"),
        ("duration", "over_two_weeks"),
    }


@pytest.mark.parametrize("tier", TIERS)
def test_it_makes_bleeding_or_an_open_sore_urgent_on_its_own(tier):
    result = triage({**CALM, "bleeding": "yes"}, tier)

    assert result.urgency == "urgent"
    assert "Bleeding or an open sore" in result.reasons


def test_it_makes_two_red_flags_urgent_and_says_how_many():
    result = triage({**CALM, "location": "near_scar", "feel": "firm_lump"}, "standard")

    assert result.urgency == "urgent"
    assert result.reasons == ("Near the scar or on the chest wall", "Firm lump", "2 red flags")


def test_it_makes_every_report_of_a_very_high_risk_patient_urgent():
    result = triage(CALM, "very_high")

    assert result.urgency == "urgent"
    assert result.reasons == ("Very-high-risk patient: every report is urgent",)


def test_it_says_when_the_questionnaire_was_not_finished():
    result = triage({"location": "elsewhere"}, "standard", complete=False)

    assert result.urgency == "routine"
    assert result.reasons == (PARTIAL,)


def test_it_raises_no_flag_for_unanswered_questions():
    result = triage({}, "standard")

    assert (result.urgency, result.red_flags) == ("routine", 0)
    assert result.reasons == ("No red flags reported",)


def test_it_reports_answers_outside_the_questions():
    assert invalid_answers({**CALM, "colour": "green", "smell": "yes"}) == {
        "colour": "Choose one of: skin, pink, red, purple.",
        "smell": "Unknown question.",
    }
    assert invalid_answers(CALM) == {}


# --- Properties over every possible (partial) answer set ---------------------------------

answer_sets = st.fixed_dictionaries(
    {}, optional={question: st.sampled_from(answers) for question, answers in QUESTIONS.items()}
)
tiers = st.sampled_from(TIERS)
raising = st.sampled_from(RAISING)


@given(answer_sets, tiers, st.booleans(), raising)
def test_it_never_lowers_urgency_for_one_more_red_flag(answers, tier, complete, extra):
    question, answer, _ = extra
    before = triage(answers, tier, complete)
    after = triage({**answers, question: answer}, tier, complete)

    assert RANK[after.urgency] >= RANK[before.urgency]
    assert after.red_flags >= before.red_flags


@given(answer_sets, tiers, st.booleans(), raising)
def test_it_makes_a_one_flag_report_urgent_with_any_further_red_flag(
    answers, tier, complete, extra
):
    question, answer, _ = extra
    before = triage(answers, tier, complete)
    after = triage({**answers, question: answer}, tier, complete)

    if before.red_flags == 1 and after.red_flags == 2:
        assert after.urgency == "urgent"


@given(answer_sets, tiers, st.booleans())
def test_it_follows_the_urgency_rule(answers, tier, complete):
    result = triage(answers, tier, complete)
    flags = sum(answers.get(question) in raising for question, raising, _ in RED_FLAGS)

    expected = answers.get("bleeding") == "yes" or flags >= 2 or tier == "very_high"
    assert result.urgency == ("urgent" if expected else "routine")
    assert result.red_flags == flags


@given(answer_sets, tiers, st.booleans())
def test_it_always_makes_bleeding_and_very_high_risk_urgent(answers, tier, complete):
    assert triage({**answers, "bleeding": "yes"}, tier, complete).urgency == "urgent"
    assert triage(answers, "very_high", complete).urgency == "urgent"


@given(answer_sets, tiers, st.booleans())
def test_it_always_gives_reasons_naming_every_red_flag(answers, tier, complete):
    result = triage(answers, tier, complete)

    assert result.reasons and all(reason.strip() for reason in result.reasons)
    for question, raising_answers, label in RED_FLAGS:
        assert (label in result.reasons) == (answers.get(question) in raising_answers)
    assert (PARTIAL in result.reasons) == (not complete)
    assert invalid_answers(answers) == {}


@given(answer_sets, tiers)
def test_it_is_deterministic_and_ignores_answer_order(answers, tier):
    reordered = dict(reversed(list(answers.items())))

    assert triage(answers, tier) == triage(reordered, tier)


# --- The patient's own words -------------------------------------------------------------

BLEEDING = "Patient's words: bleeding or an open sore"
GROWING = "Patient's words: growing fast"


@pytest.mark.parametrize(
    ("text", "reasons"),
    [
        ("It's BLEEDING a little", [BLEEDING]),
        ("there is an open sore", [BLEEDING]),
        ("Está sangrando", [BLEEDING]),
        ("tengo una herida abierta", [BLEEDING]),
        ("it is growing fast", [GROWING]),
        ("está creciendo rápido y sangra", [BLEEDING, GROWING]),
        ("crece rapido", [GROWING]),
        ("a small pink spot", []),
        ("my bloodhound licked it", []),  # whole words only
        ("", []),
    ],
)
def test_it_reads_what_the_patient_wrote(text, reasons):
    assert words_reasons(text) == reasons


def test_it_makes_a_partial_report_urgent_when_the_patient_says_it_bleeds():
    result = triage({}, "high", complete=False, words="it's bleeding")

    assert result.urgency == "urgent"
    assert BLEEDING in result.reasons


@given(answer_sets, tiers, st.booleans(), st.text(max_size=40))
def test_words_never_lower_urgency(answers, tier, complete, text):
    without = triage(answers, tier, complete)
    with_words = triage(answers, tier, complete, words=text)

    assert not (without.urgency == "urgent" and with_words.urgency == "routine")
    assert set(without.reasons) - {"No red flags reported"} <= set(with_words.reasons)
