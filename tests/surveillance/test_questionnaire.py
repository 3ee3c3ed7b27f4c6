"""The SMS lesion questionnaire, driven through the real signed Twilio webhook.

A patient who finds something new on their skin must reach a human in time,
whatever they type: every conversation, finished or not, ends as a report and
a flag, and nothing they wrote is lost.
"""

import importlib
import math
import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.apps import apps
from django.db import connection, transaction
from django.utils import timezone

from notifications.models import Contact, Message
from notifications.sms_templates import DIAGNOSIS_WORDS, TEMPLATES, render
from surveillance import alerts, questionnaire
from surveillance.lesions import record_report
from surveillance.models import Flag, LesionReport, Questionnaire, ReportLink, SelfExamCheck
from surveillance.triage import QUESTIONS
from surveillance.wording import sms_question
from tests.factories import CohortFactory, PatientFactory, UserFactory
from tests.fake_twilio import FAKE_AUTH_TOKEN, inbound_sms_params, public_url, signed_post_kwargs

pytestmark = [pytest.mark.django_db]

SMS_PATH = "/webhooks/twilio/sms/"
BASE_URL = "https://surveillance.example.org"
MORNING = "2026-06-01 14:00Z"  # Monday 10:00 in New York: SMS may go out
NEW_YORK = ZoneInfo("America/New_York")
STEPS = list(QUESTIONS)
# One answer per question, in order: no red flag at all.
NO_RED_FLAGS = ["3", "2", "2", "1", "1", "2", "2", "1", "1"]
# Near the scar, sudden, firm lump, red, not itchy, painless, not bleeding, one, > 2 weeks.
SIX_RED_FLAGS = ["1", "1", "1", "3", "2", "2", "2", "1", "2"]
# Only "somewhere else" changed to "near the scar": one red flag.
ONE_RED_FLAG = ["1", *NO_RED_FLAGS[1:]]


@pytest.fixture(autouse=True)
def twilio_settings(settings):
    settings.PUBLIC_BASE_URL = BASE_URL
    settings.TWILIO_AUTH_TOKEN = FAKE_AUTH_TOKEN
    settings.QUESTIONNAIRE_TIMEOUT_HOURS = 24
    settings.REPORT_LINK_HOURS = 72


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(MORNING, tick=True) as traveller:
        yield traveller


@pytest.fixture
def cohort():
    return CohortFactory(site="North Hospital", contact_phone="+12015550199")


@pytest.fixture
def patient(cohort):
    return PatientFactory(cohort=cohort, phone="+12015550123", timezone="America/New_York")


@pytest.fixture
def spanish_patient(cohort):
    return PatientFactory(
        cohort=cohort, phone="+12015550124", timezone="America/New_York", language="es"
    )


def say(client, patient, body) -> Message:
    """The patient texts `body`; returns the stored, routed inbound message."""
    params = inbound_sms_params(patient.phone, body)
    response = client.post(
        SMS_PATH, **signed_post_kwargs(public_url(SMS_PATH), params, FAKE_AUTH_TOKEN)
    )
    assert response.status_code == 200
    return Message.objects.get(provider_sid=params["MessageSid"])


def converse(client, patient, bodies) -> list[str]:
    return [say(client, patient, body).routed_as for body in bodies]


def questions(patient) -> list[Message]:
    return list(
        Message.objects.filter(patient=patient, kind="question").order_by("created_on", "pk")
    )


def to_minute(moment: datetime) -> datetime:
    """New York time to the minute (the test clock ticks)."""
    return moment.astimezone(NEW_YORK).replace(second=0, microsecond=0)


def open_questionnaire(patient) -> Questionnaire | None:
    return Questionnaire.objects.filter(patient=patient, closed_at__isnull=True).first()


def sms_segments(text: str) -> int:
    """How many SMS a text takes: GSM-7 (160, or 153 a part) or UCS-2 (70, or 67)."""
    basic = (
        "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ ÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
        "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
    )
    extended = "^{}\\[~]|€"
    if all(char in basic or char in extended for char in text):
        length = sum(2 if char in extended else 1 for char in text)
        return 1 if length <= 160 else math.ceil(length / 153)
    length = len(text.encode("utf-16-le")) // 2
    return 1 if length <= 70 else math.ceil(length / 67)


