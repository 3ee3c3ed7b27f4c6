"""End to end: due-sweep -> outbox -> real Celery workers -> Twilio SDK -> FakeTwilio.

The promise under test (docs/contracts.md, "What must hold, always"): no message lost, none sent
twice for the same occurrence. 1,000 patients each have one reminder due now; in the end the
provider must hold exactly one SMS per patient and every outbox row must be `sent` with the
provider's sid. The happy path runs in the normal suite; the fault runs (worker SIGKILL,
Redis restart, provider faults, soak) are marked `chaos` (make chaos) and print their figures
(pytest -s) for the release note.
"""

import re
import time
from datetime import datetime, timedelta

import pytest
import redis
from celery import current_app
from django.utils import timezone

from notifications.models import Message
from notifications.tasks import dispatch_due
from scheduling import sweep
from scheduling.models import ReminderSeries, SchedulerHeartbeat
from scheduling.tasks import sweep_due
from tests.fake_twilio import FakeTwilio
from tests.integration.private_postgres import PrivatePostgres, database_on, reconnect_after_errors
from tests.integration.sms_world import (
    Beat,
    CeleryBeat,
    PrivateRedis,
    Report,
    Workers,
    celery_app_on,
    enrol_due_patients,
    status_counts,
    wait_until,
    worker_env,
)

pytestmark = [pytest.mark.integration]

PATIENTS = 1000


@pytest.fixture
def fake():
    # `timeout` faults hold a request past the workers' 2 s TWILIO_TIMEOUT_SECONDS.
    with FakeTwilio(timeout_delay=3) as fake:
        yield fake


@pytest.fixture
def workers(transactional_db, tmp_path, fake):
    """Workers of this test only (its own env); the broker's Redis db emptied first."""
    client = redis.Redis.from_url(current_app.conf.broker_url)
    client.flushdb()  # our own db (CELERY_BROKER_URL): no wake-ups left by an earlier test
    client.close()
    pool = Workers(tmp_path, worker_env(fake))
    yield pool
    pool.stop()


def assert_exactly_once(report: Report) -> dict:
    figures = report.figures()
    assert figures["duplicates"] == 0, figures
    assert figures["lost"] == 0, figures
    assert figures["strangers"] == 0, figures
    assert figures["at_provider"] == len(report.phones), figures
    assert figures["rows"] == {"sent": len(report.phones)}, figures
    assert figures["rows_without_provider_sid"] == 0, figures
    assert figures["sids_unknown_to_provider"] == 0, figures
    sids = list(Message.objects.values_list("provider_sid", flat=True))
    assert sorted(sids) == sorted(m.sid for m in report.fake.messages)
    assert sorted(Message.objects.values_list("to_number", flat=True)) == sorted(report.phones)
    return figures


def wait_all_sent(report: Report, timeout: float, beat: Beat | None = None) -> float:
    """Seconds until every row is sent (beat ticking meanwhile, if given)."""
    started = time.monotonic()
    try:
        wait_until(report.all_sent, timeout, interval=0.25, on_tick=beat and beat.tick)
    except TimeoutError:
        pytest.fail(f"not all sent: {report.figures()}")
    return time.monotonic() - started


def occurrence_keys() -> dict[int, datetime]:
    """series pk -> the occurrence each outbox row was written for (from its key)."""
    keys = {}
    for key in Message.objects.values_list("idempotency_key", flat=True):
        series, stamp = re.fullmatch(r"series:(\d+):(\d{8}T\d{6}Z)", key).groups()
        keys[int(series)] = datetime.strptime(stamp, "%Y%m%dT%H%M%S%z")
    return keys


# --- 1. the happy path (normal suite) --------------------------------------------------


def test_1000_due_reminders_reach_the_provider_exactly_once(workers, fake):
    phones = enrol_due_patients(PATIENTS)
    workers.start()
    report = Report(phones, fake)

    # Beat's every-minute sweep, run by the worker; its on_commit wakes dispatch_due,
    # which fans out one send_message per row. No other wake-up is sent.
    swept = sweep_due.delay().get(timeout=60)
    assert swept == {"self_exam": PATIENTS, "visit_reminder": 0}
    wait_all_sent(report, timeout=120)
    assert_exactly_once(report)
    report.print("happy path, 1 worker x 4 processes")

    # The next tick finds nothing due, and a dispatch finds nothing queued.
    assert sweep_due.delay().get(timeout=30) == {"self_exam": 0, "visit_reminder": 0}
    assert dispatch_due.delay().get(timeout=30) == 0

    # A sweep that sees the same occurrences again (say its advance was lost) writes
    # nothing: the occurrence's idempotency key is already in the outbox.
    for pk, due_at in occurrence_keys().items():
        ReminderSeries.objects.filter(pk=pk).update(next_due_at=due_at)
    assert sweep.sweep() == {"self_exam": PATIENTS, "visit_reminder": 0}
    assert Message.objects.count() == PATIENTS
    # The wake-up that sweep sent is queued ahead of this one: when this one has run,
    # there is nothing left that could send.
    assert dispatch_due.delay().get(timeout=60) == 0
    assert_exactly_once(report)


