"""API tokens and second factors in the admin.

Tokens are listed with their last use and revoked by deleting (superusers
only): each goes through `tokens.revoke`, as from the API, so the audit trail
records who revoked which. A second factor (an authenticator app, recovery
codes) deleted or changed here is on the audit trail too: deleting them is how
a lost phone is reset.
"""

from django.contrib import admin
from django.db import transaction
from django_otp.plugins.otp_static.admin import StaticDeviceAdmin
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.authtoken.models import TokenProxy

from audit import trail

from . import tokens
from .models import ApiToken

# The old plain-text tokens are migrated into hashed ones (migration 0002): nothing to manage.
if admin.site.is_registered(TokenProxy):
    admin.site.unregister(TokenProxy)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("user", "device", "created", "expiry", "last_used_at")
    list_filter = ("device",)
    search_fields = ("user__username", "device")
    fields = ("user", "device", "token_key", "created", "expiry", "last_used_at")
    readonly_fields = fields
    list_select_related = ("user",)

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    def has_add_permission(self, request):
        return False  # issued by the API or `manage.py create_api_token`, shown once

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    def delete_model(self, request, obj):
        tokens.revoke(request, obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():  # every chosen token revoked and audited, or none
            for token in queryset:
                tokens.revoke(request, token)


class AuditedDeviceAdmin:
    """A second factor added, changed or deleted in the admin writes its audit row with it."""

    def save_model(self, request, obj, form, change):
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            _audit_device(request, trail.Action.UPDATE if change else trail.Action.CREATE, obj)

    def delete_model(self, request, obj):
        with transaction.atomic():
            _audit_device(request, trail.Action.DELETE, obj)
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for device in queryset:
                _audit_device(request, trail.Action.DELETE, device)
            super().delete_queryset(request, queryset)


def _audit_device(request, action: str, device) -> None:
    reason = f"{device._meta.verbose_name} of {device.user}"
    trail.record(request, action, None, "two_factor", device.persistent_id, reason=reason)


for model, stock in ((TOTPDevice, TOTPDeviceAdmin), (StaticDevice, StaticDeviceAdmin)):
    if admin.site.is_registered(model):
        admin.site.unregister(model)
    admin.site.register(model, type(stock.__name__, (AuditedDeviceAdmin, stock), {}))