# --- the whole conversation ------------------------------------------------------


def test_it_takes_a_whole_conversation_in_english_to_a_complete_report(client, patient):
    labels = converse(client, patient, ["2", *SIX_RED_FLAGS])

    assert labels == ["questionnaire_started"] + ["questionnaire_answer"] * 8 + [
        "questionnaire_done"
    ]
    report = LesionReport.objects.get(patient=patient)
    assert (report.channel, report.complete, report.note) == ("sms", True, "")
    assert report.answers == {
        "location": "near_scar",
        "onset": "sudden_or_fast",
        "feel": "firm_lump",
        "colour": "red",
        "itch": "no",
        "pain": "no",
        "bleeding": "no",
        "count": "one",
        "duration": "over_two_weeks",
    }
    asked = questions(patient)
    assert [q.body.split(") ", 1)[1] for q in asked] == [sms_question(step, "en") for step in STEPS]
    assert all(q.is_reply and q.direction == "outbound" for q in asked)
    assert asked[1].body.startswith("(2/9) How did it appear?")
    # every message of the conversation is kept with the report: 10 in, 9 out
    linked = report.messages.all()
    assert sorted(m.direction for m in linked) == ["inbound"] * 10 + ["outbound"] * 9
    done = Questionnaire.objects.get(patient=patient)
    assert done.closed_at is not None and done.report == report
    assert SelfExamCheck.objects.get(patient=patient).result == "something_new"
    # one flag; the acknowledgement is the only closing message
    flag = Flag.objects.get(report=report)
    assert flag.urgency == "urgent"
    ack = Message.objects.get(patient=patient, kind="report_received")
    assert "within one working day" in ack.body and ack.is_reply
    assert not Message.objects.filter(patient=patient, needs_review=True).exists()


def test_it_takes_a_whole_conversation_in_spanish_to_a_complete_report(client, spanish_patient):
    labels = converse(client, spanish_patient, ["2", *NO_RED_FLAGS])

    assert labels[-1] == "questionnaire_done"
    asked = questions(spanish_patient)
    assert asked[0].body.startswith("Su equipo de atención de North Hospital quiere saber más")
    where = "(1/9) " + sms_question("location", "es")
    assert asked[0].body.endswith(where)
    assert asked[4].body == "(5/9) ¿Le pica? Responda 1 sí, 2 no."
    report = LesionReport.objects.get(patient=spanish_patient)
    assert report.complete and len(report.answers) == 9
    assert report.answers["location"] == "elsewhere"
    assert report.flag.urgency == "routine"
    ack = Message.objects.get(patient=spanish_patient, kind="report_received")
    assert ack.body.startswith("Gracias.") and "tres días laborables" in ack.body


@pytest.mark.parametrize(
    ("answers", "urgency"),
    [(SIX_RED_FLAGS, "urgent"), (ONE_RED_FLAG, "routine"), (NO_RED_FLAGS, "routine")],
    ids=["six red flags", "one red flag", "none"],
)
def test_it_makes_the_flag_urgent_from_two_red_flags(client, patient, answers, urgency):
    converse(client, patient, ["2", *answers])

    assert Flag.objects.get(patient=patient).urgency == urgency


def test_it_makes_an_open_sore_urgent_on_its_own(client, patient):
    bleeding = list(NO_RED_FLAGS)
    bleeding[STEPS.index("bleeding")] = "1"

    converse(client, patient, ["2", *bleeding])

    flag = Flag.objects.get(patient=patient)
    assert flag.urgency == "urgent"
    assert flag.report.answers["bleeding"] == "yes"


def test_it_makes_a_very_high_patients_report_urgent(client, cohort):
    patient = PatientFactory(cohort=cohort, tier="very_high", phone="+12015550125")

    converse(client, patient, ["2", *NO_RED_FLAGS])

    flag = Flag.objects.get(patient=patient)
    assert flag.urgency == "urgent"
    assert any("Very-high-risk" in reason for reason in flag.reasons)


# --- a flag from the first message -------------------------------------------------


