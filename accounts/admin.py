"""API tokens in the admin: listed with their last use, revoked by deleting; superusers only.

Deleting is revoking: each token goes through `tokens.revoke`, as from the API,
so the audit trail records who revoked which.
"""

from django.contrib import admin
from django.db import transaction
from rest_framework.authtoken.models import TokenProxy

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
