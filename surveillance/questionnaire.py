"""The SMS lesion questionnaire: one question per message, answers as numbers.

A self-exam reminder asks "Reply 1 if nothing has changed, 2 if you noticed a
new spot, lump or rash". The inbound handler registered here:

- with no questionnaire open: "1" records a self-exam with nothing new; "2",
  or words such as lump, spot, rash, bulto, mancha (any case, accents or
  not, whole words), start a questionnaire whose first question also offers
  a one-time link to the web form. Anything else is left to the
  coordinators' inbox.
- with a questionnaire open: the message answers the current question (a
  number, tolerating spaces, punctuation, full-width digits, a keycap emoji,
  "yes"/"no"); an unclear answer re-asks the question once, a second one
  leaves it unanswered and moves on. After the last question the
  questionnaire becomes a report and a flag (`lesions.record_report`, which
  also thanks the patient).

An unfinished questionnaire times out QUESTIONNAIRE_TIMEOUT_HOURS after the
patient's last message and still becomes a report, marked incomplete
(`close_expired`, run by beat): a clinician looks at every one. Nothing the
patient wrote is lost: every message of the conversation is linked to the
report, their own words (anything that was not a numbered answer) go to the
report's note, and a coordinator is asked to read them (`needs_review`).
"""

import logging
import re
import unicodedata
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from cohorts import messaging
from cohorts.models import Patient
from notifications import hooks
from notifications.models import Message
from notifications.sms_templates import render

from .lesions import raised_a_flag, record_report, retriage, thank_patient
from .models import Flag, Questionnaire, ReportLink, SelfExamCheck
from .triage import QUESTIONS, words_reasons
from .wording import sms_question

logger = logging.getLogger(__name__)

STEPS: tuple[str, ...] = tuple(QUESTIONS)

# Words that mean "I found something new on my skin", accents and case removed.
LESION_WORDS = frozenset(
    {
        # English
        "lump", "lumps", "spot", "spots", "rash", "rashes", "bump", "bumps", "sore", "sores",
        "mole", "moles", "swelling", "swellings", "nodule", "nodules", "lesion", "lesions",
        # Spanish
        "bulto", "bultos", "bolita", "bolitas", "mancha", "manchas", "sarpullido",
        "sarpullidos", "roncha", "ronchas", "llaga", "llagas", "grano", "granos",
        "hinchazon", "hinchazones", "lunar", "lunares", "nodulo", "nodulos",
        "lesiones",
    }
)  # fmt: skip
# Answers in words, for patients who spell them out.
NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4,
    "uno": 1, "una": 1, "dos": 2, "tres": 3, "cuatro": 4,
}  # fmt: skip
YES_NO_WORDS = {"yes": 1, "y": 1, "yeah": 1, "si": 1, "no": 2, "n": 2}
# Invisible characters phones add to digits and emoji (variation selectors,
# the keycap of "2️⃣", zero-width joiners and spaces, byte-order marks).
_INVISIBLE = dict.fromkeys(map(ord, "\ufe0e\ufe0f\u20e3\u200b\u200c\u200d\u2060\ufeff"))


# --- reading what the patient wrote (pure) -------------------------------------


def _is_edge_noise(char: str) -> bool:
    return char.isspace() or unicodedata.category(char)[0] in "PSZC"


def normalise(body: str) -> str:
    """NFKC (full-width digits -> ASCII), invisible marks removed, casefolded, and
    spaces, punctuation and symbols (emoji) trimmed from both ends."""
    text = unicodedata.normalize("NFKC", body or "").translate(_INVISIBLE).casefold()
    start, end = 0, len(text)
    while start < end and _is_edge_noise(text[start]):
        start += 1
    while end > start and _is_edge_noise(text[end - 1]):
        end -= 1
    return text[start:end]


def _without_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def number(body: str) -> int | None:
    """The number the message is, if it is one number and nothing else: "2", " 2 ",
    "2.", "(2)", "２", "2️⃣"."""
    text = normalise(body)
    return int(text) if text and text.isdecimal() and len(text) <= 3 else None


def parse_answer(body: str, options: int, yes_no: bool = False) -> int | None:
    """The option (1..options) the message chooses, or None when it is unclear."""
    choice = number(body)
    if choice is None:
        word = _without_accents(normalise(body))
        choice = NUMBER_WORDS.get(word)
        if choice is None and yes_no:
            choice = YES_NO_WORDS.get(word)
    return choice if choice is not None and 1 <= choice <= options else None


def mentions_a_lesion(body: str) -> bool:
    """Whether the message names a new spot, lump, rash... (whole words, any case or accents)."""
    words = re.findall(r"\w+", _without_accents(unicodedata.normalize("NFKC", body).casefold()))
    return any(word in LESION_WORDS for word in words)


