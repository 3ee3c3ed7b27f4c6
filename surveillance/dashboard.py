"""GET /api/v1/dashboard/: what needs attention in the user's cohorts, counted.

Overdue reviews, SMS questionnaires still open (their flags are already
waiting, on partial answers), overdue visits, failed deliveries, opt-outs and
bad numbers, per cohort and in total. A flag raised on a phone patients of
several cohorts share counts in each of them until it is assigned. Each
figure is one grouped query over an indexed condition, so the page stays
cheap as cohorts grow.

The figures of a set of cohorts are counted at most once a minute
(`KEEP_SECONDS`, in the cache shared by the web processes): a dashboard that
many admins and integrations poll every few seconds counts once, about 0.1 to
0.2 s at 100,000 patients. `generated_at` says when they were counted;
`?fresh=1` counts again now. The lists (Today, flags, visits) are always live.
Without the cache (Redis down) they are counted on every request, and the log says so.
"""

import hashlib
from collections import defaultdict
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Count, Q
from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from cohorts.access import cohorts_for
from cohorts.models import Patient
from cohorts.site_days import per_zone
from notifications import circuit
from notifications.models import Message
from scheduling.models import Visit
from scheduling.overdue import due_soon_parts, overdue_parts
from shared_cache import kept

from .models import Flag, Questionnaire

FIGURES = [
    "flags_open",
    "flags_urgent_open",
    "flags_overdue",
    "flags_due_today",
    "questionnaires_open",
    "visits_overdue",
    "visits_due_soon",
    "messages_failed",
    "messages_undeliverable",
    "messages_expired",
    "messages_to_review",
    "patients",
    "patients_opted_out",
    "patients_phone_invalid",
    "patients_paused",
]

GONE_WRONG = [Message.Status.FAILED, Message.Status.UNDELIVERABLE, Message.Status.EXPIRED]


def _grouped(queryset, cohort_path: str, **counts) -> dict:
    """Rows counted per cohort. The cohort column is counted (never null), not the id: a
    count that needs no column outside a partial index is read from the index alone."""
    rows = queryset.values(cohort_path).annotate(
        **{name: Count(cohort_path, filter=condition) for name, condition in counts.items()}
    )
    return {row[cohort_path]: row for row in rows}


def _due_on_the_sites_today(today, zone) -> Q:
    start = datetime.combine(today, time.min, tzinfo=zone)
    return Q(review_due_at__gte=start, review_due_at__lt=start + timedelta(days=1))


KEEP_SECONDS = 60


def kept_figures(cohorts: list, fresh: bool = False) -> tuple[list[dict], datetime]:
    """The cohorts' figures and when they were counted: at most `KEEP_SECONDS` ago,
    or now when `fresh`."""
    ids = ",".join(str(pk) for pk in sorted(cohort.pk for cohort in cohorts))
    key = f"dashboard-figures:{hashlib.sha256(ids.encode()).hexdigest()[:32]}"

    def count_now() -> tuple[list[dict], datetime]:
        now = timezone.now()
        return figures(cohorts, now), now

    return kept(key, count_now, KEEP_SECONDS, fresh=fresh)


