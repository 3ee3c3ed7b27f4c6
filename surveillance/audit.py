"""The audit trail: who read or wrote which patient's record, when, from where, why.

Every path into a patient's record writes `AuditEvent` rows through
`record()`: the API (through `AuditedViewSetMixin`), the admin (through
`AuditedAdminMixin`) and, when they come, exports and web pages. One row per
patient touched: a list page writes one row per patient on the page.

Only successful requests are recorded: a 404 (say, another cohort's patient)
or a 400 wrote and showed nothing of the record.

The client address is `REMOTE_ADDR`, never `X-Forwarded-For` as sent: any
client can forge that header. Behind a proxy or load balancer, the server must
put the real client address into `REMOTE_ADDR` itself, e.g. gunicorn's
`--forwarded-allow-ips=<the proxy's address>` (which trusts the proxy's
`X-Forwarded-For` only when it comes from that proxy).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from django.contrib.admin.utils import unquote
from django.http import HttpRequest

from .models import AuditEvent, Patient

Action = AuditEvent.Action

# The model's field lengths: longer values are cut, never refused.
_PATH_MAX = AuditEvent._meta.get_field("path").max_length
_REASON_MAX = AuditEvent._meta.get_field("reason").max_length
_OBJECT_ID_MAX = AuditEvent._meta.get_field("object_id").max_length


def client_address(request: HttpRequest) -> str | None:
    """The peer's address as the server saw it (see the module's docstring)."""
    address = (request.META.get("REMOTE_ADDR") or "").strip()
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


def default_reason(request: HttpRequest, view_action: str = "") -> str:
    """`namespace:url_name`, then the view's action: "api:patient-detail retrieve"."""
    match = getattr(request, "resolver_match", None)
    reason = match.view_name if match is not None and match.view_name else ""
    if match is not None and not match.namespace and reason and request.path.startswith("/api/"):
        reason = f"api:{reason}"
    if view_action:
        reason = f"{reason} {view_action}".strip()
    return reason