def reads_as_report(body: str) -> bool:
    """A new lesion reported: "2" to a self-exam reminder, lesion words, or words that it bleeds
    or grows fast."""
    return number(body) == 2 or mentions_a_lesion(body) or bool(words_reasons(body))


def is_free_text(body: str) -> bool:
    """Words of the patient's own (not a number, not a bare answer word): a person reads them."""
    text = _without_accents(normalise(body))
    if not any(char.isalpha() for char in text):
        return False
    return text not in NUMBER_WORDS and text not in YES_NO_WORDS


def _is_yes_no(step: int) -> bool:
    return QUESTIONS[STEPS[step]] == ("yes", "no")


# --- the conversation ------------------------------------------------------------


def _expiry(moment: datetime) -> datetime:
    return moment + timedelta(hours=settings.QUESTIONNAIRE_TIMEOUT_HOURS)


def _report_link(patient: Patient, moment: datetime) -> str:
    link = ReportLink.objects.create(
        patient=patient,
        created_at=moment,
        expires_at=moment + timedelta(hours=settings.REPORT_LINK_HOURS),
    )
    return settings.PUBLIC_BASE_URL.rstrip("/") + f"/r/{link.nonce}/"


def _ask(questionnaire: Questionnaire, patient: Patient, *, retry: bool = False, link: str = ""):
    """Queue the current question (once per questionnaire, step and attempt)."""
    step, language, site = questionnaire.step, patient.language, patient.cohort.site
    intro = ""
    if link:
        hours = str(settings.REPORT_LINK_HOURS)
        intro = render("question_intro", language, site=site, link=link, hours=hours)
    message = messaging.queue(
        patient,
        Message.Kind.QUESTION,
        f"questionnaire:{questionnaire.pk}:step:{step}:attempt:{2 if retry else 1}",
        is_reply=True,
        intro=intro,
        retry=render("question_retry", language, site=site) if retry else "",
        number=str(step + 1),
        total=str(len(STEPS)),
        text=sms_question(STEPS[step], language),
    )
    questionnaire.messages.add(message)


def _note(questionnaire: Questionnaire) -> str:
    """The patient's own words during the conversation, in order."""
    bodies = questionnaire.messages.filter(direction=Message.Direction.INBOUND).order_by(
        "created_on", "pk"
    )
    return "\n".join(body for body in bodies.values_list("body", flat=True) if is_free_text(body))


def _open_report(questionnaire: Questionnaire, message: Message, moment: datetime) -> Flag:
    """The report and its flag exist from the first message: a clinician sees it at once."""
    flag = record_report(
        questionnaire.patient,
        "sms",
        {},
        complete=False,
        note=_note(questionnaire),
        messages=[message],
        at=moment,
        thank=False,
    )
    questionnaire.report = flag.report
    questionnaire.save(update_fields=["report"])
    return flag


def _update_report(questionnaire: Questionnaire, *, complete: bool = False) -> Flag:
    """Copy the answers and words so far into the report, and triage it again."""
    report = questionnaire.report
    report.answers = {question: code for question, code in questionnaire.answers.items() if code}
    report.complete = complete
    report.note = _note(questionnaire)
    report.save(update_fields=["answers", "complete", "note"])
    report.messages.add(*questionnaire.messages.all())
    return retriage(report.flag)


def _finish(questionnaire: Questionnaire, *, complete: bool, at: datetime) -> Flag:
    """Close the questionnaire: its report is final, triaged once more, the patient thanked."""
    questionnaire.closed_at = at
    questionnaire.save(update_fields=["closed_at"])
    flag = _update_report(questionnaire, complete=complete)
    thank_patient(flag)
    return flag


def _start(message: Message, patient: Patient, moment: datetime) -> str:
    if number(message.body) == 2:
        SelfExamCheck.objects.create(
            patient=patient,
            result=SelfExamCheck.Result.SOMETHING_NEW,
            answered_at=moment,
            message=message,
        )
    questionnaire = Questionnaire.objects.create(
        patient=patient, started_at=moment, expires_at=_expiry(moment)
    )
    questionnaire.messages.add(message)
    # The review clock runs from when the patient wrote (a message from a shared
    # number reaches here only once a coordinator said whose it is).
    _open_report(questionnaire, message, min(moment, message.created_on or moment))
    if not patient.can_receive_sms:
        # No question can reach them (STOP, no consent, bad number): a person calls instead.
        _finish(questionnaire, complete=False, at=moment)
        return "questionnaire_unreachable"
    _ask(questionnaire, patient, link=_report_link(patient, moment))
    return "questionnaire_started"


