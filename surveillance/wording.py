"""The lesion questions in the patient's words: one source for the web form and the SMS.

Both channels ask the same question with the same answers in the same order
(`triage.QUESTIONS`), so an answer means the same whichever way it came: a
lesion of exactly two weeks is "two weeks or more" on the web and by SMS.
The words are plain language and never name a diagnosis (the SMS may be read
on a lock screen).
"""

from .triage import QUESTIONS

# The questions, in plain words, in each patient language.
QUESTION_LABELS: dict[str, dict[str, str]] = {
    "en": {
        "location": "Where is it?",
        "onset": "How did it appear?",
        "feel": "How does it feel when you touch it?",
        "colour": "What colour is it?",
        "itch": "Does it itch?",
        "pain": "Does it hurt?",
        "bleeding": "Does it bleed, or is there an open sore?",
        "count": "How many are there?",
        "duration": "How long have you had it?",
    },
    "es": {
        "location": "¿Dónde está?",
        "onset": "¿Cómo apareció?",
        "feel": "¿Cómo se siente al tocarlo?",
        "colour": "¿De qué color es?",
        "itch": "¿Le pica?",
        "pain": "¿Le duele?",
        "bleeding": "¿Sangra, o hay una herida abierta?",
        "count": "¿Cuántos hay?",
        "duration": "¿Desde cuándo lo tiene?",
    },
}

_YES_NO = {"en": {"yes": "Yes", "no": "No"}, "es": {"yes": "Sí", "no": "No"}}

# The answers, by question then answer code, in each patient language.
ANSWER_LABELS: dict[str, dict[str, dict[str, str]]] = {
    "en": {
        "location": {
            "near_scar": "Near my scar",
            "chest_wall": "On my chest",
            "elsewhere": "Somewhere else on my body",
        },
        "onset": {"sudden_or_fast": "Suddenly, or it is growing fast", "gradual": "Slowly"},
        "feel": {"firm_lump": "A firm bump or lump", "flat": "Flat", "scaly": "Rough or scaly"},
        "colour": {
            "skin": "The same colour as my skin",
            "pink": "Pink",
            "red": "Red",
            "purple": "Purple or bluish",
        },
        "itch": _YES_NO["en"],
        "pain": _YES_NO["en"],
        "bleeding": _YES_NO["en"],
        "count": {"one": "Just one", "more_than_one": "More than one"},
        "duration": {
            "under_two_weeks": "Less than two weeks",
            "over_two_weeks": "Two weeks or more",
        },
    },
    "es": {
        "location": {
            "near_scar": "Cerca de mi cicatriz",
            "chest_wall": "En el pecho",
            "elsewhere": "En otra parte del cuerpo",
        },
        "onset": {
            "sudden_or_fast": "De repente, o está creciendo rápido",
            "gradual": "Poco a poco",
        },
        "feel": {"firm_lump": "Un bulto firme", "flat": "Plano", "scaly": "Áspero o con escamas"},
        "colour": {
            "skin": "Del mismo color que mi piel",
            "pink": "Rosado",
            "red": "Rojo",
            "purple": "Morado o azulado",
        },
        "itch": _YES_NO["es"],
        "pain": _YES_NO["es"],
        "bleeding": _YES_NO["es"],
        "count": {"one": "Solo uno", "more_than_one": "Más de uno"},
        "duration": {
            "under_two_weeks": "Menos de dos semanas",
            "over_two_weeks": "Dos semanas o más",
        },
    },
}

# How an SMS asks for a numbered answer.
_REPLY = {"en": "Reply", "es": "Responda"}


def _lowered(label: str) -> str:
    first = label.split()[0]
    return label if len(first) > 1 and first.isupper() else label[0].lower() + label[1:]


def sms_question(question: str, language: str) -> str:
    """ "Where is it? Reply 1 near my scar, 2 on my chest, 3 somewhere else on my body." """
    language = language if language in QUESTION_LABELS else "en"
    labels = [_lowered(ANSWER_LABELS[language][question][code]) for code in QUESTIONS[question]]
    separator = "; " if any("," in label for label in labels) else ", "
    numbered = separator.join(f"{number} {label}" for number, label in enumerate(labels, 1))
    return f"{QUESTION_LABELS[language][question]} {_REPLY[language]} {numbered}."