def test_a_2_is_a_flag_at_once_due_from_that_message(client, patient):
    message = say(client, patient, "2")

    flag = Flag.objects.get(patient=patient)
    assert (flag.status, flag.urgency, flag.report.complete) == ("open", "routine", False)
    assert flag.report.messages.filter(pk=message.pk).exists()
    assert flag.created_at <= message.created_on + timedelta(seconds=5)
    # Routine: three business days from Monday 10:00 in New York.
    assert to_minute(flag.review_due_at) == datetime(2026, 6, 4, 10, 0, tzinfo=NEW_YORK)
    assert not Message.objects.filter(patient=patient, kind="report_received").exists()


def test_a_very_high_patients_first_message_is_urgent_and_alerts_at_once(
    client, cohort, django_capture_on_commit_callbacks, monkeypatch
):
    patient = PatientFactory(cohort=cohort, tier="very_high", phone="+12015550125")
    alerted = []
    monkeypatch.setattr(alerts.alert_urgent_flag, "delay", alerted.append)

    with django_capture_on_commit_callbacks(execute=True):
        say(client, patient, "I found a lump")

    flag = Flag.objects.get(patient=patient)
    assert flag.urgency == "urgent"
    assert alerted == [flag.pk]


def test_each_answer_triages_the_same_flag_again_and_urgency_only_rises(
    client, patient, django_capture_on_commit_callbacks, monkeypatch
):
    alerted = []
    monkeypatch.setattr(alerts.alert_urgent_flag, "delay", alerted.append)
    say(client, patient, "2")
    flag = Flag.objects.get(patient=patient)

    with django_capture_on_commit_callbacks(execute=True):
        converse(client, patient, ["1"])  # near the scar: one red flag
    assert Flag.objects.get(pk=flag.pk).urgency == "routine"

    with django_capture_on_commit_callbacks(execute=True):
        converse(client, patient, ["1"])  # sudden or fast: two red flags
    raised = Flag.objects.get(patient=patient)
    assert (raised.pk, raised.urgency) == (flag.pk, "urgent")
    assert alerted == [flag.pk]
    # The deadline counts from the first message: one business day after it.
    assert to_minute(raised.review_due_at) == datetime(2026, 6, 2, 10, 0, tzinfo=NEW_YORK)

    converse(client, patient, NO_RED_FLAGS[2:])  # the rest: no more red flags
    done = Flag.objects.get(pk=flag.pk)
    assert (done.urgency, done.report.complete) == ("urgent", True)
    assert Message.objects.filter(patient=patient, kind="report_received").count() == 1


@pytest.mark.parametrize("words", ["It's bleeding", "Está sangrando", "it is growing fast"])
def test_their_own_words_make_it_urgent_even_if_they_go_silent(client, patient, clock, words):
    converse(client, patient, ["2", words])

    flag = Flag.objects.get(patient=patient)
    assert flag.urgency == "urgent"
    assert any(reason.startswith("Patient's words") for reason in flag.reasons)

    clock.shift(timedelta(hours=25))
    questionnaire.close_expired(timezone.now())
    closed = Flag.objects.get(patient=patient)
    assert (closed.pk, closed.urgency, closed.report.complete) == (flag.pk, "urgent", False)
    assert words in closed.report.note


# --- starting it -------------------------------------------------------------------


def test_it_records_a_self_exam_check_for_1(client, patient):
    message = say(client, patient, " 1. ")

    assert (message.routed_as, message.needs_review) == ("self_exam_ok", False)
    check = SelfExamCheck.objects.get(patient=patient)
    assert (check.result, check.message) == ("nothing_new", message)
    assert not Questionnaire.objects.exists()
    assert not Message.objects.filter(patient=patient, direction="outbound").exists()


def test_it_offers_the_one_time_web_link_in_the_first_question(client, patient):
    say(client, patient, "2")

    link = ReportLink.objects.get(patient=patient)
    assert link.expires_at == link.created_at + timedelta(hours=72)
    assert link.expires_at - timezone.now() > timedelta(hours=71)
    assert link.used_at is None and link.report is None
    first = questions(patient)[0]
    assert f"{BASE_URL}/r/{link.nonce}/" in first.body
    assert "valid 72 h" in first.body
    assert first.body.endswith("(1/9) " + sms_question("location", "en"))
    # later questions carry no link
    say(client, patient, "1")
    assert "/r/" not in questions(patient)[1].body
    assert ReportLink.objects.count() == 1


