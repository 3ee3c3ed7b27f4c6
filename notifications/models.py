"""The SMS outbox and inbox: one row per message, the single source of truth.

An outbound message is written (queued) in the same transaction as whatever
made it due, under a unique idempotency key, so a sweep that runs twice
writes it once. Dispatch moves it queued -> sending (with a lease) -> sent,
and delivery callbacks move it on to delivered, failed or undeliverable. The
Celery message that wakes a dispatcher carries only the row's id.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q


class Message(models.Model):
    class Direction(models.TextChoices):
        OUTBOUND = "outbound"
        INBOUND = "inbound"

    class Status(models.TextChoices):
        QUEUED = "queued"
        SENDING = "sending"
        SENT = "sent"
        DELIVERED = "delivered"
        FAILED = "failed"
        UNDELIVERABLE = "undeliverable"
        RECEIVED = "received"

    class Kind(models.TextChoices):
        SELF_EXAM = "self_exam", "Skin self-exam reminder"
        VISIT_REMINDER = "visit_reminder", "Visit reminder"
        CHECK_IN = "check_in", "Check-in from staff"
        HELP = "help", "HELP answer"
        OPTED_IN = "opted_in", "START confirmation"
        REPLY = "reply", "Reply in a conversation"
        QUESTION = "question", "Questionnaire question"
        REPORT_RECEIVED = "report_received", "Report acknowledgement"
        VISIT_BOOKED = "visit_booked", "Visit booked after a report"
        STAFF_ALERT = "staff_alert", "Alert to the on-call number"
        INBOUND = "inbound", "From the patient"

    # How far each delivery status has got: callbacks never move a message back.
    PROGRESS = {
        Status.QUEUED: 0,
        Status.SENDING: 1,
        Status.SENT: 2,
        Status.DELIVERED: 3,
        Status.FAILED: 3,
        Status.UNDELIVERABLE: 3,
    }

    patient = models.ForeignKey(
        "surveillance.Patient",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="messages",
    )
    direction = models.CharField(max_length=8, choices=Direction.choices)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    body = models.TextField()
    # Room for channel addresses such as "whatsapp:+12015550123".
    to_number = models.CharField(max_length=64)
    from_number = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=13, choices=Status.choices)
    urgent = models.BooleanField(default=False, help_text="Exempt from the frequency cap.")
    is_reply = models.BooleanField(default=False, help_text="Exempt from the frequency cap.")
    idempotency_key = models.CharField(max_length=200, unique=True, null=True, blank=True)
    send_after = models.DateTimeField(null=True, blank=True)
    hold_reason = models.CharField(max_length=20, blank=True)
    # When a dispatcher was last woken for it: a wake-up is sent again only if
    # this one seems lost, so a backlog does not flood the broker.
    woken_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    attempt_started_at = models.DateTimeField(null=True, blank=True)
    provider_sid = models.CharField(max_length=64, unique=True, null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    error_code = models.CharField(max_length=10, blank=True)
    # Inbound: when routing finished, and whether a coordinator must read it.
    routed_at = models.DateTimeField(null=True, blank=True)
    routed_as = models.CharField(max_length=40, blank=True)
    needs_review = models.BooleanField(default=False)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_on = models.DateTimeField(auto_now_add=True)
    modified_on = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_on", "-id"]
        indexes = [
            # Dispatch: queued messages whose send_after has come.
            models.Index(fields=["send_after"], condition=Q(status="queued"), name="outbox_due"),
            # Reconciliation: sending messages whose lease has expired.
            models.Index(
                fields=["lease_expires_at"], condition=Q(status="sending"), name="outbox_stale"
            ),
            # The frequency cap: a patient's recent routine sends.
            models.Index(fields=["patient", "sent_at"], name="message_patient_sent"),
            # Routing retries: inbound messages not routed yet.
            models.Index(
                fields=["created_on"],
                condition=Q(direction="inbound", routed_at__isnull=True),
                name="inbox_unrouted",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.kind} #{self.pk} ({self.status})"

    @property
    def counts_against_cap(self) -> bool:
        return not (self.urgent or self.is_reply)


class EarlyStatus(models.Model):
    """A delivery callback for a sid no message carries yet.

    Twilio may call back before the sender has stored the sid (or, after a
    timeout, before reconciliation finds the message): the callback is kept
    here and applied when the sid is recorded, so a failed delivery is never
    lost.
    """

    provider_sid = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=13, choices=Message.Status.choices)
    error_code = models.CharField(max_length=10, blank=True)
    received_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"early {self.status} for {self.provider_sid}"
