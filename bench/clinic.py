"""The work a real clinic has, added in bulk to an enrolled bench cohort (not a benchmark).

Enrolment (common.enrol_cohort) plans only what is still ahead: every visit's window
ends today or later, nothing is booked, no patient has reported anything and no SMS
was ever sent. A clinic that has run for years holds much more, and that is what its
lists and dashboard read. `add_clinic_work()` writes it with a few set-based SQL
statements and bulk_create calls on the real tables, so 100,000 patients take about a
minute on top of enrolment:

- past visits: the visits of the active protocol whose window ended between the
  patient's enrolment and today. Ended more than 180 days ago: 97 % completed, 1 %
  missed, 1.5 % cancelled, 0.5 % still planned (overdue, forgotten). Ended in the
  last 180 days: 80 % completed, 5 % missed, 2 % cancelled, 3 % booked but never
  closed and 10 % still planned (the last two are overdue: the window has ended);
- visits ahead: of those whose window is open today, 25 % completed early and 45 %
  booked; 50 % of those whose window starts within 60 days and 10 % of those in 60-180
  days are booked (`booked_at`, `location`, `next_reminder_at` 7 or 1 day before);
- lesion reports and their flags (triaged by `surveillance.triage`, all nine
  answers): 4 % of patients have a resolved one from the last two years, 0.4 % an
  open one and 0.2 % an acknowledged one raised in the last 4 days, with the review
  deadline of settings.FLAG_REVIEW_BUSINESS_DAYS counted in calendar days, so about
  half of the unresolved ones are overdue. 0.05 % have an SMS questionnaire open;
- messages: one self-exam reminder per month over the last `message_months` months
  (default 6) to each consenting patient enrolled by then (94 % delivered, 1.5 % sent,
  1.5 % failed, 0.5 % undeliverable, 0.5 % expired, 2 % cancelled); a reply "1"/"2"
  to about 35 % of the delivered ones (0.3 % free text that needs review); 3 % of the
  patients have a self-exam reminder queued for the next 24 hours;
- phones and patients: 1 % of the numbers opted out (STOP), 0.3 % refused by the
  provider; 0.5 % of the patients paused for 30 days, 1 % no longer followed up.

The choices are a hash of `seed` and the row's ids (SQL `hashtext`), or `random.Random
(seed)` for the reports: the same seed gives the same clinic. Rows written in SQL get
no history rows (simple_history), as `bulk_create` would not give them either; the
flags do get theirs. Ends with VACUUM ANALYZE, so the planner knows the new sizes.
"""

import random
import time
from datetime import timedelta

from common import DEFAULT_SEED

# Thresholds out of 10,000 ("basis points") of a row's hash bucket.
_BUCKET = "mod(abs(hashtext(concat(%(seed)s::text, {salt}))), 10000)"


def _bucket(salt: str) -> str:
    return _BUCKET.format(salt=salt)


def _tables():
    from cohorts.models import Patient, TumourProfile
    from notifications.models import Contact, Message
    from scheduling.models import ProtocolVisitRule, Visit

    return {
        "patient": Patient._meta.db_table,
        "profile": TumourProfile._meta.db_table,
        "contact": Contact._meta.db_table,
        "message": Message._meta.db_table,
        "visit": Visit._meta.db_table,
        "rule": ProtocolVisitRule._meta.db_table,
    }


