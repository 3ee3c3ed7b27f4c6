from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from audit.mixins import AuditedViewSetMixin
from cohorts.access import patients_for
from cohorts.serializers import PatientSerializer

from . import withdrawal
from .serializers import WithdrawalSerializer


class PatientWithdrawalViewSet(AuditedViewSetMixin, viewsets.GenericViewSet):
    """`POST /api/v1/patients/{id}/withdraw/`, beside the patient API and scoped like it."""

    serializer_class = PatientSerializer
    audit_object_type = "patient"

    def get_queryset(self):
        return patients_for(self.request.user).select_related("profile", "cohort", "contact")

    @extend_schema(request=WithdrawalSerializer, responses=PatientSerializer)
    @action(detail=True, methods=["post"])
    def withdraw(self, request, pk=None):
        """Withdraw the patient from follow-up: reminders stop, queued SMS are cancelled.

        Their open flags stay open for the care team to close. 400 for an
        unknown reason or a date to come, 409 for an erased record; then
        nothing changes.
        """
        patient = self.get_object()
        payload = WithdrawalSerializer(data=request.data, context={"patient": patient})
        payload.is_valid(raise_exception=True)
        try:
            [patient] = withdrawal.withdraw(patient, by=request.user, **payload.validated_data)
        except withdrawal.WithdrawalRefused as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(self.get_serializer(patient).data)
