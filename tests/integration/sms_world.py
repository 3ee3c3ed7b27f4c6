"""A small world for end-to-end SMS tests: PostgreSQL + Redis + real Celery workers + FakeTwilio.

Everything here runs for real across processes: the test process writes patients and runs
the due-sweep, `celery worker` subprocesses (tests.celery_worker.CeleryWorker) claim and send
the outbox rows through the official Twilio SDK, and the SDK talks HTTP to a FakeTwilio in
the test process. Time cannot be frozen across processes, so the patients live in time zones
where it is daytime *now* (see `daytime_zones`).

The test process plays Celery beat (`Beat`): it sends the periodic wake-ups
(`dispatch_due`, `reconcile_stale_messages`) every second or so instead of every minute.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock
from pathlib import Path

import redis
import requests
from celery import current_app
from django.apps import apps
from django.conf import settings
from django.db.models import Count, Min
from django.utils import timezone

from surveillance import demo
from tests.celery_worker import CeleryWorker
from tests.fake_twilio import FAKE_FROM_NUMBER, FakeTwilio

# NANP area codes for fictional 555-01xx numbers: 100 numbers per area code.
_AREA_CODES = [code for code in range(201, 990) if code % 100 != 11 and code % 10 != 0]


def daytime_zones(now: datetime | None = None, first_hour: int = 9, last_hour: int = 19) -> list:
    """IANA zones whose local hour is now within [first_hour, last_hour]: far from quiet
    hours (08:00-21:00 sending window) for the next hour at least."""
    now = now or timezone.now()
    zones = demo.daytime_zones(now, first_hour, last_hour)
    assert zones, f"no daytime zone among the candidates at {now:%H:%M} UTC"
    return zones


def phone_number(n: int) -> str:
    """A distinct fictional number per patient: +1 AAA 555-01xx."""
    area = _AREA_CODES[n // 100]
    return f"+1{area}55501{n % 100:02d}"


def ensure_default_protocol() -> None:
    """The data migration's protocol; a `transactional_db` flush of an earlier test drops it."""
    migration = importlib.import_module("scheduling.migrations.0001_initial")
    migration.load_default_protocol(apps, None)


def enrol_due_patients(
    count: int, batch_size: int = 500, zones: list[str] | None = None, numbers=phone_number
) -> list[str]:
    """Enrol `count` standard-tier patients in bulk (the real services), with one reminder
    series each due a minute ago; returns their phone numbers.

    Patient n lives in `zones[n % len(zones)]` (default: where it is daytime now) and
    has the number `numbers(n)` (default: a number of their own)."""
    from cohorts import contacts, services
    from cohorts.models import Cohort, Patient, TumourProfile
    from scheduling.models import ReminderSeries
    from surveillance.demo import PROFILES

    ensure_default_protocol()
    zones = zones or daytime_zones()
    today = timezone.localdate()
    cohort = Cohort.objects.create(
        name=f"E2E cohort {time.time_ns()}", site="E2E Hospital", timezone="UTC", country="US"
    )
    phones = []
    for start in range(0, count, batch_size):
        patients, profiles, details = [], [], []
        for n in range(start, min(start + batch_size, count)):
            phones.append(numbers(n))
            details.append(
                {
                    "number": phones[-1],
                    "timezone": zones[n % len(zones)],
                    "language": "en",
                    "sms_consent": True,
                }
            )
            patients.append(
                Patient(
                    cohort=cohort,
                    first_name=f"E2E{n}",
                    last_name="Patient",
                    date_of_birth=date(1965, 1, 1) + timedelta(days=n % 7000),
                    mrn=f"E2E{n:08d}",
                    reminder_time=clock(10, 0),
                    enrolled_on=today - timedelta(days=30),
                )
            )
            profiles.append(
                TumourProfile(
                    treatment_end_date=today - timedelta(days=120),
                    histology="ductal",
                    **PROFILES["standard"],
                )
            )
        contacts.bind(patients, details)
        services.enrol(patients, profiles)
    # One series per patient falls due (the earliest active one): exactly one SMS each.
    first = (
        ReminderSeries.objects.filter(is_active=True, patient__cohort=cohort)
        .values("patient")
        .annotate(first=Min("pk"), n=Count("pk"))
    )
    due_ids = [row["first"] for row in first]
    assert len(due_ids) == count
    ReminderSeries.objects.filter(pk__in=due_ids).update(
        next_due_at=timezone.now() - timedelta(minutes=1)
    )
    return phones