LESION_TEXTS = [
    "I found a lump",
    "tengo una mancha",
    "New RASH on my arm 😟",
    "Tengo una HINCHAZON cerca de la cicatriz",
    "tengo una hinchazón",
    "a little bump, and some sores.",
    "Me salió un lunar nuevo",
    "my scar is bleeding",  # no lesion word: what it says is enough
    "algo en la piel que crece rápido",
]


@pytest.mark.parametrize("body", LESION_TEXTS)
def test_it_starts_on_words_that_describe_a_lesion_and_keeps_them(client, patient, body):
    message = say(client, patient, body)

    assert message.routed_as == "questionnaire_started"
    assert message.needs_review  # a person reads their own words too
    assert not SelfExamCheck.objects.exists()  # only "2" answers the self-exam
    converse(client, patient, NO_RED_FLAGS)
    report = LesionReport.objects.get(patient=patient)
    assert report.note == body
    assert report.complete and message in report.messages.all()


@pytest.mark.parametrize(
    "body",
    ["3", "hello", "", "🙂", "Spotify is great", "thanks, see you soon", "1 2", "12", "one"],
)
def test_it_leaves_anything_else_to_the_coordinators_inbox(client, patient, body):
    message = say(client, patient, body)

    assert (message.routed_as, message.needs_review) == ("inbox", True)
    assert message.body == body
    assert not Questionnaire.objects.exists() and not SelfExamCheck.objects.exists()


@pytest.mark.parametrize("body", ["2", " 2 ", "2.", "(2)", "２", "2️⃣", "#2!"])
def test_it_tolerates_spaces_punctuation_and_wide_digits(client, patient, body):
    message = say(client, patient, body)

    assert message.routed_as == "questionnaire_started"
    assert SelfExamCheck.objects.get().result == "something_new"


# --- answers it does not understand --------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [("asdf qwer", "🙂👍🏽"), ("", "  "), ("7", "0"), ("maybe", "1 or 2")],
    ids=["garbage then emoji", "empty twice", "out of range", "words"],
)
def test_it_re_asks_an_unclear_answer_once_then_moves_on(client, patient, first, second):
    labels = converse(client, patient, ["2", first, second])

    assert labels == ["questionnaire_started", "questionnaire_reask", "questionnaire_unanswered"]
    asked = questions(patient)
    assert len(asked) == 3
    assert asked[1].body.startswith("Sorry, we did not understand. Please reply with a number.")
    assert asked[1].body.endswith("(1/9) " + sms_question("location", "en"))
    assert asked[2].body.startswith("(2/9) How did it appear?")
    current = open_questionnaire(patient)
    assert (current.step, current.reasked, current.answers) == (1, False, {})

    converse(client, patient, NO_RED_FLAGS[1:])

    report = LesionReport.objects.get(patient=patient)
    assert "location" not in report.answers and len(report.answers) == 8
    assert report.complete
    assert report.messages.filter(body=first, direction="inbound").exists()


def test_it_takes_a_clear_answer_after_a_re_ask(client, patient):
    labels = converse(client, patient, ["2", "??", "1"])

    assert labels[1:] == ["questionnaire_reask", "questionnaire_answer"]
    current = open_questionnaire(patient)
    assert current.answers == {"location": "near_scar"}
    assert (current.step, current.reasked) == (1, False)
    # the next unclear answer is re-asked again: once per question, not once per questionnaire
    assert say(client, patient, "??").routed_as == "questionnaire_reask"


def test_it_understands_yes_and_no_and_numbers_in_words(client, spanish_patient):
    converse(client, spanish_patient, ["2", "uno", "Dos", "tres", "4", "Sí", "no", "NO"])

    answers = open_questionnaire(spanish_patient).answers
    assert answers == {
        "location": "near_scar",
        "onset": "gradual",
        "feel": "scaly",
        "colour": "purple",
        "itch": "yes",
        "pain": "no",
        "bleeding": "no",
    }


def test_it_keeps_free_text_in_the_note_and_shows_it_to_a_person(client, patient):
    converse(client, patient, ["2", "1"])
    words = say(client, patient, "it is bleeding a bit, can someone call me?")

    assert words.routed_as == "questionnaire_reask"
    assert words.needs_review
    converse(client, patient, SIX_RED_FLAGS[1:])
    report = LesionReport.objects.get(patient=patient)
    assert report.note == "it is bleeding a bit, can someone call me?"


