from django.contrib import admin

from .models import SchedulerHeartbeat


@admin.register(SchedulerHeartbeat)
class SchedulerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ("beat_at", "worker")
