"""The words patients receive, in English and Spanish.

SMS is not a private channel: a message may be read on a locked screen or by
someone else. No template may name a diagnosis or a treatment; they speak of
"your care team" only (tests/notifications/test_sms_templates.py enforces it).
"""

from string import Formatter

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
    # The SMS lesion questionnaire (surveillance/questionnaire.py): one question per
    # message, kind "question". The options are numbered in the order of
    # surveillance.triage.QUESTIONS; "question" wraps one of the question_* texts.
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
    "question_location": {
        "en": "Where is it? Reply 1 near your scar, 2 on your chest, 3 somewhere else.",
        "es": "¿Dónde está? Responda 1 cerca de la cicatriz, 2 en el pecho, 3 en otro lugar.",
    },
    "question_onset": {
        "en": "How did it appear? Reply 1 suddenly or it is growing fast, 2 slowly.",
        "es": "¿Cómo apareció? Responda 1 de repente o crece rápido, 2 poco a poco.",
    },
    "question_feel": {
        "en": "How does it feel? Reply 1 a firm lump, 2 flat, 3 dry or scaly.",
        "es": "¿Cómo se siente al tocarlo? Responda 1 un bulto firme, 2 plano, 3 seco o escamoso.",
    },
    "question_colour": {
        "en": "What colour is it? Reply 1 like your skin, 2 pink, 3 red, 4 purple.",
        "es": "¿De qué color es? Responda 1 como su piel, 2 rosado, 3 rojo, 4 morado.",
    },
    "question_itch": {
        "en": "Does it itch? Reply 1 yes, 2 no.",
        "es": "¿Le pica? Responda 1 sí, 2 no.",
    },
    "question_pain": {
        "en": "Does it hurt? Reply 1 yes, 2 no.",
        "es": "¿Le duele? Responda 1 sí, 2 no.",
    },
    "question_bleeding": {
        "en": "Does it bleed, or is it an open sore? Reply 1 yes, 2 no.",
        "es": "¿Sangra o es una llaga abierta? Responda 1 sí, 2 no.",
    },
    "question_count": {
        "en": "How many are there? Reply 1 just one, 2 more than one.",
        "es": "¿Cuántos hay? Responda 1 solo uno, 2 más de uno.",
    },
    "question_duration": {
        "en": "How long have you had it? Reply 1 two weeks or less, 2 more than two weeks.",
        "es": "¿Desde cuándo lo tiene? Responda 1 dos semanas o menos, 2 más de dos semanas.",
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


# Words that must never appear in an SMS (compared case-insensitively).
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
)


def placeholders(kind: str) -> set[str]:
    return {
        name
        for text in TEMPLATES[kind].values()
        for _, name, _, _ in Formatter().parse(text)
        if name
    }


def render(kind: str, language: str, **context: str) -> str:
    """The message text in the patient's language (English when it has none)."""
    texts = TEMPLATES[kind]
    return texts.get(language, texts["en"]).format(**context)
