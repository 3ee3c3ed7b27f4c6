"""The non-Docker production path: gunicorn with the same variables as docker-compose."""

import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

pytestmark = [pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]
DEPLOY_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "x" * 20 + "-production-like-secret-key-for-tests-" + "y" * 20,
    "ALLOWED_HOSTS": "127.0.0.1,surveillance.example.org",
    "PUBLIC_BASE_URL": "https://surveillance.example.org",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/15",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# Seconds one request may take: generous, so a loaded machine is slow, not failing.
REQUEST_TIMEOUT = 60

# Test-only relaxations that a deployment never has.
TEST_ONLY_VARIABLES = {"HTTPS_ONLY", "SMS_BACKEND", "DJANGO_ALLOW_ASYNC_UNSAFE"}


def _production_env(database_url: str, tmp_path: Path) -> dict:
    env = {key: value for key, value in os.environ.items() if key not in TEST_ONLY_VARIABLES}
    env.update(
        DEPLOY_ENV,
        DATABASE_URL=database_url,
        DJANGO_SETTINGS_MODULE="config.settings",
        VAR_DIR=str(tmp_path),
    )
    return env


@pytest.fixture
def gunicorn(tmp_path):
    processes = []

    def start(database_url: str, *server_options: str) -> str:
        env = _production_env(database_url, tmp_path)
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
            cwd=ROOT,
            env=env,
            check=True,
            timeout=120,
        )
        port = _free_port()
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                # A worker loads Django and builds the API schema before its first
                # heartbeat; on a busy machine that can take longer than the default.
                "--timeout",
                "180",
                *server_options,
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        processes.append(process)
        base = f"http://127.0.0.1:{port}"
        _wait_for(base, process)
        return base

    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=REQUEST_TIMEOUT)  # returns as soon as gunicorn has stopped


def _wait_for(base: str, process: subprocess.Popen) -> None:
    """Until gunicorn answers at all (any status): a slow start on a busy machine is no
    failure, so the limit is generous and every kind of request error means "not yet"."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert process.poll() is None, "gunicorn exited"
        try:
            requests.get(f"{base}/healthz", timeout=REQUEST_TIMEOUT)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise TimeoutError("gunicorn did not answer within 180 s")


def _test_database_url() -> str:
    from django.db import connection

    database = connection.settings_dict
    return f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"


def test_it_serves_healthz_on_postgresql_and_redis_under_gunicorn(transactional_db, gunicorn):
    base = gunicorn(_test_database_url())

    response = requests.get(f"{base}/healthz", timeout=REQUEST_TIMEOUT)

    assert response.status_code == 200
    assert response.json()["database"]["vendor"] == "postgresql"
    assert response.json()["broker"]["ok"] is True


def test_it_redirects_pages_to_https_with_hsts(transactional_db, gunicorn):
    base = gunicorn(_test_database_url())

    page = requests.get(f"{base}/", allow_redirects=False, timeout=REQUEST_TIMEOUT)
    secure = requests.get(
        f"{base}/", headers={"X-Forwarded-Proto": "https"}, timeout=REQUEST_TIMEOUT
    )

    assert page.status_code == 301
    assert page.headers["Location"].startswith("https://")
    assert secure.status_code == 200
    assert "max-age=31536000" in secure.headers["Strict-Transport-Security"]


def test_a_threaded_server_answers_its_first_schema_requests_at_once(transactional_db, gunicorn):
    """drf-spectacular loaded its extensions on the first schema request, not thread-safely:
    two of the first concurrent requests of a threaded server answered 500. The schema is
    built once at start-up now (config/warmup.py)."""
    threaded = ("--worker-class", "gthread", "--threads", "8", "--workers", "1")
    base = gunicorn(_test_database_url(), *threaded)

    def schema(_) -> int:
        headers = {"X-Forwarded-Proto": "https", "Accept": "application/vnd.oai.openapi+json"}
        return requests.get(f"{base}/api/schema/", headers=headers, timeout=REQUEST_TIMEOUT)

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(schema, range(8)))

    assert [answer.status_code for answer in answers] == [200] * 8
    assert len({answer.content for answer in answers}) == 1


def test_it_answers_503_when_the_database_is_down(gunicorn):
    base = gunicorn("postgres://postgres@127.0.0.1:1/nowhere")

    response = requests.get(f"{base}/healthz", timeout=REQUEST_TIMEOUT)

    assert response.status_code == 503
    assert response.json()["database"]["ok"] is False


def test_it_passes_the_deployment_checklist(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=_production_env("postgres://postgres@127.0.0.1:5432/postgres", tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_it_refuses_to_start_without_a_secret_key_in_a_deployment(tmp_path):
    env = _production_env("postgres://postgres@127.0.0.1:5432/postgres", tmp_path)
    del env["SECRET_KEY"]

    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr
