"""Phone numbers and the SMS outbox and inbox: one row per message, the single source of truth.

A `Contact` is one phone number with what the sending rules need to know of
it: consent, opt-out, whether the provider refused it, its language and time
zone. Two people sharing a phone share its contact: STOP from that phone stops
it, whoever typed it. A `Message` goes to (or comes from) a contact and is
*about* a subject this app knows nothing of (a generic foreign key, set by the
app that wrote it; for our patients' messages, the patient).

An outbound message is written (queued) in the same transaction as whatever
made it due, under a unique idempotency key, so a sweep that runs twice
writes it once. Dispatch moves it queued -> sending (with a lease) -> sent,
and delivery callbacks move it on to delivered, failed or undeliverable. The
Celery message that wakes a dispatcher carries only the row's id.
"""

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q

from .phones import validate_e164
from .validators import validate_time_zone


class Language(models.TextChoices):
    ENGLISH = "en", "English"
    SPANISH = "es", "Spanish"


class ConsentSource(models.TextChoices):
    WRITTEN = "written", "Written form"
    VERBAL = "verbal", "Verbal, recorded by staff"
    SMS = "sms", "SMS keyword"
    WEB = "web", "Web form"
    IMPORT = "import", "Bulk import"
    STAFF = "staff", "Recorded by staff"