# --- 2. a worker SIGKILLed mid-run ---------------------------------------------------------


@pytest.mark.chaos
def test_a_worker_killed_mid_run_loses_and_duplicates_nothing(workers, fake):
    phones = enrol_due_patients(PATIENTS)
    worker = workers.start()
    report = Report(phones, fake)

    sweep.sweep()
    wait_until(lambda: len(fake.messages) >= 300, timeout=60, interval=0.05)
    worker.kill()
    killed_at = time.monotonic()
    at_kill = {"at_provider": len(fake.messages), **status_counts()}

    workers.start()
    after_restart = wait_all_sent(report, timeout=180, beat=Beat())
    recovery = time.monotonic() - killed_at  # the restart included
    report.print(
        "worker SIGKILL mid-run",
        at_kill=at_kill,
        recovery_s=f"{recovery:.1f} (kill -> all sent; lease {workers.env['SMS_LEASE_SECONDS']} s)",
        after_restart_s=f"{after_restart:.1f}",
    )
    assert_exactly_once(report)


# --- 3. Redis restarted mid-run -------------------------------------------------------------


@pytest.mark.chaos
def test_a_redis_restart_mid_run_loses_and_duplicates_nothing(workers, fake, tmp_path):
    phones = enrol_due_patients(PATIENTS)
    server = PrivateRedis(tmp_path).start()
    try:
        with celery_app_on(server.url):
            # Broker, results and the shared rate-limit cache on the private Redis; a real
            # per-sender limit so every send goes through the cache.
            workers.env.update(worker_env(fake, SMS_RATE_PER_SECOND=400))
            workers.env["CELERY_BROKER_URL"] = server.url
            workers.start()
            report = Report(phones, fake)

            sweep.sweep()
            wait_until(lambda: len(fake.messages) >= 300, timeout=60, interval=0.05)
            server.kill()
            down_at = time.monotonic()
            at_kill = {"at_provider": len(fake.messages), **status_counts()}
            time.sleep(3)  # the outage
            server.start()
            # Everything Redis held (wake-ups, unacked tasks, rate counters) is gone:
            # beat's next ticks find the queued rows and the stale `sending` ones again.
            recovery = wait_all_sent(report, timeout=240, beat=Beat(broker_url=server.url))
            report.print(
                "Redis killed and restarted mid-run (3 s outage, all its data lost)",
                at_kill=at_kill,
                recovery_s=f"{time.monotonic() - down_at:.1f} (Redis down -> all sent)",
                after_restart_s=f"{recovery:.1f}",
            )
            assert_exactly_once(report)
            workers.stop()
    finally:
        server.kill()


# --- 4. provider faults ------------------------------------------------------------------------


@pytest.mark.chaos
def test_provider_faults_on_a_fifth_of_the_sends_lose_and_duplicate_nothing(workers, fake):
    phones = enrol_due_patients(PATIENTS)
    kinds = ["rate_limit", "server_error", "crash_after_accept", "timeout_after_accept"]
    fake.fault_rate(0.2, kinds=kinds, seed=2026)
    # Reconciliation's look-ups fail now and then too.
    fake.fault_rate(0.1, kinds=["rate_limit", "server_error"], seed=7, op="list")
    # Backoff: SMS_RETRY_BASE_SECONDS=1 (0.5-1 s, then 1-2 s, ...) instead of 30 s.
    workers.start()
    report = Report(phones, fake)

    sweep.sweep()
    elapsed = wait_all_sent(report, timeout=240, beat=Beat())
    faults = [r.fault for r in fake.requests if r.fault]
    attempts = Message.objects.values_list("attempts", flat=True)
    report.print(
        "20% provider faults on create (+10% on look-ups)",
        faults={kind: faults.count(kind) for kind in sorted(set(faults))},
        max_attempts=max(attempts),
        retried_rows=sum(1 for n in attempts if n > 1),
        all_sent_s=f"{elapsed:.1f}",
    )
    assert_exactly_once(report)


