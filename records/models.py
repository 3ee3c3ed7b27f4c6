"""What retention has erased, so that each run starts where the last one stopped."""

from django.db import models
from django.utils.timezone import now


class Erasure(models.Model):
    """One part of one withdrawn patient's record, erased: written with the erasure itself.

    Keyed by the withdrawal it followed: a patient reactivated and withdrawn
    again (before their identity went) has new messages and photos to erase.
    The audit trail says the same for people (`AuditEvent.Action.ERASE`);
    these rows let the next run skip what is done with an index lookup.
    """

    class Part(models.TextChoices):
        IDENTITY = "identity", "Identity and free text"
        MESSAGES = "messages", "Message bodies"
        PHOTOS = "photos", "Lesion photos"

    patient = models.ForeignKey("cohorts.Patient", on_delete=models.PROTECT, related_name="+")
    part = models.CharField(max_length=8, choices=Part.choices)
    withdrawn_on = models.DateField()
    erased_at = models.DateTimeField(default=now)
    count = models.PositiveIntegerField(default=0, help_text="Rows erased (messages, photos).")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "part", "withdrawn_on"], name="erased_once_per_withdrawal"
            )
        ]

    def __str__(self) -> str:
        return f"{self.part} of patient {self.patient_id} erased {self.erased_at:%Y-%m-%d}"