# --- STOP, timeouts, several reports ---------------------------------------------------


def test_it_times_out_a_stop_in_the_middle_into_an_incomplete_report(client, patient, clock):
    labels = converse(client, patient, ["2", "1", "2", "STOP"])

    assert labels == [
        "questionnaire_started",
        "questionnaire_answer",
        "questionnaire_answer",
        "opt_out",
    ]
    patient.refresh_from_db()
    assert patient.contact.opted_out_at is not None
    assert len(questions(patient)) == 3  # STOP asked nothing more
    assert open_questionnaire(patient).step == 2
    assert questionnaire.close_expired(timezone.now()) == 0

    clock.shift(timedelta(hours=24, minutes=1))

    assert questionnaire.close_expired(timezone.now()) == 1
    report = LesionReport.objects.get(patient=patient)
    assert not report.complete
    assert report.answers == {"location": "near_scar", "onset": "gradual"}
    assert report.messages.filter(body="STOP").count() == 0  # routed as an opt-out, kept there
    flag = report.flag
    assert flag.status == "open"
    assert "Questionnaire not finished: answers are partial" in flag.reasons


def test_it_reports_an_answer_after_stop_at_once_without_asking_more(client, patient):
    converse(client, patient, ["2", "1", "STOP"])

    assert say(client, patient, "1").routed_as == "questionnaire_unreachable"

    report = LesionReport.objects.get(patient=patient)
    assert not report.complete
    assert report.answers == {"location": "near_scar", "onset": "sudden_or_fast"}
    assert len(questions(patient)) == 2
    assert open_questionnaire(patient) is None


def test_it_reports_an_opted_out_patient_who_texts_about_a_lump_at_once(client, patient):
    Contact.objects.filter(patients=patient).update(opted_out_at=timezone.now())

    assert say(client, patient, "I found a lump").routed_as == "questionnaire_unreachable"

    report = LesionReport.objects.get(patient=patient)
    assert (report.complete, report.note, report.answers) == (False, "I found a lump", {})
    assert questions(patient) == []
    assert not ReportLink.objects.exists()


def test_it_takes_two_reports_in_a_row(client, patient):
    converse(client, patient, ["2", *SIX_RED_FLAGS])
    labels = converse(client, patient, ["2", *NO_RED_FLAGS])

    assert labels[0] == "questionnaire_started" and labels[-1] == "questionnaire_done"
    first, second = Questionnaire.objects.filter(patient=patient).order_by("pk")
    assert first.report != second.report
    assert first.messages.count() == second.messages.count() == 19
    assert not set(first.messages.all()) & set(second.messages.all())
    urgencies = (
        Flag.objects.filter(patient=patient).order_by("pk").values_list("urgency", flat=True)
    )
    assert list(urgencies) == ["urgent", "routine"]
    assert Message.objects.filter(patient=patient, kind="report_received").count() == 2
    assert ReportLink.objects.filter(patient=patient).count() == 2


def test_it_counts_the_timeout_from_the_last_message(client, patient, clock):
    converse(client, patient, ["2", "1"])
    clock.shift(timedelta(hours=20))
    say(client, patient, "1")
    clock.shift(timedelta(hours=20))  # 40 h after the start, 20 h after the last answer

    assert questionnaire.close_expired(timezone.now()) == 0
    assert say(client, patient, "1").routed_as == "questionnaire_answer"
    assert open_questionnaire(patient).step == 3


@pytest.mark.parametrize("swept", [True, False], ids=["after the sweep", "before the sweep"])
def test_it_reads_a_reply_after_the_timeout_as_if_none_were_open(client, patient, clock, swept):
    converse(client, patient, ["2", "1"])
    clock.shift(timedelta(hours=25))
    if swept:
        assert questionnaire.close_expired(timezone.now()) == 1

    message = say(client, patient, "1")

    assert message.routed_as == "self_exam_ok"
    report = LesionReport.objects.get(patient=patient)
    assert (report.complete, report.answers) == (False, {"location": "near_scar"})
    assert message not in report.messages.all()
    assert open_questionnaire(patient) is None
    assert Flag.objects.filter(patient=patient).count() == 1
    # and a late "3" is for a person to read
    assert say(client, patient, "3").routed_as == "inbox"