def figures(cohorts: list, now) -> list[dict]:
    """Each cohort's figures, in the order given; "today" is the cohort's own date
    (`cohorts.site_days`).

    Each query starts from what needs attention (an indexed condition: unresolved
    flags, overdue visits, failed messages, opted-out numbers), never from all of
    a cohort's rows, then counts by cohort.
    """
    unresolved = Q(status__in=Flag.UNRESOLVED)
    to_review = Q(needs_review=True)
    patients = Patient.objects.filter(cohort__in=cohorts, is_active=True)
    groups = [
        _grouped(
            Questionnaire.objects.filter(patient__cohort__in=cohorts, closed_at__isnull=True),
            "patient__cohort",
            questionnaires_open=Q(),
        ),
        _grouped(
            Flag.objects.filter(unresolved, patient__cohort__in=cohorts),
            "patient__cohort",
            flags_open=Q(),
            flags_urgent_open=Q(urgency=Flag.Urgency.URGENT),
            flags_overdue=Q(review_due_at__lt=now),
            flags_due_today=per_zone(
                cohorts, "patient__cohort__timezone", _due_on_the_sites_today, now
            ),
        ),
        # Overdue visits are the missed ones and the still-owed ones whose window ended:
        # each part, and each of due soon, counted from its own partial index alone.
        *(
            _grouped(Visit.objects.filter(part), "cohort", visits_overdue=Q())
            for part in overdue_parts(cohorts, now)
        ),
        *(
            _grouped(Visit.objects.filter(part), "cohort", visits_due_soon=Q())
            for part in due_soon_parts(cohorts, now=now)
        ),
        _grouped(
            # The condition of the partial index `message_needs_attention`, as written there.
            Message.objects.filter(
                Q(status__in=GONE_WRONG) | to_review, patient__cohort__in=cohorts
            ),
            "patient__cohort",
            messages_failed=Q(status=Message.Status.FAILED),
            messages_undeliverable=Q(status=Message.Status.UNDELIVERABLE),
            messages_expired=Q(status=Message.Status.EXPIRED),
            messages_to_review=to_review,
        ),
        _grouped(patients, "cohort", patients=Q()),
        _grouped(
            patients.filter(contact__opted_out_at__isnull=False), "cohort", patients_opted_out=Q()
        ),
        _grouped(
            patients.filter(contact__invalid_at__isnull=False), "cohort", patients_phone_invalid=Q()
        ),
        _grouped(
            patients.filter(reminders_paused_until__isnull=False),
            "cohort",
            patients_paused=per_zone(
                cohorts,
                "cohort__timezone",
                lambda today, _: Q(reminders_paused_until__gte=today),
                now,
            ),
        ),
    ]
    groups.append(_waiting_flags(cohorts, now))
    return [_cohort_row(cohort, groups) for cohort in cohorts]


def _waiting_flags(cohorts, now) -> dict:
    """Flags raised on a shared phone, not yet assigned: counted in each cohort of their
    candidates (`Flag.candidates`).

    They are few (they wait minutes to hours for a coordinator), so they are
    counted here rather than in SQL.
    """
    zones = {cohort.pk: ZoneInfo(cohort.timezone) for cohort in cohorts}
    waiting = Flag.candidates.through.objects.filter(
        flag__patient__isnull=True, flag__status__in=Flag.UNRESOLVED, patient__cohort__in=cohorts
    )
    flags = {}
    for flag_id, cohort_id, urgency, due in waiting.values_list(
        "flag_id", "patient__cohort_id", "flag__urgency", "flag__review_due_at"
    ):
        flags.setdefault(flag_id, (set(), urgency, due))[0].add(cohort_id)
    counts = defaultdict(lambda: defaultdict(int))
    for cohort_ids, urgency, due in flags.values():
        for cohort_id in cohort_ids:
            row = counts[cohort_id]
            row["flags_open"] += 1
            row["flags_urgent_open"] += urgency == Flag.Urgency.URGENT
            row["flags_overdue"] += due < now
            row["flags_due_today"] += (
                due.astimezone(zones[cohort_id]).date() == now.astimezone(zones[cohort_id]).date()
            )
    return counts


def _cohort_row(cohort, groups) -> dict:
    row = {"cohort": cohort.pk, "name": cohort.name, "site": cohort.site}
    figures = dict.fromkeys(FIGURES, 0)
    for group in groups:
        for name, value in group.get(cohort.pk, {}).items():
            if name in FIGURES:
                figures[name] += value
    return {**figures, **row}


def totals(rows: list[dict]) -> dict:
    summed = defaultdict(int)
    for row in rows:
        for name in FIGURES:
            summed[name] += row[name]
    return {name: summed[name] for name in FIGURES}


class DashboardView(APIView):
    @extend_schema(
        responses=inline_serializer(
            "Dashboard",
            {
                "generated_at": serializers.DateTimeField(),
                "sms_provider": serializers.DictField(
                    help_text="Whether SMS sending is held by a provider outage, and since when."
                ),
                "totals": serializers.DictField(child=serializers.IntegerField()),
                "cohorts": serializers.ListField(child=serializers.DictField()),
            },
        )
    )
    def get(self, request):
        cohorts = list(cohorts_for(request.user).order_by("name"))
        rows, counted_at = kept_figures(cohorts, fresh=request.query_params.get("fresh") == "1")
        return Response(
            {
                "generated_at": counted_at,
                "sms_provider": circuit.status(),
                "totals": totals(rows),
                "cohorts": rows,
            }
        )
