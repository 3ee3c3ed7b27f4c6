"""The messages API: SMS to and from the patients of the user's cohorts."""

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException
from rest_framework.response import Response

from audit.mixins import AuditedViewSetMixin
from bulk_sql.parts import in_parts
from notifications import inbound
from notifications.models import Message

from .access import is_admin, patients_for
from .filters import MessageFilter
from .models import Patient
from .serializers import PatientField


class MessageSerializer(serializers.ModelSerializer):
    patient = serializers.IntegerField(
        source="subject_id", read_only=True, allow_null=True, help_text="The patient it is about."
    )
    candidates = serializers.SerializerMethodField(
        help_text="For a message from a shared number: the patients of yours who use that "
        "number, one of whom a coordinator assigns it to."
    )

    def get_candidates(self, message) -> list[int]:
        request = self.context.get("request")
        if message.subject_id is not None or message.contact_id is None or request is None:
            return []
        return list(sharers(message, request.user).order_by("pk").values_list("pk", flat=True))

    class Meta:
        model = Message
        fields = [
            "id",
            "patient",
            "direction",
            "kind",
            "body",
            "status",
            "urgent",
            "is_reply",
            "time_critical",
            "provider_sid",
            "send_after",
            "hold_reason",
            "expires_at",
            "attempts",
            "sent_at",
            "delivered_at",
            "error",
            "error_code",
            "routed_as",
            "needs_review",
            "reviewed_at",
            "reviewed_by",
            "candidates",
            "created_on",
        ]
        read_only_fields = fields


class AssignSerializer(serializers.Serializer):
    patient = PatientField()


class AlreadyAssigned(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "This message already has a patient."
    default_code = "already_assigned"


def visible_messages(user) -> QuerySet[Message]:
    """About the user's patients; and, from a number one of them uses, about nobody yet
    (admins: about any patient, from any number).

    In two parts (`bulk_sql.parts`): the API's list counts each on its own and
    pages them newest first from `message_created`, checking each row's patient
    by its key, where the whole as one OR made PostgreSQL read every message.
    """
    patient_type = ContentType.objects.get_for_model(Patient)
    about_a_patient = Q(subject_type=patient_type, subject_id__isnull=False)
    nobodys = Q(subject_id__isnull=True)
    if not is_admin(user):
        mine = patients_for(user)
        about_a_patient &= Q(Exists(mine.filter(pk=OuterRef("subject_id"))))
        nobodys &= Q(Exists(mine.filter(contact_id=OuterRef("contact_id"))))
    return in_parts(Message.objects.all(), [about_a_patient, nobodys])


def sharers(message: Message, user) -> QuerySet[Patient]:
    """The user's active patients who use the number the message came from."""
    return patients_for(user).filter(contact_id=message.contact_id, is_active=True)


def assign_message(message: Message, request, among: QuerySet[Patient] | None = None) -> Message:
    """Give a message from a shared number to the patient the request names, and mark it read.

    400 if that patient is not `among` (default: the user's active patients who
    use the number now); 409 if the message already has a patient.
    """
    if message.subject_id is not None:
        raise AlreadyAssigned()
    payload = AssignSerializer(data=request.data, context={"request": request})
    payload.is_valid(raise_exception=True)
    patient = payload.validated_data["patient"]
    among = sharers(message, request.user) if among is None else among
    if not among.filter(pk=patient.pk).exists():
        raise serializers.ValidationError({"patient": "Not a patient using this number."})
    try:
        return assign_to(message, patient, request.user)
    except ValueError as exc:
        raise AlreadyAssigned(str(exc)) from exc


@transaction.atomic
def assign_to(message: Message, patient: Patient, user) -> Message:
    """Route the message to `patient` (one of `sharers`) as if it had just come, and mark it
    read. ValueError if it already has a patient."""
    inbound.route_to_subject(message.pk, patient)
    message.refresh_from_db()
    mark_reviewed(message, user)
    return message


def mark_reviewed(message: Message, user) -> None:
    if message.reviewed_at is None:
        message.reviewed_at, message.reviewed_by = timezone.now(), user
        message.needs_review = False
        message.save(update_fields=["reviewed_at", "reviewed_by", "needs_review", "modified_on"])


class CheckInSerializer(serializers.Serializer):
    message = MessageSerializer()
    will_send_at = serializers.DateTimeField()
    held_because = serializers.CharField(help_text="quiet_hours, frequency_cap, paused or empty")


class MessageViewSet(
    AuditedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """SMS to and from the patients of the user's cohorts.

    Inbound messages nobody could route (`needs_review=true`) are the
    coordinators' inbox; admins also see those from unknown numbers.
    """

    # The model, for the schema and the checks: `get_queryset` reads the database (the
    # patients' content type), which `check --deploy` may run without.
    queryset = Message.objects.none()
    serializer_class = MessageSerializer
    filterset_class = MessageFilter
    audit_object_type = "message"

    def audit_patient_id(self, message) -> int | None:
        return message.subject_id

    def get_queryset(self):
        """About my patients; and, from a number one of my patients uses, about nobody yet."""
        return visible_messages(self.request.user)

    @extend_schema(request=AssignSerializer, responses=MessageSerializer)
    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        """Say whose message it is (from a number several patients share), in one step.

        The message then goes to the handlers as if it had just come: a lesion
        report becomes that patient's (its flag, raised when the message came,
        keeps its deadline, counted from when the patient wrote). 409 if it
        already has a patient.
        """
        message = assign_message(self.get_object(), request)
        return Response(MessageSerializer(message, context={"request": request}).data)

    @extend_schema(request=None, responses=MessageSerializer)
    @action(detail=True, methods=["post"])
    def review(self, request, pk=None):
        """Mark an inbound message as read and dealt with."""
        message = self.get_object()
        mark_reviewed(message, request.user)
        return Response(MessageSerializer(message, context={"request": request}).data)