def test_it_starts_a_new_questionnaire_on_a_2_after_the_timeout(client, patient, clock):
    converse(client, patient, ["2", "1"])
    clock.shift(timedelta(hours=25))

    assert say(client, patient, "2").routed_as == "questionnaire_started"

    first, second = Flag.objects.filter(patient=patient).order_by("pk")
    assert (first.report.complete, first.report.answers) == (False, {"location": "near_scar"})
    assert open_questionnaire(patient).report == second.report
    assert open_questionnaire(patient).step == 0


def test_it_closes_an_expired_one_once_even_when_run_twice(client, patient, cohort, clock):
    other = PatientFactory(cohort=cohort, phone="+12015550126")
    started = timezone.now()
    converse(client, patient, ["2", "3", "2"])
    clock.shift(timedelta(hours=12))
    say(client, other, "2")  # still fresh at the sweep below
    clock.shift(timedelta(hours=13))

    now = timezone.now()
    assert questionnaire.close_expired(now) == 1
    assert questionnaire.close_expired(now) == 0
    assert questionnaire.close_expired(timezone.now()) == 0

    flag = Flag.objects.get(patient=patient)
    # The report is as old as the first message, not the sweep.
    assert started <= flag.report.created_at < started + timedelta(minutes=1)
    assert not flag.report.complete
    assert flag.report.answers == {"location": "elsewhere", "onset": "gradual"}
    assert flag.report.messages.count() == 6  # 3 in, 3 questions out
    assert Message.objects.filter(patient=patient, kind="report_received").count() == 1
    assert open_questionnaire(other) is not None


def test_it_closes_more_expired_questionnaires_than_a_batch(client, cohort, clock):
    patients = [PatientFactory(cohort=cohort, phone=f"+1201555014{i}") for i in range(5)]
    for patient in patients:
        say(client, patient, "2")
    clock.shift(timedelta(hours=25))

    assert questionnaire.close_expired(timezone.now(), batch=2) == 5

    assert LesionReport.objects.filter(complete=False).count() == 5
    assert not Questionnaire.objects.filter(closed_at__isnull=True).exists()


@pytest.mark.django_db(transaction=True)
def test_it_skips_an_expired_questionnaire_another_transaction_holds(client, clock):
    # the data migration's protocol: a `transactional_db` flush of an earlier test drops it
    importlib.import_module("scheduling.migrations.0001_initial").load_default_protocol(apps, None)
    patient = PatientFactory(phone="+12015550127")
    say(client, patient, "2")
    clock.shift(timedelta(hours=25))
    held, release, done = threading.Event(), threading.Event(), threading.Event()

    def hold_the_row():
        try:
            with transaction.atomic():
                Questionnaire.objects.select_for_update().get(patient=patient)
                held.set()
                release.wait(60)
        finally:
            connection.close()
            done.set()

    holder = threading.Thread(target=hold_the_row)
    holder.start()
    assert held.wait(60)
    try:
        assert questionnaire.close_expired(timezone.now()) == 0  # skipped, not waited for
    finally:
        release.set()
        holder.join(60)
    assert done.is_set()

    assert questionnaire.close_expired(timezone.now()) == 1
    assert Flag.objects.filter(patient=patient).count() == 1


def test_a_web_report_completes_the_open_questionnaires_report(client, patient, clock):
    converse(client, patient, ["I found a lump", "1"])
    sms_flag = Flag.objects.get(patient=patient)

    flag = record_report(patient, "web", {"onset": "gradual", "colour": "pink"})

    assert flag == sms_flag  # one lesion, one flag
    closed = Questionnaire.objects.get(patient=patient)
    assert closed.closed_at is not None and closed.report == flag.report
    assert flag.report.answers == {"location": "near_scar", "onset": "gradual", "colour": "pink"}
    assert flag.report.messages.count() == 4  # 2 in, 2 questions out
    assert Message.objects.filter(patient=patient, kind="report_received").count() == 1
    clock.shift(timedelta(hours=25))
    assert questionnaire.close_expired(timezone.now()) == 0
    assert Flag.objects.filter(patient=patient).count() == 1