def _past_visits(cursor, t, params) -> int:
    """Visits of the active protocol whose window ended between enrolment and today."""
    cursor.execute(
        f"""
        WITH past AS (
            SELECT p.id AS patient_id, p.cohort_id, r.protocol_id, r.kind, d.due, r.window_days,
                   {_bucket("':v:', p.id, ':', r.id, ':', m.month")} AS b,
                   %(today)s::date - (d.due + r.window_days) AS ended_days_ago
            FROM {t["patient"]} p
            JOIN {t["profile"]} tp ON tp.patient_id = p.id
            JOIN {t["rule"]} r ON r.protocol_id = %(protocol)s AND r.tier = p.risk_tier
            CROSS JOIN LATERAL generate_series(
                r.start_month + r.interval_months,
                LEAST(COALESCE(r.end_month, %(follow_up)s), %(follow_up)s),
                r.interval_months
            ) AS m(month)
            CROSS JOIN LATERAL (
                SELECT (tp.treatment_end_date + make_interval(months => m.month))::date AS due
            ) d
            WHERE d.due + r.window_days >= p.enrolled_on
              AND d.due + r.window_days < %(today)s::date
        ), chosen AS (
            SELECT *,
                   CASE WHEN ended_days_ago > 180 THEN
                       CASE WHEN b < 9700 THEN 'completed' WHEN b < 9800 THEN 'missed'
                            WHEN b < 9950 THEN 'cancelled' ELSE 'planned' END
                   ELSE
                       CASE WHEN b < 8000 THEN 'completed' WHEN b < 8500 THEN 'missed'
                            WHEN b < 8700 THEN 'cancelled' WHEN b < 9000 THEN 'booked'
                            ELSE 'planned' END
                   END AS status,
                   (due + time '09:00' + make_interval(mins => 15 * mod(b, 32)))
                       AT TIME ZONE 'UTC' AS appointment
            FROM past
        )
        INSERT INTO {t["visit"]} (
            patient_id, cohort_id, protocol_id, kind, due_date, window_start, window_end, status,
            booked_at, location, note, next_reminder_at, status_changed_at,
            status_changed_by_id, created_on, modified_on
        )
        SELECT patient_id, cohort_id, protocol_id, kind, due, due - window_days, due + window_days,
               status,
               CASE WHEN status IN ('completed', 'booked', 'missed') THEN appointment END,
               CASE WHEN status IN ('completed', 'booked', 'missed')
                    THEN 'Outpatient clinic, level 2' ELSE '' END,
               CASE WHEN status = 'missed' THEN 'Did not attend.' ELSE '' END,
               NULL,
               CASE WHEN status = 'planned' THEN NULL
                    WHEN status = 'cancelled' THEN appointment - interval '10 days'
                    ELSE appointment + interval '2 hours' END,
               NULL, now(), now()
        FROM chosen
        """,
        params,
    )
    return cursor.rowcount


def _visits_ahead(cursor, t, params) -> tuple[int, int]:
    """Visits still ahead: some done early in their window, many booked."""
    cursor.execute(
        f"""
        UPDATE {t["visit"]} v
        SET status = 'completed', booked_at = (v.window_start + time '10:00') AT TIME ZONE 'UTC',
            location = 'Outpatient clinic, level 2',
            status_changed_at = (v.window_start + time '12:00') AT TIME ZONE 'UTC',
            modified_on = now()
        WHERE v.status = 'planned' AND v.window_start < %(today)s::date
          AND v.window_end >= %(today)s::date
          AND {_bucket("':a:', v.id")} < 2500
        """,
        params,
    )
    completed = cursor.rowcount
    cursor.execute(
        f"""
        WITH chosen AS (
            SELECT v.id,
                   (LEAST(v.window_end, GREATEST(v.due_date, %(today)s::date + 1 + mod(b, 14)))
                    + time '09:00' + make_interval(mins => 15 * mod(b, 32)))
                       AT TIME ZONE 'UTC' AS appointment
            FROM (
                SELECT v.*, {_bucket("':a:', v.id")} AS b FROM {t["visit"]} v
                WHERE v.status = 'planned' AND v.window_end >= %(today)s::date
                  AND v.window_start <= %(today)s::date + 180
            ) v
            WHERE (v.window_start <= %(today)s::date AND v.b >= 2500 AND v.b < 7000)
               OR (v.window_start > %(today)s::date AND v.window_start <= %(today)s::date + 60
                   AND v.b < 5000)
               OR (v.window_start > %(today)s::date + 60 AND v.b < 1000)
        )
        UPDATE {t["visit"]} v
        SET status = 'booked', booked_at = c.appointment,
            location = 'Outpatient clinic, level 2',
            next_reminder_at = CASE
                WHEN c.appointment - interval '7 days' > now()
                    THEN c.appointment - interval '7 days'
                WHEN c.appointment - interval '1 day' > now()
                    THEN c.appointment - interval '1 day'
            END,
            status_changed_at = now() - interval '3 days', modified_on = now()
        FROM chosen c
        WHERE v.id = c.id
        """,
        params,
    )
    return completed, cursor.rowcount