# --- soak: 5,000 patients, a worker SIGKILLed every few seconds ---------------------------------


@pytest.mark.chaos
@pytest.mark.timeout(900)
def test_soak_5000_patients_with_a_worker_killed_every_8_seconds(workers, fake):
    phones = enrol_due_patients(5000)
    fake.fault_rate(0.05, kinds=["rate_limit", "server_error", "crash_after_accept"], seed=5)
    worker = workers.start()
    report = Report(phones, fake)
    beat = Beat()
    kills, last_kill = 0, time.monotonic()

    def chaos():
        nonlocal worker, kills, last_kill
        beat.tick()
        if time.monotonic() - last_kill > 8 and not report.all_sent():
            worker.kill()
            kills += 1
            worker = workers.start()
            last_kill = time.monotonic()

    sweep.sweep()
    try:
        wait_until(report.all_sent, timeout=780, interval=0.25, on_tick=chaos)
    except TimeoutError:
        pytest.fail(f"not all sent: {report.figures()}")
    report.print("soak: 5,000 patients, SIGKILL every 8 s, 5% provider faults", kills=kills)
    assert_exactly_once(report)


# --- Celery beat killed, then two at once ---------------------------------------------------


def spread_due_times(seconds: float) -> None:
    """The due series fall due one after another over the next `seconds`, so the sweep
    has work on every tick and a beat that dies leaves reminders unswept."""
    due = ReminderSeries.objects.filter(next_due_at__lte=timezone.now()).order_by("pk")
    ids = list(due.values_list("pk", flat=True))
    start = timezone.now()
    for n, pk in enumerate(ids):
        ReminderSeries.objects.filter(pk=pk).update(
            next_due_at=start + timedelta(seconds=seconds * n / len(ids))
        )


@pytest.mark.chaos
def test_beat_killed_then_two_beats_lose_and_duplicate_nothing(workers, fake, tmp_path):
    phones = enrol_due_patients(PATIENTS)
    spread_due_times(60)
    workers.start()
    report = Report(phones, fake)

    first = CeleryBeat(tmp_path, workers.env).start()
    wait_until(lambda: len(fake.messages) >= 150, timeout=120, interval=0.1)
    first.kill()
    killed_at, at_kill = timezone.now(), len(fake.messages)
    time.sleep(10)  # no beat at all for a while: nothing is swept, nothing is lost
    # Two beats (two deployments' schedules) send every periodic task twice from now on.
    beats = [CeleryBeat(tmp_path, workers.env).start() for _ in range(2)]
    try:
        elapsed = wait_all_sent(report, timeout=300)
        wait_until(lambda: SchedulerHeartbeat.last_beat_at() > killed_at, timeout=60)
        assert all(beat.alive() for beat in beats), "a beat exited"
    finally:
        for beat in beats:
            beat.stop()
    report.print(
        "beat SIGKILLed, 10 s without beat, then two beats at once",
        at_kill=at_kill,
        after_restart_s=f"{elapsed:.1f}",
    )
    assert_exactly_once(report)


# --- PostgreSQL crashed and restarted mid-run -----------------------------------------------


@pytest.mark.chaos
def test_a_postgresql_crash_mid_run_loses_and_duplicates_nothing(transactional_db, fake, tmp_path):
    server = PrivatePostgres(tmp_path).start()
    try:
        with database_on(server):
            client = redis.Redis.from_url(current_app.conf.broker_url)
            client.flushdb()
            client.close()
            pool = Workers(tmp_path, worker_env(fake))
            try:
                phones = enrol_due_patients(PATIENTS)
                pool.start()
                report = Report(phones, fake)
                sweep.sweep()
                wait_until(lambda: len(fake.messages) >= 300, timeout=60, interval=0.05)
                server.crash()  # every session cut, open transactions lost
                down_at = time.monotonic()
                time.sleep(5)
                server.start()  # crash recovery
                beat = Beat()
                wait_until(
                    lambda: reconnect_after_errors(report.all_sent),
                    timeout=300,
                    interval=0.25,
                    on_tick=beat.tick,
                )
                report.print(
                    "PostgreSQL crashed (immediate shutdown) and restarted mid-run, 5 s down",
                    recovery_s=f"{time.monotonic() - down_at:.1f} (crash -> all sent)",
                )
                assert_exactly_once(report)
            finally:
                pool.stop()
    finally:
        server.stop()
