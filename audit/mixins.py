"""Audit mixins for DRF viewsets and admin pages: what they show is recorded."""

from django.contrib.admin.utils import unquote
from django.db import transaction
from django.http import Http404

from .trail import (
    Action,
    default_reason,
    patient_id_of,
    record_list,
    record_probe,
    record_rows,
)


def _succeeded(response) -> bool:
    return 200 <= response.status_code < 300


class _Audited:
    """What is audited: `audit_object_type` names it, `audit_patient_id` says whose it is."""

    audit_object_type = "patient"

    def audit_patient_id(self, obj) -> int | None:
        """Whose record `obj` is: override where the link is not `patient_id`."""
        return patient_id_of(obj)


class AuditedViewSetMixin(_Audited):
    """Audit a DRF viewset's successful reads and writes of patient records.

    Put it before the DRF base classes. It notes what the view touched (the
    object of `get_object()`, the page of a list, the created object) and,
    once the response is known to be a success, records it: `retrieve` and
    other GET detail actions as views, `list` as one row for the page (with
    the ids of its objects and their patients), `create`/`update`/
    `partial_update` and other detail actions that are not GET as writes.
    The patient of an object is the object itself (a Patient) or its
    `patient_id`.

    `audit_object_type` names what the viewset serves; `audit_actions` maps a
    view action to `(audit action, object type)` when the defaults do not fit.
    """

    audit_actions: dict[str, tuple[str, str | None]] = {}

    _DEFAULT_ACTIONS = {
        "retrieve": Action.VIEW,
        "list": Action.LIST,
        "create": Action.CREATE,
        "update": Action.UPDATE,
        "partial_update": Action.UPDATE,
        "destroy": Action.DELETE,
    }

    def dispatch(self, request, *args, **kwargs):
        """A write and its audit rows commit together, or neither does."""
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return super().dispatch(request, *args, **kwargs)
        with transaction.atomic():
            return super().dispatch(request, *args, **kwargs)

    def initial(self, request, *args, **kwargs):
        self._audit_objects = {}
        self._audit_probe = None
        super().initial(request, *args, **kwargs)

    def get_object(self):
        try:
            obj = super().get_object()
        except Http404:
            self._audit_probe = self.kwargs.get(self.lookup_url_kwarg or self.lookup_field)
            raise
        self._audit_note([obj])
        return obj

    def _record_probe(self, request) -> None:
        """A record asked for and not found among the user's: noted, with whose it is if anyone's.

        Another cohort's patient looks to the caller exactly like a missing one;
        the trail (read by admins only) keeps who went looking, and for what.
        """
        record_probe(
            request,
            self.get_queryset().model,
            self._audit_probe,
            self.audit_object_type,
            self.audit_patient_id,
            default_reason(request, getattr(self, "action", "") or ""),
        )

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
        """Note each record once, in the order shown (keyed as model equality compares)."""
        noted = getattr(self, "_audit_objects", None)
        if noted is None:
            noted = self._audit_objects = {}
        for obj in objects:
            noted.setdefault((obj._meta.concrete_model, obj.pk), obj)

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
        if response.status_code == 404 and getattr(self, "_audit_probe", None) is not None:
            self._record_probe(request)
        objects = list((getattr(self, "_audit_objects", None) or {}).values())
        if objects and _succeeded(response) and request.method != "OPTIONS":
            action, object_type = self._audit_action(request)
            rows = [(self.audit_patient_id(obj), obj.pk) for obj in objects]
            reason = default_reason(request, getattr(self, "action", "") or "")
            if action == Action.LIST:
                record_list(request, rows, object_type, reason)
            else:
                record_rows(request, action, rows, object_type, reason)
        return response


class AuditedAdminMixin(_Audited):
    """Audit the admin's pages of patient records.

    The change list writes one row for the page (with its ids); the change page
    a view (GET) and the save an update (or a create); the history pages a
    view; deletions a delete. Put it before `admin.ModelAdmin`.
    """

    def _audit_reason(self, request, page: str) -> str:
        return default_reason(request) or (
            f"admin:{self.opts.app_label}_{self.opts.model_name}_{page}"
        )

    def _audit_object_rows(self, request, object_id) -> list[tuple[int | None, object]]:
        obj = self.get_queryset(request).filter(pk=unquote(object_id)).first()
        return [] if obj is None else [(self.audit_patient_id(obj), obj.pk)]

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        changelist = (getattr(response, "context_data", None) or {}).get("cl")
        if _succeeded(response) and changelist is not None:
            record_list(
                request,
                [(self.audit_patient_id(obj), obj.pk) for obj in changelist.result_list],
                self.audit_object_type,
                self._audit_reason(request, "changelist"),
            )
        return response

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        if request.method == "GET" and _succeeded(response):
            original = (getattr(response, "context_data", None) or {}).get("original")
            rows = (
                [(self.audit_patient_id(original), original.pk)]
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
            [(self.audit_patient_id(obj), obj.pk)],
            self.audit_object_type,
            self._audit_reason(request, "change" if change else "add"),
        )

    def delete_model(self, request, obj):
        rows = [(self.audit_patient_id(obj), obj.pk)]
        super().delete_model(request, obj)
        record_rows(
            request,
            Action.DELETE,
            rows,
            self.audit_object_type,
            self._audit_reason(request, "delete"),
        )

    def delete_queryset(self, request, queryset):
        rows = [(self.audit_patient_id(obj), obj.pk) for obj in queryset]
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


class ReadOnlyAdminMixin:
    """An admin that shows records the system writes and people never edit here."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
