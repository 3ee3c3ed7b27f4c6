"""Watching for recurrence: the models, by subject."""

from .flags import DigestDelivery, Flag, FlagEscalation, Holiday
from .reports import LesionPhoto, LesionReport, Questionnaire, ReportLink, SelfExamCheck

__all__ = [
    "DigestDelivery",
    "Flag",
    "FlagEscalation",
    "Holiday",
    "LesionPhoto",
    "LesionReport",
    "Questionnaire",
    "ReportLink",
    "SelfExamCheck",
]
