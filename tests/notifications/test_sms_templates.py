import pytest
from django.core.exceptions import ValidationError

from notifications.sms_templates import (
    DIAGNOSIS_WORDS,
    TEMPLATES,
    names_a_diagnosis,
    placeholders,
    render,
)
from notifications.validators import validate_sms_safe


@pytest.mark.parametrize("kind", sorted(TEMPLATES))
@pytest.mark.parametrize("language", ["en", "es"])
def test_it_never_names_a_diagnosis(kind, language):
    text = TEMPLATES[kind][language].lower()

    assert [word for word in DIAGNOSIS_WORDS if word in text] == []


@pytest.mark.parametrize("kind", sorted(TEMPLATES))
def test_it_has_every_template_in_english_and_spanish_with_the_same_blanks(kind):
    assert set(TEMPLATES[kind]) == {"en", "es"}
    english, spanish = (TEMPLATES[kind][language] for language in ("en", "es"))
    assert placeholders(kind) == {
        name for name in placeholders(kind) if f"{{{name}}}" in english and f"{{{name}}}" in spanish
    }


def test_it_renders_in_the_patients_language_and_falls_back_to_english():
    assert render("opted_in", "es", site="Hospital Norte").startswith("Volverá")
    assert render("opted_in", "fr", site="North Hospital").startswith("You will")


def test_it_asks_for_a_numbered_answer_in_self_exam_reminders():
    text = render("self_exam", "en", site="North Hospital")

    assert "Reply 1" in text and "2 if you noticed" in text and "STOP" in text


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("Breast Oncology Clinic", "breast"),
        ("Unidad de Mama", "mama"),
        ("Oncology building, room 2", "oncolog"),
        ("Chemo suite", "chemo"),
        ("Radiation therapy, floor 3", "radiation"),
        ("Concord Hospital, room 4", ""),  # "onco" inside a word is not a diagnosis
        ("North Hospital, Clinic 2", ""),
    ],
)
def test_it_finds_diagnosis_words_at_the_start_of_words(text, found):
    assert names_a_diagnosis(text) == found


@pytest.mark.parametrize("language", ["en", "es"])
def test_a_blank_that_names_a_diagnosis_is_replaced_by_neutral_words(language):
    text = render(
        "visit_reminder",
        language,
        site="Breast Cancer Centre",
        day="2026-06-11",
        hour="10:00",
        place=", Oncology wing",
    )

    assert names_a_diagnosis(text) == ""
    assert ("your clinic" if language == "en" else "su centro") in text
    assert "2026-06-11" in text


def test_it_refuses_a_site_or_place_that_names_a_diagnosis():
    with pytest.raises(ValidationError, match="must not contain 'breast'"):
        validate_sms_safe("Breast Unit")
    validate_sms_safe("Concord Hospital")