def _flags(rng: random.Random, now) -> dict[str, int]:
    """Lesion reports and their flags (bulk_create), and a few open SMS questionnaires."""
    from django.conf import settings
    from simple_history.utils import bulk_create_with_history

    from cohorts.models import Patient
    from surveillance import triage
    from surveillance.models import Flag, LesionReport, Questionnaire

    sla_days = settings.FLAG_REVIEW_BUSINESS_DAYS
    outcomes = [
        (Flag.Outcome.BENIGN, 80),
        (Flag.Outcome.URGENT_VISIT, 10),
        (Flag.Outcome.BIOPSY, 7),
        (Flag.Outcome.RECURRENCE, 1),
        (Flag.Outcome.UNREACHABLE, 2),
    ]
    reports, flags, questionnaires = [], [], []
    patients = Patient.objects.order_by("id").values_list("id", "risk_tier")
    for patient_id, tier in patients.iterator(chunk_size=10_000):
        draw = rng.random()
        if draw < 0.0005:
            started = now - timedelta(hours=rng.uniform(0.2, 20))
            questionnaires.append(
                Questionnaire(
                    patient_id=patient_id,
                    answers={"location": "elsewhere", "onset": "gradual"},
                    step=2,
                    started_at=started,
                    expires_at=started + timedelta(hours=24),
                )
            )
            continue
        if draw >= 0.046:
            continue
        status = (
            Flag.Status.OPEN
            if draw < 0.004
            else Flag.Status.ACKNOWLEDGED
            if draw < 0.006
            else Flag.Status.RESOLVED
        )
        answers = {question: rng.choice(choices) for question, choices in triage.QUESTIONS.items()}
        result = triage.triage(answers, tier)
        if status == Flag.Status.RESOLVED:
            age = timedelta(days=rng.uniform(10, 700))
        else:
            age = timedelta(hours=rng.uniform(0.5, 4 * 24))
        created = now - age
        channel = rng.choices(["sms", "web", "staff"], [60, 30, 10])[0]
        reports.append(
            LesionReport(
                patient_id=patient_id, channel=channel, answers=answers, created_at=created
            )
        )
        sla = timedelta(days=sla_days[result.urgency.value])
        flag = Flag(
            patient_id=patient_id,
            urgency=result.urgency.value,
            reasons=list(result.reasons),
            rule_version=result.rule_version,
            status=status,
            review_due_at=created + sla,
            lead_escalation_due_at=created + 2 * sla,
            created_at=created,
        )
        if status != Flag.Status.OPEN:
            flag.acknowledged_at = created + min(age / 2, timedelta(hours=rng.uniform(1, 30)))
        if status == Flag.Status.RESOLVED:
            flag.resolved_at = created + timedelta(hours=rng.uniform(30, 80))
            flag.outcome = rng.choices(*zip(*outcomes, strict=True))[0]
        flags.append(flag)
    LesionReport.objects.bulk_create(reports, batch_size=2_000)
    for report, flag in zip(reports, flags, strict=True):
        flag.report_id = report.pk
    bulk_create_with_history(flags, Flag, batch_size=2_000)
    Questionnaire.objects.bulk_create(questionnaires)
    return {"lesion reports": len(reports), "questionnaires": len(questionnaires)}


