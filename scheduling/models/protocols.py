"""Follow-up protocols: versioned data, one rule per tier and kind."""

from django.conf import settings
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from cohorts.models import TIER_CHOICES
from cohorts.risk import Tier

from .. import planner


class InvalidProtocol(ValueError):
    """The draft's rules cannot be put in force; `problems` says why."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


class ProtocolQuerySet(models.QuerySet):
    def active(self) -> "Protocol":
        return self.get(status=Protocol.Status.ACTIVE)


# The rules of each version no longer a draft, by id (`Protocol.rules_by_tier`).
_FIXED_RULES: dict[int, dict[Tier, planner.TierProtocol]] = {}


class Protocol(models.Model):
    """A versioned surveillance protocol: per tier, the visit and reminder cadences.

    Only drafts can be edited. Activating a draft retires the previous active
    version; plans keep pointing at the version they were built from, so what
    was promised to a patient stays explainable after the protocol changes.
    """

    class Status(models.TextChoices):
        DRAFT = "draft"
        ACTIVE = "active"
        RETIRED = "retired"

    name = models.CharField(max_length=200)
    version = models.PositiveIntegerField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.DRAFT)
    follow_up_months = models.PositiveIntegerField(default=120)
    notes = models.TextField(blank=True, help_text="What changed and why, with sources.")
    created_on = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    activated_on = models.DateTimeField(null=True, blank=True)

    objects = ProtocolQuerySet.as_manager()

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(fields=["version"], name="protocol_unique_version"),
            # At most one protocol is in force at any time.
            models.UniqueConstraint(
                fields=["status"], condition=Q(status="active"), name="protocol_one_active"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version} ({self.status})"

    @property
    def is_editable(self) -> bool:
        return self.status == self.Status.DRAFT

    def for_tier(self, tier: str) -> planner.TierProtocol:
        return self.rules_by_tier()[Tier(tier)]

    def rules_by_tier(self) -> dict[Tier, planner.TierProtocol]:
        """All tiers' rules, as the planner's data classes. A draft's are read each time
        (two queries); a version put in force never changes again, so each process
        reads its rules once."""
        if self.is_editable:
            return self._read_rules()
        if self.pk not in _FIXED_RULES:
            _FIXED_RULES[self.pk] = self._read_rules()
        return _FIXED_RULES[self.pk]

    def _read_rules(self) -> dict[Tier, planner.TierProtocol]:
        visits = {tier: [] for tier in Tier}
        reminders = {tier: [] for tier in Tier}
        for rule in self.visit_rules.all():
            visits[Tier(rule.tier)].append(rule.as_planner_rule())
        for rule in self.reminder_rules.all():
            reminders[Tier(rule.tier)].append(rule.as_planner_rule())
        return {
            tier: planner.TierProtocol(
                visit_rules=tuple(visits[tier]),
                reminder_rules=tuple(reminders[tier]),
                follow_up_months=self.follow_up_months,
            )
            for tier in Tier
        }

    @transaction.atomic
    def new_draft(self, by=None) -> "Protocol":
        """Copy this version, rules and all, into the next draft version."""
        next_version = (Protocol.objects.aggregate(models.Max("version"))["version__max"] or 0) + 1
        draft = Protocol.objects.create(
            name=self.name,
            version=next_version,
            follow_up_months=self.follow_up_months,
            notes=f"Draft copied from version {self.version}.",
            created_by=by,
        )
        for rule in self.visit_rules.all():
            rule.pk, rule.protocol = None, draft
            rule.save()
        for rule in self.reminder_rules.all():
            rule.pk, rule.protocol = None, draft
            rule.save()
        return draft

    def problems(self) -> list[str]:
        """Why this version must not be put in force ([] when it may)."""
        return planner.protocol_problems(
            {tier.value: rules for tier, rules in self.rules_by_tier().items()}
        )

    @transaction.atomic
    def activate(self) -> None:
        """Put this draft in force and retire the version it replaces.

        A draft with problems (`problems()`) is refused: a tier without rules
        would lose every future visit, an interval of 0 would stop planning.
        """
        if self.status != self.Status.DRAFT:
            raise ValueError("Only a draft protocol can be activated.")
        problems = self.problems()
        if problems:
            raise InvalidProtocol(problems)
        Protocol.objects.filter(status=self.Status.ACTIVE).update(status=self.Status.RETIRED)
        self.status, self.activated_on = self.Status.ACTIVE, timezone.now()
        self.save(update_fields=["status", "activated_on"])


class ProtocolVisitRule(models.Model):
    """Visits every `interval_months` in (start_month, end_month] after treatment end."""

    protocol = models.ForeignKey(Protocol, on_delete=models.CASCADE, related_name="visit_rules")
    tier = models.CharField(max_length=10, choices=TIER_CHOICES)
    kind = models.CharField(max_length=8, choices=[(k.value, k.value) for k in planner.VisitKind])
    start_month = models.PositiveIntegerField()
    end_month = models.PositiveIntegerField(null=True, blank=True, help_text="Blank: no end.")
    interval_months = models.PositiveIntegerField()
    window_days = models.PositiveIntegerField(help_text="The visit's window is due date ± this.")

    class Meta:
        ordering = ["tier", "kind", "start_month"]

    def __str__(self) -> str:
        return (
            f"{self.tier} {self.kind} every {self.interval_months} months from {self.start_month}"
        )

    def as_planner_rule(self) -> planner.VisitRule:
        return planner.VisitRule(
            kind=planner.VisitKind(self.kind),
            start_month=self.start_month,
            end_month=self.end_month,
            interval_months=self.interval_months,
            window_days=self.window_days,
        )


class ProtocolReminderRule(models.Model):
    """Self-exam reminders every `interval` weeks/months in [start_month, end_month)."""

    protocol = models.ForeignKey(Protocol, on_delete=models.CASCADE, related_name="reminder_rules")
    tier = models.CharField(max_length=10, choices=TIER_CHOICES)
    kind = models.CharField(max_length=20, default="self_exam")
    start_month = models.PositiveIntegerField()
    end_month = models.PositiveIntegerField(null=True, blank=True, help_text="Blank: no end.")
    frequency = models.CharField(
        max_length=8, choices=[(f.value, f.value.lower()) for f in planner.Frequency]
    )
    interval = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["tier", "kind", "start_month"]

    def __str__(self) -> str:
        return f"{self.tier} {self.kind} every {self.interval} {self.frequency.lower()}"

    def as_planner_rule(self) -> planner.ReminderRule:
        return planner.ReminderRule(
            kind=self.kind,
            start_month=self.start_month,
            end_month=self.end_month,
            frequency=planner.Frequency(self.frequency),
            interval=self.interval,
        )
