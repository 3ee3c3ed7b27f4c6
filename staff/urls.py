from django.conf import settings
from django.urls import path

from . import (
    calendar_page,
    dashboard_page,
    exports,
    feeds,
    flag_page,
    imports,
    inbox,
    patient_forms,
    phone_simulator,
    timeline,
    today,
    visit_steps,
)

app_name = "staff"

urlpatterns = [
    path("", today.today, name="today"),
    path("today/flags/", today.today_flags, name="today-flags"),
    path("messages/<int:message_id>/review/", today.review_message, name="message-review"),
    path("messages/<int:message_id>/reply/", inbox.reply, name="message-reply"),
    path("flags/<int:flag_id>/", flag_page.flag_page, name="flag"),
    path("flags/<int:flag_id>/acknowledge/", flag_page.acknowledge, name="flag-acknowledge"),
    path("flags/<int:flag_id>/resolve/", flag_page.resolve, name="flag-resolve"),
    path("flags/<int:flag_id>/urgent-visit/", flag_page.urgent_visit, name="flag-urgent-visit"),
    path("flags/<int:flag_id>/assign/", flag_page.assign, name="flag-assign"),
    path("dashboard/", dashboard_page.dashboard, name="dashboard"),
    path("calendar/", calendar_page.calendar, name="calendar"),
    path("calendar/<str:day>/", calendar_page.day_page, name="calendar-day"),
    path("calendar/<str:day>/book/", calendar_page.book_day, name="calendar-book-day"),
    path("visits/<int:visit_id>/<str:step>/", visit_steps.visit_step, name="visit-step"),
    path("export/<str:key>.csv", exports.export, name="export"),
    path("import/", imports.upload, name="import-upload"),
    path("import/<int:import_id>/", imports.import_page, name="import"),
    path("import/<int:import_id>/progress/", imports.import_progress, name="import-progress"),
    path("import/<int:import_id>/start/", imports.start, name="import-start"),
    path("inbox/", inbox.inbox, name="inbox"),
    path("inbox/review/", inbox.review_many, name="inbox-review"),
    path("patients/new/", patient_forms.enrol, name="patient-new"),
    path("patients/<int:patient_id>/", timeline.timeline, name="patient"),
    path("patients/<int:patient_id>/edit/", patient_forms.edit, name="patient-edit"),
    path("patients/<int:patient_id>/pause/", timeline.pause, name="patient-pause"),
    path("patients/<int:patient_id>/check-in/", timeline.check_in, name="patient-check-in"),
    path("patients/<int:patient_id>/withdraw/", timeline.withdraw, name="patient-withdraw"),
    path("calendar-feed/", feeds.feed_page, name="feed"),
    path("calendar-feed/new/", feeds.make_feed, name="feed-make"),
    path("calendar-feed/revoke/", feeds.revoke_feed, name="feed-revoke"),
    path("calendar/<str:token>.ics", feeds.feed_ics, name="feed-ics"),
]

if settings.PHONE_SIMULATOR:  # development only (console SMS); never with Twilio
    urlpatterns += [
        path("phone/", phone_simulator.phone, name="phone"),
        path("phone/<int:patient_id>/reply/", phone_simulator.reply, name="phone-reply"),
    ]