def _messages(cursor, t, params) -> tuple[int, int, int]:
    """Self-exam reminders sent over the last months, replies, and the next day's queue."""
    cursor.execute(
        f"""
        WITH sends AS (
            SELECT p.id AS pid, c.id AS cid, c.number, k.k,
                   {_bucket("':m:', p.id, ':', k.k")} AS b,
                   date_trunc('hour', now()) - make_interval(days => 30 * k.k)
                       + mod(p.id, 600)::int * interval '1 minute' AS at
            FROM {t["patient"]} p
            JOIN {t["contact"]} c ON c.id = p.contact_id
            CROSS JOIN generate_series(1, %(months)s) AS k(k)
            WHERE c.sms_consent AND p.enrolled_on <= %(today)s::date - 30 * k.k
        ), chosen AS (
            SELECT *, CASE WHEN b < 9400 THEN 'delivered' WHEN b < 9550 THEN 'sent'
                           WHEN b < 9700 THEN 'failed' WHEN b < 9750 THEN 'undeliverable'
                           WHEN b < 9800 THEN 'expired' ELSE 'cancelled' END AS status
            FROM sends
        )
        INSERT INTO {t["message"]} (
            contact_id, subject_type_id, subject_id, direction, kind, body, to_number,
            from_number, status, urgent, is_reply, time_critical, idempotency_key, send_after,
            expires_at, hold_reason, attempts, provider_sid, sent_at, delivered_at, error,
            error_code, routed_as, needs_review, created_on, modified_on
        )
        SELECT cid, %(patient_type)s, pid, 'outbound', 'self_exam',
               'Benchmark Hospital: time for your monthly skin self-exam. Reply 1 if nothing'
               ' is new, 2 if you noticed something. Reply STOP to opt out.',
               number, %(sender)s, status, false, false, false,
               concat('bench:self_exam:', pid, ':', k), at, at + interval '1 day', '',
               CASE WHEN status IN ('expired', 'cancelled') THEN 0 ELSE 1 END,
               CASE WHEN status IN ('expired', 'cancelled') THEN NULL
                    ELSE concat('SMbench', pid, 'o', k) END,
               CASE WHEN status IN ('expired', 'cancelled') THEN NULL ELSE at END,
               CASE WHEN status = 'delivered' THEN at + interval '6 seconds' END,
               CASE status WHEN 'failed' THEN 'Twilio 30003: unreachable destination handset'
                    WHEN 'undeliverable' THEN 'Twilio 30006: landline or unreachable carrier'
                    WHEN 'expired' THEN 'Not sent within its useful life'
                    WHEN 'cancelled' THEN 'The patient is no longer followed up.'
                    ELSE '' END,
               CASE status WHEN 'failed' THEN '30003' WHEN 'undeliverable' THEN '30006'
                    ELSE '' END,
               '', false, at - interval '1 minute', at + interval '6 seconds'
        FROM chosen
        """,
        params,
    )
    sent = cursor.rowcount
    cursor.execute(
        f"""
        INSERT INTO {t["message"]} (
            contact_id, subject_type_id, subject_id, direction, kind, body, to_number,
            from_number, status, urgent, is_reply, time_critical, hold_reason, attempts,
            provider_sid, error, error_code, routed_at, routed_as, needs_review, created_on,
            modified_on
        )
        SELECT m.contact_id, m.subject_type_id, m.subject_id, 'inbound', 'inbound',
               CASE WHEN x.b < 30 THEN 'Can I move my appointment to next week?'
                    WHEN x.b < 200 THEN '2' ELSE '1' END,
               %(sender)s, m.to_number, 'received', false, false, false, '', 0,
               concat('SMbench', m.subject_id, 'i', m.id), '', '',
               m.sent_at + interval '40 minutes',
               CASE WHEN x.b < 30 THEN 'needs_review' WHEN x.b < 200 THEN 'questionnaire'
                    ELSE 'self_exam' END,
               x.b < 30, m.sent_at + interval '40 minutes', m.sent_at + interval '40 minutes'
        FROM {t["message"]} m
        CROSS JOIN LATERAL (SELECT {_bucket("':r:', m.id")} AS b) x
        WHERE m.status = 'delivered' AND m.idempotency_key LIKE 'bench:self_exam:%%'
          AND x.b < 3500
        """,
        params,
    )
    replies = cursor.rowcount
    cursor.execute(
        f"""
        INSERT INTO {t["message"]} (
            contact_id, subject_type_id, subject_id, direction, kind, body, to_number,
            from_number, status, urgent, is_reply, time_critical, idempotency_key, send_after,
            expires_at, hold_reason, attempts, error, error_code, routed_as, needs_review,
            created_on, modified_on
        )
        SELECT c.id, %(patient_type)s, p.id, 'outbound', 'self_exam',
               'Benchmark Hospital: time for your monthly skin self-exam. Reply 1 if nothing'
               ' is new, 2 if you noticed something. Reply STOP to opt out.',
               c.number, %(sender)s, 'queued', false, false, false,
               concat('bench:queued:', p.id),
               now() + make_interval(mins => mod(b, 1440)),
               now() + make_interval(mins => mod(b, 1440)) + interval '1 day', '', 0, '', '', '',
               false, now(), now()
        FROM (SELECT p.*, {_bucket("':q:', p.id")} AS b FROM {t["patient"]} p) p
        JOIN {t["contact"]} c ON c.id = p.contact_id
        WHERE c.sms_consent AND p.b < 300
        """,
        params,
    )
    return sent, replies, cursor.rowcount