class Contact(models.Model):
    """One mobile number: the single truth about whether, when and how to text it."""

    # E.164 for phones; room for channel addresses such as "whatsapp:+12015550123".
    number = models.CharField(
        max_length=64, unique=True, validators=[validate_e164], help_text="E.164"
    )
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    language = models.CharField(max_length=2, choices=Language.choices, default=Language.ENGLISH)
    sms_consent = models.BooleanField(default=False)
    sms_consent_at = models.DateTimeField(null=True, blank=True)
    sms_consent_source = models.CharField(max_length=10, choices=ConsentSource.choices, blank=True)
    opted_out_at = models.DateTimeField(
        null=True, blank=True, help_text="Set by STOP (or Twilio error 21610); START clears it."
    )
    invalid_at = models.DateTimeField(
        null=True, blank=True, help_text="The provider refused the number; fix it to resume SMS."
    )
    invalid_reason = models.CharField(max_length=200, blank=True)
    created_on = models.DateTimeField(auto_now_add=True)
    modified_on = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["number"]
        indexes = [
            # The few numbers that cannot be texted (the dashboard counts their patients).
            models.Index(
                fields=["opted_out_at"],
                condition=Q(opted_out_at__isnull=False),
                name="contact_opted_out",
            ),
            models.Index(
                fields=["invalid_at"], condition=Q(invalid_at__isnull=False), name="contact_invalid"
            ),
        ]

    def __str__(self) -> str:
        return f"...{self.number[-4:]}"

    @property
    def can_receive_sms(self) -> bool:
        return self.sms_consent and self.opted_out_at is None and self.invalid_at is None

    def refusal(self) -> str:
        """Why nothing may be sent to this number at all, or ""."""
        if not self.sms_consent:
            return "No SMS consent."
        if self.opted_out_at:
            return "The number opted out (STOP)."
        if self.invalid_at:
            return f"The number was refused: {self.invalid_reason}."
        return ""


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
        CANCELLED = "cancelled"
        EXPIRED = "expired"

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
        INBOUND = "inbound", "Received"

    # How far each delivery status has got: callbacks never move a message back.
    PROGRESS = {
        Status.QUEUED: 0,
        Status.SENDING: 1,
        Status.SENT: 2,
        Status.DELIVERED: 3,
        Status.FAILED: 3,
        Status.UNDELIVERABLE: 3,
        Status.CANCELLED: 3,
        Status.EXPIRED: 3,
    }

    # The indexes of a table written millions of times a month are chosen by hand:
    # `message_contact_sent` and `message_subject` lead with these two columns.
    contact = models.ForeignKey(
        Contact,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="messages",
        db_index=False,
        help_text="Empty for staff alerts to the on-call number.",
    )
    # What the message is about, set by the app that wrote it (e.g. a patient).
    subject_type = models.ForeignKey(
        ContentType,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    subject_id = models.PositiveBigIntegerField(null=True, blank=True)
    subject = GenericForeignKey("subject_type", "subject_id")
    direction = models.CharField(max_length=8, choices=Direction.choices)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    body = models.TextField()
    # Room for channel addresses such as "whatsapp:+12015550123".
    to_number = models.CharField(max_length=64)
    from_number = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=13, choices=Status.choices)
    urgent = models.BooleanField(default=False, help_text="Exempt from the frequency cap.")
    is_reply = models.BooleanField(default=False, help_text="Exempt from the frequency cap.")
    time_critical = models.BooleanField(
        default=False,
        help_text="Never held by the frequency cap, though it counts against it: a visit "
        "reminder goes before its visit, and the day's self-exam reminder waits instead.",
    )
    # Unique (`notifications_message_idempotency_key_key`), with no pattern index; null,
    # not blank, where a message has none (an inbound one): unique allows many nulls.
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    send_after = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Not sent by then (an outage, a long hold): it expires instead of going late.",
    )
    hold_reason = models.CharField(max_length=20, blank=True)
    first_due_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When it was due before a provider outage or a retry moved its send_after: "
        "its place in line, so that the outbox resumes in due order.",
    )
    # When a dispatcher was last woken for it: a wake-up is sent again only if
    # this one seems lost, so a backlog does not flood the broker.
    woken_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    attempt_started_at = models.DateTimeField(null=True, blank=True)
    # Unique where set (`message_provider_sid`): most rows are queued or held without one.
    provider_sid = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
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
        db_index=False,
    )
    created_on = models.DateTimeField(auto_now_add=True)
    modified_on = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_on", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["idempotency_key"], name="notifications_message_idempotency_key_key"
            ),
            models.UniqueConstraint(
                fields=["provider_sid"],
                condition=Q(provider_sid__isnull=False),
                name="message_provider_sid",
            ),
        ]
        indexes = [
            # Dispatch: queued messages whose send_after has come.
            models.Index(fields=["send_after"], condition=Q(status="queued"), name="outbox_due"),
            # Reconciliation: sending messages whose lease has expired.
            models.Index(
                fields=["lease_expires_at"], condition=Q(status="sending"), name="outbox_stale"
            ),
            # The frequency cap: a number's recent routine sends.
            models.Index(fields=["contact", "sent_at"], name="message_contact_sent"),
            # A subject's messages (a patient's list).
            models.Index(fields=["subject_type", "subject_id"], name="message_subject"),
            # The API's list, newest first (read backwards). Rows are written at its right
            # end, in the order they come: an insert touches the same few pages.
            models.Index(fields=["created_on", "id"], name="message_created"),
            # What needs a person (the dashboard's figures): few among millions, counted
            # from the index alone (what each one is, is in it).
            models.Index(
                fields=["subject_type", "subject_id"],
                include=["status", "needs_review"],
                condition=Q(status__in=["failed", "undeliverable", "expired"])
                | Q(needs_review=True),
                name="message_needs_attention",
            ),
            # The staff inbox: inbound messages waiting for a person, oldest first.
            models.Index(
                fields=["created_on"],
                condition=Q(direction="inbound", needs_review=True),
                name="inbox_to_review",
            ),
            # The staff Today list: SMS that did not arrive, not dealt with yet, newest first.
            models.Index(
                fields=["-modified_on"],
                condition=Q(
                    direction="outbound",
                    status__in=["failed", "undeliverable", "expired"],
                    reviewed_at__isnull=True,
                ),
                name="outbox_not_delivered",
            ),
            # Routing retries: inbound messages not routed yet.
            models.Index(
                fields=["created_on"],
                condition=Q(direction="inbound", routed_at__isnull=True),
                name="inbox_unrouted",
            ),
            # Deleting a user clears their reviews: the few reviewed rows, found by reviewer.
            models.Index(
                fields=["reviewed_by"],
                condition=Q(reviewed_by__isnull=False),
                name="message_reviewed_by",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.kind} #{self.pk} ({self.status})"

    @property
    def counts_against_cap(self) -> bool:
        return not (self.urgent or self.is_reply)

    def save_fields(self, **fields) -> None:
        """Set these fields and save them (with modified_on) only."""
        for name, value in fields.items():
            setattr(self, name, value)
        self.save(update_fields=[*fields, "modified_on"])


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
