from rest_framework import serializers

from cohorts import site_days
from cohorts.models import Patient


class WithdrawalSerializer(serializers.Serializer):
    """Why and when a patient left follow-up; `context["patient"]` is the patient."""

    reason = serializers.ChoiceField(choices=Patient.WithdrawalReason.choices)
    on = serializers.DateField(
        required=False, help_text="When follow-up ended; today in the cohort's zone if not given."
    )

    def validate_on(self, value):
        if value > self._today():
            raise serializers.ValidationError("A withdrawal cannot be dated in the future.")
        return value

    def validate(self, attrs):
        return {"on": self._today(), **attrs}

    def _today(self):
        return site_days.today(self.context["patient"].cohort)