def _patient_id(item) -> int | None:
    if item is None:
        return None
    if isinstance(item, Patient):
        return item.pk
    if isinstance(item, int):
        return item
    if hasattr(item, "patient_id"):
        return item.patient_id  # None for, say, an SMS from an unknown number
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
    if isinstance(patients_or_patient_ids, Patient | int) or patients_or_patient_ids is None:
        items = [patients_or_patient_ids]
    else:
        items = list(patients_or_patient_ids)
    return record_rows(
        request,
        action,
        [(_patient_id(item), object_id) for item in items],
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
    user = getattr(request, "user", None)
    if user is not None and not user.is_authenticated:
        user = None
    common = {
        "user": user,
        "username": user.get_username() if user is not None else "",
        "action": Action(action),
        "object_type": object_type,
        "ip_address": client_address(request),
        "path": request.path[:_PATH_MAX],
        "method": request.method or "",
        "reason": (reason or default_reason(request))[:_REASON_MAX],
    }
    events = [
        AuditEvent(patient_id=patient_id, object_id=_object_id(patient_id, object_id), **common)
        for patient_id, object_id in rows
    ]
    if not events:
        return []
    return AuditEvent.objects.bulk_create(events)


def _object_id(patient_id, object_id) -> str:
    if object_id in ("", None):
        object_id = "" if patient_id is None else patient_id
    return str(object_id)[:_OBJECT_ID_MAX]


def _succeeded(response) -> bool:
    return 200 <= response.status_code < 300


class AuditedViewSetMixin:
    """Audit a DRF viewset's successful reads and writes of patient records.

    Put it before the DRF base classes. It notes what the view touched (the
    object of `get_object()`, the page of a list, the created object) and,
    once the response is known to be a success, records it: `retrieve` and
    other GET detail actions as views, `list` as one row per object on the
    page, `create`/`update`/`partial_update` and other detail actions that
    are not GET as writes. The patient of an object is the object itself
    (a Patient) or its `patient_id`.

    `audit_object_type` names what the viewset serves; `audit_actions` maps a
    view action to `(audit action, object type)` when the defaults do not fit.
    """

    audit_object_type = "patient"
    audit_actions: dict[str, tuple[str, str | None]] = {}

    _DEFAULT_ACTIONS = {
        "retrieve": Action.VIEW,
        "list": Action.LIST,
        "create": Action.CREATE,
        "update": Action.UPDATE,
        "partial_update": Action.UPDATE,
        "destroy": Action.DELETE,
    }

    def initial(self, request, *args, **kwargs):
        self._audit_objects = []
        super().initial(request, *args, **kwargs)

    def get_object(self):
        obj = super().get_object()
        self._audit_note([obj])
        return obj

    def get_serializer(self, *args, **kwargs):
        if kwargs.get("many") and getattr(self, "action", None) == "list" and args:
            # Evaluate the page once, here, so the rows audited are the rows shown.
            args = (list(args[0]), *args[1:])
            self._audit_note(args[0])
        return super().get_serializer(*args, **kwargs)

    def perform_create(self, serializer):
        super().perform_create(serializer)
        self._audit_note([serializer.instance])

    def _audit_note(self, objects) -> None:
        noted = getattr(self, "_audit_objects", None)
        if noted is None:
            noted = self._audit_objects = []
        for obj in objects:
            if obj not in noted:
                noted.append(obj)

    def _audit_action(self, request) -> tuple[str, str]:
        view_action = getattr(self, "action", None) or ""
        if view_action in self.audit_actions:
            action, object_type = self.audit_actions[view_action]
            return action, object_type or self.audit_object_type
        if view_action in self._DEFAULT_ACTIONS:
            return self._DEFAULT_ACTIONS[view_action], self.audit_object_type
        # Any other action: reading if it is safe, writing otherwise.
        action = Action.VIEW if request.method in ("GET", "HEAD", "OPTIONS") else Action.UPDATE
        return action, self.audit_object_type

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        objects = getattr(self, "_audit_objects", None)
        if objects and _succeeded(response) and request.method != "OPTIONS":
            action, object_type = self._audit_action(request)
            record_rows(
                request,
                action,
                [(_patient_id(obj), obj.pk) for obj in objects],
                object_type,
                default_reason(request, getattr(self, "action", "") or ""),
            )
        return response


class AuditedAdminMixin:
    """Audit the admin's pages of patient records.

    The change list writes one row per object on the page; the change page
    a view (GET) and the save an update (or a create); the history pages a
    view; deletions a delete. Put it before `admin.ModelAdmin`.
    """

    audit_object_type = "patient"

    def _audit_reason(self, request, page: str) -> str:
        return default_reason(request) or (
            f"admin:{self.opts.app_label}_{self.opts.model_name}_{page}"
        )

    def _audit_object_rows(self, request, object_id) -> list[tuple[int | None, object]]:
        obj = self.get_queryset(request).filter(pk=unquote(object_id)).first()
        return [] if obj is None else [(_patient_id(obj), obj.pk)]

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        changelist = (getattr(response, "context_data", None) or {}).get("cl")
        if _succeeded(response) and changelist is not None:
            record_rows(
                request,
                Action.LIST,
                [(_patient_id(obj), obj.pk) for obj in changelist.result_list],
                self.audit_object_type,
                self._audit_reason(request, "changelist"),
            )
        return response

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        if request.method == "GET" and _succeeded(response):
            original = (getattr(response, "context_data", None) or {}).get("original")
            rows = (
                [(_patient_id(original), original.pk)]
                if original is not None
                else self._audit_object_rows(request, object_id)
            )
            record_rows(
                request,
                Action.VIEW,
                rows,
                self.audit_object_type,
                self._audit_reason(request, "change"),
            )
        return response

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        # Inside the admin's transaction: a save that fails later leaves no row.
        record_rows(
            request,
            Action.UPDATE if change else Action.CREATE,
            [(_patient_id(obj), obj.pk)],
            self.audit_object_type,
            self._audit_reason(request, "change" if change else "add"),
        )

    def delete_model(self, request, obj):
        rows = [(_patient_id(obj), obj.pk)]
        super().delete_model(request, obj)
        record_rows(
            request,
            Action.DELETE,
            rows,
            self.audit_object_type,
            self._audit_reason(request, "delete"),
        )

    def delete_queryset(self, request, queryset):
        rows = [(_patient_id(obj), obj.pk) for obj in queryset]
        super().delete_queryset(request, queryset)
        record_rows(
            request,
            Action.DELETE,
            rows,
            self.audit_object_type,
            self._audit_reason(request, "delete"),
        )

    def history_view(self, request, object_id, extra_context=None):
        response = super().history_view(request, object_id, extra_context)
        if _succeeded(response):
            record_rows(
                request,
                Action.VIEW,
                self._audit_object_rows(request, object_id),
                f"{self.audit_object_type}_history",
                self._audit_reason(request, "history"),
            )
        return response

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        response = super().history_form_view(request, object_id, version_id, extra_context)
        if request.method == "GET" and _succeeded(response):
            record_rows(
                request,
                Action.VIEW,
                self._audit_object_rows(request, object_id),
                f"{self.audit_object_type}_history",
                self._audit_reason(request, "history"),
            )
        return response
