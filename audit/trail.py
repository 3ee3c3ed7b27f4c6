"""The audit trail: who read or wrote which patient's record, when, from where, why.

Every path into a patient's record writes `AuditEvent` rows through
`record()`: the API (through `AuditedViewSetMixin`), the admin (through
`AuditedAdminMixin`) and, when they come, exports and web pages. One row per
patient touched, except a list: one row per list shown (`record_list`), with
the ids of its patients and rows; `AuditEvent.objects.about(patient)` finds both.

Only successful requests are recorded: a 404 (say, another cohort's patient)
or a 400 wrote and showed nothing of the record. A 404 for a record asked for
by id is kept as a probe (`record_probe`): who went looking, for what, and
whose record it was if it exists; the caller sees the same 404 either way.

The client address is decided in one place, `audit.addresses` (trusted
proxies and `X-Forwarded-For`), as for the rate limits and the sign-in lockout.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.core.exceptions import ValidationError
from django.db import models
from django.http import HttpRequest

from .addresses import client_address
from .models import AuditEvent

Action = AuditEvent.Action

# The model's field lengths: longer values are cut, never refused.
_PATH_MAX = AuditEvent._meta.get_field("path").max_length
_REASON_MAX = AuditEvent._meta.get_field("reason").max_length
_OBJECT_ID_MAX = AuditEvent._meta.get_field("object_id").max_length


def default_reason(request: HttpRequest, view_action: str = "") -> str:
    """`namespace:url_name`, then the view's action: "api:patient-detail retrieve"."""
    match = getattr(request, "resolver_match", None)
    reason = match.view_name if match is not None and match.view_name else ""
    if match is not None and not match.namespace and reason and request.path.startswith("/api/"):
        reason = f"api:{reason}"
    if view_action:
        reason = f"{reason} {view_action}".strip()
    return reason


def patient_id_of(item) -> int | None:
    """A patient's id from a patient, an id, or anything with a `patient_id`."""
    if item is None:
        return None
    if isinstance(item, int):
        return item
    if hasattr(item, "patient_id"):
        return item.patient_id  # None for, say, an SMS from an unknown number
    if isinstance(item, models.Model):
        return item.pk  # a patient
    return int(item)


def record(
    request: HttpRequest,
    action: str,
    patients_or_patient_ids,
    object_type: str,
    object_id="",
    reason: str = "",
) -> list[AuditEvent]:
    """Write one audit row per patient, in one INSERT.

    `patients_or_patient_ids` is a patient, a patient id, or an iterable of
    either (or of objects with a `patient_id`). `object_id` is the id of the
    thing read or written; when several patients are given and it is empty,
    each row gets its patient's id.
    """
    if isinstance(patients_or_patient_ids, models.Model | int) or patients_or_patient_ids is None:
        items = [patients_or_patient_ids]
    else:
        items = list(patients_or_patient_ids)
    return record_rows(
        request,
        action,
        [(patient_id_of(item), object_id) for item in items],
        object_type,
        reason,
    )


def record_rows(
    request: HttpRequest,
    action: str,
    rows: Iterable[tuple[int | None, object]],
    object_type: str,
    reason: str = "",
) -> list[AuditEvent]:
    """Write one audit row per `(patient_id, object_id)`, in one INSERT."""
    common = _common(request, action, object_type, reason)
    events = [
        AuditEvent(patient_id=patient_id, object_id=_object_id(patient_id, object_id), **common)
        for patient_id, object_id in rows
    ]
    if not events:
        return []
    return AuditEvent.objects.bulk_create(events)


def record_list(
    request: HttpRequest,
    rows: Iterable[tuple[int | None, object]],
    object_type: str,
    reason: str = "",
    action: str = Action.LIST,
) -> AuditEvent | None:
    """Write one row for a list shown (or exported): its `(patient_id, object_id)` rows.

    The row's `patient` is set when the whole list is one patient's (say, their visits).
    """
    rows = list(rows)
    if not rows:
        return None
    patient_ids = sorted({patient_id for patient_id, _ in rows if patient_id is not None})
    event = AuditEvent(
        **_common(request, action, object_type, reason),
        patient_id=patient_ids[0] if len(patient_ids) == 1 else None,
        patient_ids=patient_ids,
        object_ids=[str(object_id) for _, object_id in rows],
    )
    event.save()
    return event


def record_probe(
    request: HttpRequest,
    model: type[models.Model],
    object_id,
    object_type: str,
    whose: Callable[[models.Model], int | None] | None = patient_id_of,
    reason: str = "",
) -> AuditEvent:
    """A record asked for by id and not among the user's (the caller got a 404): one `denied` row.

    The row names the id asked for and, when a record has that id, whose it is
    (`whose(record)`; `None`: records of no one patient). Another cohort's
    record and a missing one answer alike; only the trail (read by admins)
    tells them apart.
    """
    try:
        probed = model._default_manager.filter(pk=object_id).first()
    except (ValueError, TypeError, ValidationError):
        probed = None  # not even a possible id
    patient_id = whose(probed) if probed is not None and whose is not None else None
    [event] = record_rows(request, Action.DENIED, [(patient_id, object_id)], object_type, reason)
    return event


def system_request(user=None, path: str = "") -> HttpRequest:
    """The request to record for what a command or a worker does: who (if anyone), and how."""
    request = HttpRequest()
    request.method, request.path, request.user = "", path, user
    return request


def _common(request: HttpRequest, action: str, object_type: str, reason: str) -> dict:
    """Who, how and why: what every row of one request shares."""
    user = getattr(request, "user", None)
    if user is not None and not user.is_authenticated:
        user = None
    return {
        "user": user,
        "username": user.get_username() if user is not None else "",
        "action": Action(action),
        "object_type": object_type,
        "ip_address": client_address(request),
        "path": request.path[:_PATH_MAX],
        "method": request.method or "",
        "reason": (reason or default_reason(request))[:_REASON_MAX],
    }


def _object_id(patient_id, object_id) -> str:
    if object_id in ("", None):
        object_id = "" if patient_id is None else patient_id
    return str(object_id)[:_OBJECT_ID_MAX]