def _phones_and_patients(cursor, t, params) -> tuple[int, int, int, int]:
    cursor.execute(
        f"""
        UPDATE {t["contact"]} c SET
            opted_out_at = CASE WHEN b < 100 THEN now() - mod(c.id, 400)::int * interval '1 day'
                           END,
            invalid_at = CASE WHEN b >= 100 THEN now() - mod(c.id, 90)::int * interval '1 day' END,
            invalid_reason = CASE WHEN b >= 100 THEN 'Twilio 21614: not a mobile number'
                             ELSE '' END
        FROM (SELECT id, {_bucket("':c:', id")} AS b FROM {t["contact"]}) x
        WHERE x.id = c.id AND x.b < 130
        """,
        params,
    )
    cursor.execute(
        f"SELECT count(*) FILTER (WHERE opted_out_at IS NOT NULL),"
        f" count(*) FILTER (WHERE invalid_at IS NOT NULL) FROM {t['contact']}"
    )
    opted_out, invalid = cursor.fetchone()
    cursor.execute(
        f"""
        UPDATE {t["patient"]} p SET
            reminders_paused_until = CASE WHEN b < 50 THEN %(today)s::date + 30 END,
            is_active = b < 50
        FROM (SELECT id, {_bucket("':p:', id")} AS b FROM {t["patient"]}) x
        WHERE x.id = p.id AND x.b < 150
        """,
        params,
    )
    cursor.execute(
        f"SELECT count(*) FILTER (WHERE reminders_paused_until IS NOT NULL),"
        f" count(*) FILTER (WHERE NOT is_active) FROM {t['patient']}"
    )
    paused, inactive = cursor.fetchone()
    return opted_out, invalid, paused, inactive