def _answer(questionnaire: Questionnaire, message: Message, patient: Patient, moment) -> str:
    questionnaire.messages.add(message)
    questionnaire.expires_at = _expiry(moment)  # the timeout counts from their last message
    step = questionnaire.step
    options = QUESTIONS[STEPS[step]]
    choice = parse_answer(message.body, len(options), yes_no=_is_yes_no(step))
    if choice is None and not questionnaire.reasked and patient.can_receive_sms:
        questionnaire.reasked = True
        questionnaire.save(update_fields=["reasked", "expires_at"])
        _update_report(questionnaire)  # their words may say it bleeds
        _ask(questionnaire, patient, retry=True)
        return "questionnaire_reask"
    if choice is not None:
        questionnaire.answers = {**questionnaire.answers, STEPS[step]: options[choice - 1]}
    # else: unclear twice, the question stays unanswered
    questionnaire.step, questionnaire.reasked = step + 1, False
    questionnaire.save(update_fields=["answers", "step", "reasked", "expires_at"])
    if questionnaire.step >= len(STEPS):
        _finish(questionnaire, complete=True, at=moment)
        return "questionnaire_done"
    if not patient.can_receive_sms:
        # They said STOP (or the number failed) mid-way: report what we have now.
        _finish(questionnaire, complete=False, at=moment)
        return "questionnaire_unreachable"
    _update_report(questionnaire)
    _ask(questionnaire, patient)
    return "questionnaire_answer" if choice is not None else "questionnaire_unanswered"


@hooks.handles_replies
def handle_reply(message: Message) -> str:
    """Inbound handler: self-exam answers and the lesion questionnaire ("" = not ours)."""
    if messaging.patient_of(message) is None:
        return ""
    moment = timezone.now()
    # One conversation step at a time per patient (two texts at once must not start
    # two questionnaires); NO KEY UPDATE leaves inserts that reference the patient free.
    patient = (
        Patient.objects.select_for_update(no_key=True)
        .select_related("cohort", "contact")
        .get(pk=message.subject_id)
    )
    questionnaire = (
        Questionnaire.objects.select_for_update()
        .filter(patient=patient, closed_at__isnull=True)
        .first()
    )
    if questionnaire is not None:
        questionnaire.patient = patient
        if raised_a_flag(message):
            # Written before this questionnaire, on a shared phone: a report of its own.
            record_report(
                patient,
                "sms",
                {},
                complete=False,
                note=message.body,
                messages=[message],
                at=message.created_on,
            )
            return "report_from_shared_phone"
        if questionnaire.expires_at > moment:
            _read_by_a_person_if_free_text(message)
            return _answer(questionnaire, message, patient, moment)
        # Timed out but not swept yet: report it as the sweep would, then start afresh.
        _finish(questionnaire, complete=False, at=moment)
    choice = number(message.body)
    if choice == 1:
        SelfExamCheck.objects.create(
            patient=patient,
            result=SelfExamCheck.Result.NOTHING_NEW,
            answered_at=moment,
            message=message,
        )
        return "self_exam_ok"
    if reads_as_report(message.body):
        _read_by_a_person_if_free_text(message)
        return _start(message, patient, moment)
    return ""  # the coordinators' inbox


def _read_by_a_person_if_free_text(message: Message) -> None:
    """The patient's own words go to the coordinators' inbox as well (the router saves it)."""
    if is_free_text(message.body):
        message.needs_review = True


def close_expired(now: datetime, batch: int = 100) -> int:
    """Close questionnaires silent past their expiry; their reports become final, incomplete.

    Each batch commits on its own. Safe to run concurrently (rows another run
    or a reply holds are skipped; they are closed there or on the next run)
    and idempotent (a closed one is never picked again). A row that fails is
    rolled back alone, logged and left for the next run: one bad row never
    blocks the others. Returns how many were closed.
    """
    closed, failed = 0, set()
    while True:
        with transaction.atomic():
            expired = list(
                Questionnaire.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("patient__cohort", "patient__contact", "report")
                .filter(closed_at__isnull=True, expires_at__lte=now)
                .exclude(pk__in=failed)
                .order_by("expires_at", "pk")[:batch]
            )
            for questionnaire in expired:
                if _close_one(questionnaire, now):
                    closed += 1
                else:
                    failed.add(questionnaire.pk)
        if len(expired) < batch:
            return closed


def _close_one(questionnaire: Questionnaire, now: datetime) -> bool:
    try:
        with transaction.atomic():
            _finish(questionnaire, complete=False, at=now)
    except Exception:
        logger.exception("Closing questionnaire %s failed; retrying next run", questionnaire.pk)
        return False
    return True
