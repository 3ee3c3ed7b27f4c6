# syntax=docker/dockerfile:1
#
# One image for every process of the service: web (gunicorn, the default CMD),
# the Celery worker, Celery beat and the one-off `migrate`
# (docker-compose.yml picks the command per service).

# --- build: the runtime dependencies in a virtualenv ---------------------------
FROM python:3.11-slim AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

# Runtime pins only (requirements-dev.lock adds test and lint tools).
COPY requirements.lock /tmp/requirements.lock
RUN pip install --no-cache-dir -r /tmp/requirements.lock

# --- runtime ----------------------------------------------------------------------
FROM python:3.11-slim AS runtime

# gunicorn reads its worker count from WEB_CONCURRENCY (3 by default here; set
# it in .env to suit the host's cores).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    DJANGO_SETTINGS_MODULE=config.settings \
    VAR_DIR=/app/var \
    WEB_CONCURRENCY=3

# A real, writable home: gunicorn puts its control socket in ~/.gunicorn/.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --create-home --home-dir /home/app \
        --shell /usr/sbin/nologin app

COPY --from=build /opt/venv /opt/venv

WORKDIR /app
# The code stays owned by root (read-only to the app user); only VAR_DIR is
# writable: static files, the beat schedule.
COPY . /app
RUN mkdir -p /app/var/media && chown -R app:app /app/var

USER app

# Settings need SECRET_KEY and DATABASE_URL at import once not embedded: dummy
# values for this build step only (collectstatic touches neither the database
# nor the broker), never baked into the image's environment.
RUN SECRET_KEY=build-only \
    DATABASE_URL=sqlite:////tmp/build.sqlite3 \
    CELERY_BROKER_URL=memory:// \
    python manage.py collectstatic --noinput --verbosity 0

EXPOSE 8000

CMD ["gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000", "--access-logfile", "-"]