def add_clinic_work(seed: int = DEFAULT_SEED, message_months: int = 6) -> dict[str, float]:
    """Add the clinic's work to the enrolled patients (see the module's docstring).

    Run it once, on patients enrolled today. Returns what it wrote, and "seconds".
    """
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection, transaction
    from django.utils import timezone

    from cohorts.models import Patient
    from scheduling.models import Protocol

    started = time.perf_counter()
    now = timezone.now()
    protocol = Protocol.objects.active()
    params = {
        "seed": seed,
        "today": timezone.localdate(now),
        "protocol": protocol.pk,
        "follow_up": protocol.follow_up_months,
        "months": message_months,
        "patient_type": ContentType.objects.get_for_model(Patient).pk,
        "sender": "+15005550006",
    }
    t = _tables()
    done = {}
    with transaction.atomic(), connection.cursor() as cursor:
        done["past visits"] = _past_visits(cursor, t, params)
        done["visits completed early"], done["visits booked ahead"] = _visits_ahead(
            cursor, t, params
        )
        done.update(_flags(random.Random(seed), now))
        done["messages sent"], done["replies"], done["messages queued"] = _messages(
            cursor, t, params
        )
        (
            done["numbers opted out"],
            done["numbers refused"],
            done["patients paused"],
            done["patients inactive"],
        ) = _phones_and_patients(cursor, t, params)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    done["seconds"] = time.perf_counter() - started
    return done


def build_clinic(
    count: int,
    batch_size: int = 1_000,
    seed: int = DEFAULT_SEED,
    cohorts: int = 10,
    message_months: int = 6,
) -> dict[str, float]:
    """Enrol `count` patients over `cohorts` cohorts, then add the clinic work.

    Returns what add_clinic_work returns, plus "enrol seconds".
    """
    from common import enrol_cohort

    enrol_seconds = enrol_cohort(count, batch_size, seed, cohorts=cohorts)
    done = add_clinic_work(seed, message_months)
    done["enrol seconds"] = enrol_seconds
    return done


def clinic_row_counts() -> dict[str, int]:
    """The rows of the clinic, and its work as the dashboard reads it (server's today)."""
    from django.db.models import Q
    from django.utils import timezone

    from audit.models import AuditEvent
    from cohorts.models import Cohort, Patient
    from notifications.models import Contact, Message
    from scheduling.models import ReminderSeries, Visit
    from surveillance.models import Flag, LesionReport, Questionnaire

    today, now = timezone.localdate(), timezone.now()
    visits = Visit.objects.aggregate(
        all=models_count(),
        overdue=models_count(
            Q(status="missed") | Q(status__in=["planned", "booked"], window_end__lt=today)
        ),
        booked=models_count(Q(status="booked")),
        missed=models_count(Q(status="missed")),
        completed=models_count(Q(status="completed")),
    )
    flags = Flag.objects.aggregate(
        all=models_count(),
        unresolved=models_count(Q(status__in=Flag.UNRESOLVED)),
        overdue=models_count(Q(status__in=Flag.UNRESOLVED, review_due_at__lt=now)),
    )
    messages = Message.objects.aggregate(
        all=models_count(),
        queued=models_count(Q(status="queued")),
        sent=models_count(Q(status__in=["sent", "delivered"])),
        failed=models_count(Q(status__in=["failed", "undeliverable", "expired"])),
        inbound=models_count(Q(direction="inbound")),
        review=models_count(Q(needs_review=True)),
    )
    return {
        "cohorts": Cohort.objects.count(),
        "patients": Patient.objects.count(),
        "patients active": Patient.objects.filter(is_active=True).count(),
        "phone numbers (contacts)": Contact.objects.count(),
        "reminder series": ReminderSeries.objects.count(),
        "visits": visits["all"],
        "  overdue (missed, or window ended)": visits["overdue"],
        "  booked": visits["booked"],
        "  missed": visits["missed"],
        "  completed": visits["completed"],
        "lesion reports": LesionReport.objects.count(),
        "flags": flags["all"],
        "  unresolved": flags["unresolved"],
        "  overdue for review": flags["overdue"],
        "questionnaires open": Questionnaire.objects.filter(closed_at__isnull=True).count(),
        "messages": messages["all"],
        "  queued": messages["queued"],
        "  sent or delivered": messages["sent"],
        "  failed, undeliverable, expired": messages["failed"],
        "  inbound": messages["inbound"],
        "  needing review": messages["review"],
        "audit events": AuditEvent.objects.count(),
    }


def models_count(condition=None):
    from django.db.models import Count

    return Count("pk", filter=condition)
