"""Settings for bench/beat_per_patient.py: the project's, plus django-celery-beat.

Only the benchmark uses them (django-celery-beat is a dev dependency, not an app of
the service).
"""

from config.settings import *  # noqa: F403

INSTALLED_APPS += ["django_celery_beat"]  # noqa: F405
