"""The Celery application.

The broker only carries wake-ups: every task reads its work from the database,
so a lost or repeated broker message never loses or duplicates a reminder.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("surveillance")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