def worker_env(fake: FakeTwilio, **overrides) -> dict:
    env = {
        "SMS_BACKEND": "twilio",
        "TWILIO_API_BASE_URL": fake.url,
        "TWILIO_ACCOUNT_SID": fake.account_sid,
        "TWILIO_AUTH_TOKEN": fake.auth_token,
        "TWILIO_FROM_NUMBER": FAKE_FROM_NUMBER,
        # The lease must outlast one HTTP request (settings refuse less than three
        # timeouts), or reconciliation could re-queue a message still in flight.
        "TWILIO_TIMEOUT_SECONDS": "2",
        "SMS_LEASE_SECONDS": "6",
        "SMS_RATE_PER_SECOND": "0",
        "SMS_RETRY_BASE_SECONDS": "1",
        "CACHE_URL": current_app.conf.broker_url,
        "LOG_LEVEL": "WARNING",
    }
    env.update({name: str(value) for name, value in overrides.items()})
    return env


def queue_length(broker_url: str | None = None) -> int:
    client = redis.Redis.from_url(broker_url or current_app.conf.broker_url)
    try:
        return client.llen(settings.CELERY_TASK_DEFAULT_QUEUE)
    finally:
        client.close()


def status_counts() -> Counter:
    from notifications.models import Message

    rows = (
        Message.objects.filter(direction="outbound").values_list("status").annotate(n=Count("pk"))
    )
    return Counter(dict(rows))


def wait_until(predicate, timeout: float, interval: float = 0.5, on_tick=None):
    """Poll `predicate` until truthy (returns it) or raise TimeoutError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"not true after {timeout:.0f} s: {predicate.__doc__ or predicate}")
        if on_tick:
            on_tick()
        time.sleep(interval)


@dataclass
class Beat:
    """Celery beat's periodic wake-ups, sped up: reconcile and dispatch every `every` s.

    dispatch_due is skipped while the broker still holds a backlog, so the test does not
    flood Redis with wake-ups for messages already on their way (they would be harmless:
    each send claims its row first).
    """

    every: float = 1.0
    backlog: int = 50
    broker_url: str | None = None
    sweep: bool = False
    """Send the due-sweep too (its every-minute schedule, sped up)."""
    last: float = 0.0
    ticks: int = 0

    def tick(self) -> None:
        from notifications.tasks import dispatch_due, reconcile_stale_messages
        from scheduling.tasks import sweep_due

        if time.monotonic() - self.last < self.every:
            return
        self.last = time.monotonic()
        try:
            reconcile_stale_messages.delay()
            if self.sweep:
                sweep_due.delay()
            if queue_length(self.broker_url) < self.backlog:
                dispatch_due.delay()
            self.ticks += 1
        except Exception:  # noqa: BLE001 - a beat that cannot reach the broker tries again
            pass


@dataclass
class Report:
    """What reached the provider compared with what the outbox says."""

    phones: list[str]
    fake: FakeTwilio
    started: float = field(default_factory=time.monotonic)

    def figures(self) -> dict:
        from notifications.models import Message

        per_number = Counter(m.to for m in self.fake.messages)
        rows = Message.objects.filter(direction="outbound")
        sids = set(rows.exclude(provider_sid=None).values_list("provider_sid", flat=True))
        fake_sids = {m.sid for m in self.fake.messages}
        return {
            "patients": len(self.phones),
            "at_provider": sum(per_number.values()),
            "duplicates": sum(n - 1 for n in per_number.values() if n > 1),
            "lost": sum(1 for phone in self.phones if per_number[phone] == 0),
            "strangers": sum(n for phone, n in per_number.items() if phone not in self.phones),
            "rows": dict(status_counts()),
            "rows_without_provider_sid": rows.filter(status="sent", provider_sid=None).count(),
            "sids_unknown_to_provider": len(sids - fake_sids),
            "create_attempts": self.fake.create_attempts,
        }

    def all_sent(self) -> bool:
        """every outbound row sent"""
        counts = status_counts()
        return counts.get("sent", 0) == len(self.phones) and sum(counts.values()) == len(
            self.phones
        )

    def print(self, title: str, **extra) -> dict:
        figures = self.figures()
        elapsed = time.monotonic() - self.started
        print(f"\n=== {title} ===")
        for name, value in {**figures, **extra}.items():
            print(f"  {name:28} {value}")
        print(f"  {'elapsed_s':28} {elapsed:.1f}")
        print(f"  {'messages_per_s':28} {figures['at_provider'] / elapsed:.1f}")
        return figures


class Workers:
    """CeleryWorker processes of one test, all with the same env; stopped at teardown."""

    def __init__(self, log_dir: Path, env: dict, concurrency: int = 4):
        self.log_dir, self.env, self.concurrency = log_dir, env, concurrency
        self.all: list[CeleryWorker] = []
        self.live: list[CeleryWorker] = []
        self.exits = 0

    def start(self) -> CeleryWorker:
        worker = CeleryWorker(self.log_dir, concurrency=self.concurrency, env=self.env)
        self.all.append(worker)
        self.live.append(worker)
        return worker.start(timeout=90)

    def kill_oldest(self) -> None:
        """SIGKILL the longest-running worker and start another in its place."""
        self.live.pop(0).kill()
        self.start()

    def supervise(self) -> None:
        """What the deployment's supervisor does (docker-compose `restart: unless-stopped`,
        systemd `Restart=always`): start again a worker that exited by itself."""
        for worker in [w for w in self.live if w.process.poll() is not None]:
            self.live.remove(worker)
            self.exits += 1
            self.start()

    def stop(self) -> None:
        for worker in self.all:
            worker.stop()

    def logs(self) -> str:
        return "\n".join(p.read_text()[-3000:] for p in sorted(self.log_dir.glob("worker-*.log")))


class CeleryBeat:
    """A real `celery beat` (the schedule of tests.settings_fast_beat), with a schedule file
    of its own: two of them are two deployments' beats."""

    def __init__(self, log_dir: Path, env: dict):
        self.log_dir, self.env = (
            log_dir,
            {**env, "DJANGO_SETTINGS_MODULE": "tests.settings_fast_beat"},
        )
        self.process: subprocess.Popen | None = None

    def start(self) -> CeleryBeat:
        stamp = time.time_ns()
        log = open(self.log_dir / f"beat-{stamp}.log", "w")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "tests.shifted_clock", "celery", "-A", "config", "beat"),
                *("--loglevel=INFO", f"--schedule={self.log_dir / f'beat-{stamp}.db'}"),
            ],
            cwd=Path(__file__).resolve().parents[2],
            env=CeleryWorker(self.log_dir, env=self.env)._environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        if self.alive():
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.alive():
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)


