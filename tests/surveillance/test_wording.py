"""The SMS questionnaire and the web form ask each question the same way. Pure."""

import pytest

from notifications.sms_templates import DIAGNOSIS_WORDS
from surveillance.triage import QUESTIONS
from surveillance.wording import ANSWER_LABELS, QUESTION_LABELS, sms_question

LANGUAGES = ["en", "es"]


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("question", list(QUESTIONS))
def test_the_sms_asks_the_web_forms_question_with_its_answers_in_order(question, language):
    text = sms_question(question, language)

    assert text.startswith(QUESTION_LABELS[language][question])
    positions = [
        text.lower().index(f"{number} {ANSWER_LABELS[language][question][code].lower()}")
        for number, code in enumerate(QUESTIONS[question], start=1)
    ]
    assert positions == sorted(positions)


@pytest.mark.parametrize(
    ("language", "web_label", "sms_words"),
    [
        ("en", "Two weeks or more", "2 two weeks or more"),
        ("es", "Dos semanas o más", "2 dos semanas o más"),
    ],
)
def test_a_lesion_of_exactly_two_weeks_is_the_same_answer_on_both_channels(
    language, web_label, sms_words
):
    assert ANSWER_LABELS[language]["duration"]["over_two_weeks"] == web_label
    assert sms_words in sms_question("duration", language)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("question", list(QUESTIONS))
def test_no_question_names_a_diagnosis(question, language):
    text = sms_question(question, language).lower()

    assert [word for word in DIAGNOSIS_WORDS if word in text] == []


def test_an_unknown_language_is_asked_in_english():
    assert sms_question("itch", "fr") == sms_question("itch", "en")