# --- the texts ------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "es"])
def test_it_asks_short_numbered_questions_without_diagnosis_words(language):
    for index, (step, options) in enumerate(QUESTIONS.items()):
        text = sms_question(step, language)
        body = render(
            "question",
            language,
            intro="",
            retry=render("question_retry", language),
            number=str(index + 1),
            total="9",
            text=text,
        )
        assert sms_segments(body) <= 3, body
        assert [str(n) in text for n in range(1, len(options) + 2)] == [True] * len(options) + [
            False
        ]
    for kind in [k for k in TEMPLATES if k.startswith("question")]:
        lowered = TEMPLATES[kind][language].lower()
        assert [word for word in DIAGNOSIS_WORDS if word in lowered] == []


def test_it_keeps_the_english_first_question_within_three_segments(client, patient):
    say(client, patient, "2")

    assert sms_segments(questions(patient)[0].body) <= 3


# --- reading answers (pure) ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "options", "expected"),
    [
        ("1", 3, 1),
        (" 3 ", 3, 3),
        ("3.", 3, 3),
        ("３", 4, 3),
        ("4️⃣", 4, 4),
        ("\u200b2\u200b", 2, 2),
        ("4", 3, None),
        ("0", 3, None),
        ("", 3, None),
        ("🙂", 3, None),
        ("1 2", 3, None),
        ("yes", 2, None),  # yes/no only for yes/no questions
        ("three", 3, 3),
        ("cuatro", 4, 4),
    ],
)
def test_it_parses_answers(body, options, expected):
    assert questionnaire.parse_answer(body, options) == expected


@pytest.mark.parametrize(
    ("body", "expected"), [("Yes!", 1), ("sí", 1), ("SI", 1), ("no.", 2), ("nope", None)]
)
def test_it_parses_yes_and_no(body, expected):
    assert questionnaire.parse_answer(body, 2, yes_no=True) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("I found a LUMP", True),
        ("Tengo una hinchazón", True),
        ("sarpullido!", True),
        ("2 spots", True),
        ("spotify", False),
        ("lumpy", False),
        ("nothing new", False),
    ],
)
def test_it_recognises_lesion_words_as_whole_words(body, expected):
    assert questionnaire.mentions_a_lesion(body) is expected


# --- open questionnaires are visible ------------------------------------------------------


def test_an_open_questionnaire_shows_on_its_flag_and_on_the_dashboard(client, api, patient):
    coordinator = UserFactory(role="coordinator")
    patient.cohort.coordinators.add(coordinator)
    say(client, patient, "2")
    flag = Flag.objects.get(patient=patient)

    listed = api(coordinator).get("/api/v1/flags/").json()["results"]
    detail = api(coordinator).get(f"/api/v1/flags/{flag.pk}/").json()
    dashboard = api(coordinator).get("/api/v1/dashboard/").json()

    assert [row["questionnaire_open"] for row in listed] == [True]
    assert detail["questionnaire_open"] is True
    assert dashboard["totals"]["questionnaires_open"] == 1

    converse(client, patient, NO_RED_FLAGS)

    assert api(coordinator).get(f"/api/v1/flags/{flag.pk}/").json()["questionnaire_open"] is False
    recount = api(coordinator).get("/api/v1/dashboard/?fresh=1").json()  # kept a minute
    assert recount["totals"]["questionnaires_open"] == 0


def test_one_questionnaire_that_fails_to_close_does_not_block_the_others(
    client, cohort, clock, monkeypatch
):
    patients = [PatientFactory(cohort=cohort, phone=f"+1201555015{i}") for i in range(3)]
    for patient in patients:
        say(client, patient, "2")
    clock.shift(timedelta(hours=25))
    broken = open_questionnaire(patients[1]).pk
    finish = questionnaire._finish

    def finish_or_fail(one, **kwargs):
        if one.pk == broken:
            raise RuntimeError("a bad row")
        return finish(one, **kwargs)

    monkeypatch.setattr(questionnaire, "_finish", finish_or_fail)

    assert questionnaire.close_expired(timezone.now(), batch=2) == 2

    assert [open_questionnaire(patient) is None for patient in patients] == [True, False, True]
    monkeypatch.setattr(questionnaire, "_finish", finish)
    assert questionnaire.close_expired(timezone.now()) == 1  # retried on the next run
