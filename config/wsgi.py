import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_wsgi_application()

from .warmup import build_schema_once  # noqa: E402 - needs the settings loaded above

build_schema_once()
