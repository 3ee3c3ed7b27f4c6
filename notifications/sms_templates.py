"""The words patients receive, in English and Spanish.

SMS is not a private channel: a message may be read on a locked screen or by
someone else. No template may name a diagnosis or a treatment; they speak of
"your care team" only (tests/notifications/test_sms_templates.py enforces it).
"""

import logging
import re
from string import Formatter

logger = logging.getLogger(__name__)

TEMPLATES: dict[str, dict[str, str]] = {
    "self_exam": {
        "en": "Your care team at {site}: time for your skin self-check. Look at your chest, "
        "scar and skin for anything new. Reply 1 if nothing has changed, 2 if you noticed a "
        "new spot, lump or rash. Reply STOP to opt out.",
        "es": "Su equipo de atención de {site}: es hora de revisar su piel. Mire su pecho, "
        "la cicatriz y la piel por si hay algo nuevo. Responda 1 si nada ha cambiado, 2 si "
        "notó una mancha, bulto o sarpullido nuevo. Responda STOP para no recibir mensajes.",
    },
    "check_in": {
        "en": "Your care team at {site} is checking in: have you noticed anything new on your "
        "skin? Reply 1 if nothing has changed, 2 if you noticed a new spot, lump or rash.",
        "es": "Su equipo de atención de {site} quiere saber cómo está: ¿notó algo nuevo en su "
        "piel? Responda 1 si nada ha cambiado, 2 si notó una mancha, bulto o sarpullido nuevo.",
    },
    "visit_reminder": {
        "en": "Reminder from your care team at {site}: you have an appointment on {day} at "
        "{hour}{place}. Reply HELP for help, STOP to opt out.",
        "es": "Recordatorio de su equipo de atención de {site}: tiene una cita el {day} a las "
        "{hour}{place}. Responda HELP para ayuda, STOP para no recibir mensajes.",
    },
    "help": {
        "en": "Your care team at {site}{contact}. Reply STOP to stop messages, START to "
        "receive them again.",
        "es": "Su equipo de atención de {site}{contact}. Responda STOP para no recibir "
        "mensajes, START para recibirlos de nuevo.",
    },
    "report_received": {
        "en": "Thank you. A member of your care team at {site} will be in touch with you {when}.",
        "es": "Gracias. Una persona de su equipo de atención de {site} se pondrá en contacto "
        "con usted {when}.",
    },
    "visit_booked": {
        "en": "Your care team at {site} has booked an appointment for you on {day} at "
        "{hour}{place}. Reply HELP for help.",
        "es": "Su equipo de atención de {site} le ha reservado una cita el {day} a las "
        "{hour}{place}. Responda HELP para ayuda.",
    },
    # A questionnaire's question, one per message (kind "question"): the app that asks
    # gives the question's own words as {text}.
    "question": {
        "en": "{intro}{retry}({number}/{total}) {text}",
        "es": "{intro}{retry}({number}/{total}) {text}",
    },
    "question_intro": {
        "en": "Your care team at {site} would like to know more. Answer here, or use this "
        "private link (valid {hours} h): {link} ",
        "es": "Su equipo de atención de {site} quiere saber más. Responda aquí o use este "
        "enlace privado (válido {hours} h): {link} ",
    },
    "question_retry": {
        "en": "Sorry, we did not understand. Please reply with a number. ",
        "es": "Perdone, no le entendimos. Responda con un número. ",
    },
    # A care team member's own words, from the inbox (the form refuses a diagnosis word).
    "reply": {
        "en": "Your care team at {site}: {text}",
        "es": "Su equipo de atención de {site}: {text}",
    },
    "opted_in": {
        "en": "You will receive messages from your care team at {site} again. Reply STOP to "
        "opt out.",
        "es": "Volverá a recibir mensajes de su equipo de atención de {site}. Responda STOP "
        "para no recibir mensajes.",
    },
}

CONTACT = {"en": ", call {phone}", "es": ", llame al {phone}"}
# When the care team will be in touch, by urgency of the report.
WHEN = {
    "urgent": {"en": "within one working day", "es": "en el plazo de un día laborable"},
    "routine": {"en": "within three working days", "es": "en un plazo de tres días laborables"},
}


def contact_line(language: str, phone: str) -> str:
    """ ", call +1..." in the patient's language, or nothing without a number."""
    return CONTACT.get(language, CONTACT["en"]).format(phone=phone) if phone else ""


# Words that must never appear in an SMS, compared case-insensitively as the start
# of a word ("onco" is refused in "Oncology Clinic", not in "Concord").
DIAGNOSIS_WORDS = (
    "cancer",
    "cáncer",
    "tumour",
    "tumor",
    "metasta",
    "oncolog",
    "biopsy",
    "biopsia",
    "carcinoma",
    "malignan",
    "maligno",
    "recurrence",
    "recurrencia",
    "chemo",
    "quimio",
    "radiotherap",
    "radioterapia",
    "her2",
    "mastectom",
    "lymph",
    "linfático",
    "diagnos",
    "breast",
    "mama",
    "mamari",
    "mammo",
    "mamogra",
    "onco",
    "radiation",
    "radiaci",
    "carcinom",
    "palliativ",
    "paliativ",
    "hospice",
)

_DIAGNOSIS = re.compile(
    r"(?<!\w)(" + "|".join(re.escape(word) for word in DIAGNOSIS_WORDS) + ")", re.IGNORECASE
)
# What a free-text blank becomes when it would name a diagnosis (the rest become "").
NEUTRAL = {"site": {"en": "your clinic", "es": "su centro"}}


def names_a_diagnosis(text: str) -> str:
    """The first diagnosis word `text` contains (as the start of a word), or ""."""
    found = _DIAGNOSIS.search(text or "")
    return found.group(1).lower() if found else ""


def neutral_blank(name: str, value: str, language: str) -> str:
    """A blank's value, or neutral words if it would name a diagnosis on a lock screen.

    An empty site is neutral words too: a number several sites share, or nobody's,
    still gets an answer to HELP and START that reads as a sentence.
    """
    if not isinstance(value, str):
        return value
    if not names_a_diagnosis(value) and (value or name not in NEUTRAL):
        return value
    if value:
        logger.warning("SMS blank {%s} named a diagnosis: replaced by neutral words", name)
    words = NEUTRAL.get(name, {})
    return words.get(language, words.get("en", ""))


def placeholders(kind: str) -> set[str]:
    return {
        name
        for text in TEMPLATES[kind].values()
        for _, name, _, _ in Formatter().parse(text)
        if name
    }


def render(kind: str, language: str, **context: str) -> str:
    """The message text in the patient's language (English when it has none).

    Free text in the blanks (a site's name, a visit's place) is checked once
    more here: one that names a diagnosis is replaced by neutral words.
    """
    texts = TEMPLATES[kind]
    context = {name: neutral_blank(name, value, language) for name, value in context.items()}
    return texts.get(language, texts["en"]).format(**context)
