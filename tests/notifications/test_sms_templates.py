import pytest

from notifications.sms_templates import DIAGNOSIS_WORDS, TEMPLATES, placeholders, render


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