class WebServer:
    """gunicorn serving the app (tests.settings) on a free port, with the env of the
    workers (database, broker, cache, clock): where the fake's webhooks go."""

    def __init__(self, log_dir: Path, env: dict):
        self.log_dir, self.env, self.port = log_dir, env, free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 180) -> WebServer:
        worker = CeleryWorker(self.log_dir, env=self.env)  # the same environment
        log = open(self.log_dir / f"web-{time.time_ns()}.log", "w")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "tests.shifted_clock", "gunicorn", "config.wsgi"),
                *("--bind", f"127.0.0.1:{self.port}", "--workers", "2", "--timeout", "180"),
            ],
            cwd=Path(__file__).resolve().parents[2],
            env=worker._environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until(self.answers, timeout, interval=0.2)
        return self

    def answers(self) -> bool:
        """the web server answers"""
        assert self.process.poll() is None, "gunicorn exited"
        try:
            return requests.get(f"{self.url}/healthz", timeout=30).status_code > 0
        except requests.RequestException:
            return False

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateRedis:
    """A redis-server of the test's own, on a free loopback port; never the machine's."""

    def __init__(self, log_dir: Path):
        self.port = free_port()
        self.log_dir = log_dir
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 60) -> PrivateRedis:
        log = open(self.log_dir / f"redis-{time.time_ns()}.log", "w")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.2)
        wait_until(lambda: _pings(client), timeout, interval=0.05)
        client.close()
        return self

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()


def _pings(client) -> bool:
    try:
        return client.ping()
    except redis.RedisError:
        return False


_app_lock = threading.Lock()


@contextlib.contextmanager
def celery_app_on(broker_url: str):
    """Point this process's Celery app (publishing, results, control/ping) at another broker,
    and back afterwards. Workers started meanwhile inherit it (CeleryWorker reads
    current_app.conf.broker_url).

    Celery's conf.broker_url and conf.result_backend read the CELERY_BROKER_URL and
    CELERY_RESULT_BACKEND environment variables *before* the configuration, so those are
    what must change; then the cached connection pools and result backend are dropped.
    """
    app = current_app._get_current_object()
    names = ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND")
    saved = {name: os.environ.get(name) for name in names}
    saved_conf = (app.conf.get("broker_url"), app.conf.get("result_backend"))
    with _app_lock:
        os.environ.update(dict.fromkeys(names, broker_url))
        _repoint(app, broker_url, broker_url)
    try:
        assert app.conf.broker_url == broker_url, app.conf.broker_url
        yield app
    finally:
        with _app_lock:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            _repoint(app, *saved_conf)


def _repoint(app, broker_url: str | None, result_backend: str | None) -> None:
    # Not force_close_all(): kombu keeps one pool per broker URL in a global registry, and
    # a closed one would be handed back when we return to the original broker.
    app.conf.broker_url = broker_url
    app.conf.result_backend = result_backend
    app._pool = None
    with contextlib.suppress(AttributeError, KeyError):
        app.__dict__["amqp"]._producer_pool = None
    app._backend_cache = None
    app._local = threading.local()
