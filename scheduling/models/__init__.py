"""Scheduling's models, by subject: protocols, visits, reminder series, beat's heartbeat."""

from .heartbeat import SchedulerHeartbeat
from .protocols import InvalidProtocol, Protocol, ProtocolReminderRule, ProtocolVisitRule
from .series import SILENT_AFTER, ReminderSeries
from .visits import REMINDER_KEY_STAMP, InvalidTransition, Visit

__all__ = [
    "REMINDER_KEY_STAMP",
    "SILENT_AFTER",
    "InvalidProtocol",
    "InvalidTransition",
    "Protocol",
    "ProtocolReminderRule",
    "ProtocolVisitRule",
    "ReminderSeries",
    "SchedulerHeartbeat",
    "Visit",
]
