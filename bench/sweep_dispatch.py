"""Benchmark: the due-sweep over a large cohort, then outbox -> (fake) Twilio throughput.

Run by hand (this is not a test, and it asserts nothing about timing):

    .venv/bin/python bench/sweep_dispatch.py --patients 5000            # a quick try
    .venv/bin/python bench/sweep_dispatch.py --reuse --database surveillance_bench

Part 1 (sweep): enrols --patients synthetic patients in a throwaway database (or, with
--reuse, takes a database kept by `plan_patients.py --keep` or by this script's --keep),
moves 0 %, 0.1 %, 1 % and 5 % of the active reminder series' next_due_at into the past
and runs `scheduling.sweep.sweep()` once for each share, counting the queries and the
messages written; EXPLAIN (ANALYZE) shows the plan of the claim query.

Part 2 (dispatch): queues --messages outbox messages and times real `celery worker`
subprocesses (Redis broker, --broker-url) sending them to the fake Twilio of
tests/fake_twilio.py, with 1, 2 and 4 worker processes.

--compare-beat also runs bench/beat_per_patient.py (one django-celery-beat PeriodicTask
per patient) with as many tasks as patients and prints both side by side. See
bench/README.md for what it prints.
"""

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from unittest import mock

from common import (
    BASE_DIR,
    DEFAULT_SEED,
    QueryCounter,
    add_database_arguments,
    bench_environment,
    enrol_cohort,
    kinds_text,
    max_rss_mib,
    run_on_bench_database,
    run_with_summary,
)

BROKER_URL = "redis://127.0.0.1:6379/6"
QUEUE = "surveillance-bench"
EXPLAIN_LINES = 12
GOAL_MESSAGES_PER_SECOND = 500  # on 2 cores, sender limit off


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=100_000, help="default: 100000")
    parser.add_argument("--batch-size", type=int, default=1_000, help="enrolment batch size")
    add_database_arguments(parser, "surveillance_bench_sweep")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed")
    parser.add_argument(
        "--due-percent",
        default="0,0.1,1,5",
        help="shares of the active series made due, one sweep each (default: 0,0.1,1,5)",
    )
    parser.add_argument("--messages", type=int, default=5_000, help="queued for dispatch")
    parser.add_argument("--workers", default="1,2,4", help="worker processes (default: 1,2,4)")
    parser.add_argument(
        "--send-threads", type=int, default=8, help="SMS_SEND_THREADS per worker (default: 8)"
    )
    parser.add_argument(
        "--dispatch-batch", type=int, default=50, help="SMS_DISPATCH_BATCH (default: 50)"
    )
    parser.add_argument("--broker-url", default=BROKER_URL, help=f"default: {BROKER_URL}")
    parser.add_argument(
        "--dispatch-timeout", type=float, default=600, help="seconds per worker count"
    )
    parser.add_argument(
        "--summary-json", action="store_true", help="end with one SUMMARY-JSON line (goals.py)"
    )
    parser.add_argument("--skip-sweep", action="store_true", help="only the dispatch part")
    parser.add_argument("--skip-dispatch", action="store_true", help="only the sweep part")
    parser.add_argument(
        "--compare-beat",
        action="store_true",
        help="also run bench/beat_per_patient.py with as many tasks as patients",
    )
    parser.add_argument(
        "--beat-database",
        default="surveillance_bench_beat",
        help="--compare-beat's own throwaway database (default: surveillance_bench_beat)",
    )
    args = parser.parse_args()
    args.due_percent = [float(share) for share in args.due_percent.split(",") if share]
    args.workers = [int(count) for count in args.workers.split(",") if count]
    if args.patients < 1 or args.messages < 1 or min(args.workers, default=1) < 1:
        parser.error("--patients, --messages and --workers must be positive")
    if args.reuse and args.replace:
        parser.error("--reuse and --replace exclude each other")
    return args


# --- Part 1: the sweep -------------------------------------------------------------------


def claim_queryset(now: datetime, batch_size: int):
    """The locking step of scheduling.sweep._claim for series, for EXPLAIN (keep in step)."""
    from scheduling.models import ReminderSeries

    due = ReminderSeries.objects.filter(is_active=True, next_due_at__lte=now)
    return (
        due.select_for_update(skip_locked=True)
        .order_by("next_due_at")
        .values_list("pk", flat=True)[:batch_size]
    )


def explain_claim(now: datetime) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) the first claim, in a transaction rolled back after."""
    from django.db import connection, transaction

    from scheduling.sweep import BATCH_SIZE

    with transaction.atomic():
        sql_text, params = claim_queryset(now, BATCH_SIZE).query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql_text, params)
            lines = [row[0] for row in cursor.fetchall()]
        transaction.set_rollback(True)
    return lines


def make_due(ids: list[int], now: datetime) -> None:
    """Move these series' next_due_at into the last hour (spread by id)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE scheduling_reminderseries"
            " SET next_due_at = %s - (id %% 3600) * interval '1 second' WHERE id = ANY(%s)",
            [now, ids],
        )


def due_count(now: datetime) -> int:
    from scheduling.models import ReminderSeries

    return ReminderSeries.objects.filter(is_active=True, next_due_at__lte=now).count()


def outbound_count() -> int:
    from notifications.models import Message

    return Message.objects.filter(direction=Message.Direction.OUTBOUND).count()


def timed_sweep(now: datetime) -> dict:
    """One sweep(now): wall seconds, CaptureQueriesContext count, statements by kind."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from notifications import tasks
    from scheduling.sweep import sweep

    counter = QueryCounter()
    before = outbound_count()
    # sweep() wakes dispatch_due after commit: count the wake-up, publish nothing.
    with (
        mock.patch.object(tasks.dispatch_due, "delay") as wake,
        CaptureQueriesContext(connection) as captured,
        connection.execute_wrapper(counter),
    ):
        started = time.perf_counter()
        counts = sweep(now)
        elapsed = time.perf_counter() - started
    return {
        "seconds": elapsed,
        "queries": len(captured),
        "kinds": counter.kinds,
        "db_seconds": counter.seconds,
        "claimed": counts["self_exam"],
        "visit_reminders": counts["visit_reminder"],
        "written": outbound_count() - before,
        "wakeups": wake.call_count,
    }


def run_sweep(args: argparse.Namespace) -> list[dict]:
    from django.db import connection
    from django.utils import timezone

    from scheduling.models import ReminderSeries
    from scheduling.sweep import BATCH_SIZE

    rng = random.Random(args.seed)
    active = list(
        ReminderSeries.objects.filter(is_active=True, next_due_at__isnull=False)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    print()
    print("Sweep tick (scheduling.sweep.sweep)")
    print(f"  reminder series:         {ReminderSeries.objects.count()} ({len(active)} active)")
    print(f"  sweep batch size:        {BATCH_SIZE} (one transaction per batch)")
    with connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute("VACUUM ANALYZE scheduling_reminderseries")
        cursor.execute("VACUUM ANALYZE notifications_message")
    print(f"  VACUUM ANALYZE:          {time.perf_counter() - started:.1f} s (before the ticks)")

    now = timezone.now()
    already = due_count(now)
    if already:
        result = timed_sweep(now)
        print(
            f"  already due:             {already} (time moved on since enrolment or an earlier"
            f" run): drained first in {result['seconds']:.2f} s"
        )

    results, used = [], set()
    for percent in args.due_percent:
        size = round(len(active) * percent / 100)
        # Series not made due before: a series made due twice within the same second
        # would get the same idempotency key, and its second message would be dropped.
        fresh = [pk for pk in active if pk not in used] if used else active
        ids = sorted(rng.sample(fresh, min(size, len(fresh))))
        used.update(ids)
        now = timezone.now()
        make_due(ids, now)
        due = due_count(now)
        plan = explain_claim(now) if due or percent == 0 else []
        result = timed_sweep(now)
        result.update(percent=percent, due=due, left=due_count(now))
        results.append(result)
        print()
        print(f"  {percent:g} % due ({due} series due of {len(active)} active)")
        print(f"    wall seconds:          {result['seconds']:.3f}")
        print(
            f"      in cursor.execute:   {result['db_seconds']:.3f} (psycopg, network, server;"
            " the rest is Python)"
        )
        if due:
            per_row = 1000 * result["seconds"] / due
            rate = due / result["seconds"]
            print(f"    per due series:        {per_row:.2f} ms ({rate:.0f} series/s)")
        print(
            f"    SQL queries:           {result['queries']} (CaptureQueriesContext, with"
            f" BEGIN/COMMIT); statements: {sum(result['kinds'].values())}"
        )
        print(f"      statements by kind:  {kinds_text(result['kinds'])}")
        print(f"    series claimed:        {result['claimed']}")
        print(f"    messages written:      {result['written']}")
        print(f"    visit reminders:       {result['visit_reminders']}")
        print(f"    still due after:       {result['left']}")
        print(f"    dispatch_due wake-ups: {result['wakeups']} (mocked, nothing published)")
        uses_index = any("reminder_series_due" in line for line in plan)
        execution = next((line for line in plan if line.startswith("Execution Time")), "")
        if plan:
            print(
                f"    EXPLAIN claim query:   uses reminder_series_due: "
                f"{'yes' if uses_index else 'NO'}; {execution}"
            )
        if plan and (percent == 1 or len(args.due_percent) == 1):
            print(f"    EXPLAIN (ANALYZE, BUFFERS), first {EXPLAIN_LINES} lines:")
            for line in plan[:EXPLAIN_LINES]:
                print(f"      {line}")
            index_at = next(
                (n for n, line in enumerate(plan) if "reminder_series_due" in line), None
            )
            if index_at is not None and index_at >= EXPLAIN_LINES:
                print("      ...")
                for line in plan[index_at : index_at + 4]:
                    print(f"      {line}")
    return results


# --- Part 2: dispatch --------------------------------------------------------------------


ZONES = (
    "Pacific/Honolulu",
    "America/Anchorage",
    "America/Los_Angeles",
    "America/Denver",
    "America/Chicago",
    "America/New_York",
    "America/Sao_Paulo",
    "Atlantic/Azores",
    "Europe/London",
    "Europe/Paris",
    "Europe/Athens",
    "Europe/Moscow",
    "Asia/Dubai",
    "Asia/Karachi",
    "Asia/Kolkata",
    "Asia/Dhaka",
    "Asia/Bangkok",
    "Asia/Shanghai",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Pacific/Noumea",
    "Pacific/Auckland",
)


def daytime_zone(now: datetime) -> str:
    """One of ZONES whose local time now is closest to 14:00 (well inside 08:00-21:00)."""
    from zoneinfo import ZoneInfo

    def distance(name: str) -> float:
        local = now.astimezone(ZoneInfo(name))
        return abs(local.hour + local.minute / 60 - 14)

    return min(ZONES, key=distance)


def clear_outbound() -> int:
    from notifications.models import Message

    deleted, _ = Message.objects.filter(direction=Message.Direction.OUTBOUND).delete()
    return deleted


def queue_messages(count: int, patient_ids: list[int], zone: str, tag: str) -> None:
    """Queue `count` self-exam messages (due now) for these patients, in `zone`."""
    from django.utils import timezone

    from cohorts import messaging
    from cohorts.models import Patient
    from notifications.models import Contact, Message

    Contact.objects.filter(patients__in=patient_ids).update(timezone=zone)
    send_after = timezone.now() - timedelta(minutes=1)
    for start in range(0, count, 1000):
        chunk = [patient_ids[n % len(patient_ids)] for n in range(start, min(start + 1000, count))]
        patients = Patient.objects.select_related("cohort", "contact").in_bulk(set(chunk))
        Message.objects.bulk_create(
            messaging.build(
                patients[pk], "self_exam", f"bench:{tag}:{start + n}", send_after=send_after
            )
            for n, pk in enumerate(chunk)
        )


class Worker:
    """One `celery worker` subprocess (prefork, `concurrency` processes), like
    tests/celery_worker.py, against the bench database and broker."""

    def __init__(self, concurrency: int, env: dict, log_path: Path):
        self.concurrency, self.env, self.log_path = concurrency, env, log_path
        self.name = f"bench-{uuid.uuid4().hex[:8]}"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> float:
        from config.celery import app

        started = time.perf_counter()
        log = open(self.log_path, "w")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--loglevel=WARNING",
                f"--concurrency={self.concurrency}",
                "--pool=prefork",
                f"--hostname={self.name}@%h",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=BASE_DIR,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"celery worker exited; see {self.log_path}")
            replies = app.control.ping(timeout=0.5)
            if any(self.name in host for reply in replies for host in reply):
                return time.perf_counter() - started
        raise TimeoutError(f"celery worker did not answer a ping; see {self.log_path}")

    def stop(self) -> None:
        """Warm shutdown (SIGTERM to the main process: running tasks finish), else kill."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def status_counts() -> Counter:
    from django.db.models import Count

    from notifications.models import Message

    rows = (
        Message.objects.filter(direction=Message.Direction.OUTBOUND)
        .values_list("status")
        .annotate(n=Count("pk"))
    )
    return Counter(dict(rows))


def drain(workers: int, redis_client, count: int, timeout: float) -> dict:
    """Trigger dispatch_due until every message has left the outbox; time it.

    dispatch_due fans out at most 1000 ids per call (dispatch.take_wake_ups), so it is
    triggered again whenever the previous fan-out has (nearly) left the broker queue and
    due messages remain; beat would do that once a minute.
    """
    from django.utils import timezone

    from notifications.models import Message
    from notifications.tasks import dispatch_due

    queued_due = Message.objects.filter(
        direction=Message.Direction.OUTBOUND, status=Message.Status.QUEUED
    )
    triggers, fanned_out, pending = 0, 0, None
    started = time.perf_counter()
    deadline = started + timeout
    while True:
        statuses = status_counts()
        done = count - statuses["queued"] - statuses["sending"]
        if done >= count:
            break
        due_left = queued_due.filter(send_after__lte=timezone.now()).exists()
        # Read `sending` again after `due_left`: a message claimed in between is counted.
        if not due_left and not status_counts()["sending"]:
            break  # what is left is held for later (quiet hours, cap): it will not go now
        if pending is not None and pending.ready():
            fanned_out += pending.result or 0
            pending = None
        if pending is None and due_left and redis_client.llen(QUEUE) <= workers:
            pending = dispatch_due.delay()
            triggers += 1
        if time.perf_counter() > deadline:
            print(f"    timed out after {timeout:.0f} s", file=sys.stderr)
            break
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    if pending is not None:
        try:
            fanned_out += pending.get(timeout=10) or 0
        except Exception:  # noqa: BLE001 - the figure is informative only
            pass
    return {"seconds": elapsed, "triggers": triggers, "fanned_out": fanned_out}


def run_dispatch(args: argparse.Namespace, url: str) -> list[dict]:
    from zoneinfo import ZoneInfo

    import redis
    from django.utils import timezone

    from cohorts.models import Patient
    from config.celery import app
    from tests.fake_twilio import FAKE_FROM_NUMBER, FakeTwilio

    rng = random.Random(args.seed + 1)
    zone = daytime_zone(timezone.now())
    local = timezone.localtime(timezone.now(), ZoneInfo(zone))
    patient_ids = list(Patient.objects.order_by("pk").values_list("pk", flat=True))
    redis_client = redis.Redis.from_url(args.broker_url)
    log_dir = Path(tempfile.mkdtemp(prefix="bench-workers-"))

    print()
    print(f"Dispatch throughput: outbox -> fake Twilio, {args.messages} messages per run")
    print(f"  patients' time zone:     {zone} (local time now {local:%H:%M})")
    print(f"  broker:                  {args.broker_url}, queue {QUEUE!r}")
    print("  worker env:              SMS_BACKEND=twilio, SMS_RATE_PER_SECOND=0,")
    print("                           SMS_DAILY_CAP=SMS_WEEKLY_CAP=1000000; no beat;")
    print(
        f"                           SMS_DISPATCH_BATCH={args.dispatch_batch},"
        f" SMS_SEND_THREADS={args.send_threads}"
    )
    if args.messages > len(patient_ids):
        print(f"  note: {len(patient_ids)} patients only: several messages per patient")
    print(f"  worker logs:             {log_dir}")

    results = []
    with FakeTwilio() as fake:
        env = dict(os.environ)
        env.update(bench_environment(url))
        env.update(
            DJANGO_SETTINGS_MODULE="config.settings",
            PYTHONPATH=str(BASE_DIR),
            CELERY_BROKER_URL=args.broker_url,
            CELERY_TASK_DEFAULT_QUEUE=QUEUE,
            SMS_BACKEND="twilio",
            TWILIO_ACCOUNT_SID=fake.account_sid,
            TWILIO_AUTH_TOKEN=fake.auth_token,
            TWILIO_FROM_NUMBER=FAKE_FROM_NUMBER,
            TWILIO_API_BASE_URL=fake.url,
            SMS_RATE_PER_SECOND="0",
            SMS_DAILY_CAP="1000000",
            SMS_WEEKLY_CAP="1000000",
            SMS_DISPATCH_BATCH=str(args.dispatch_batch),
            SMS_SEND_THREADS=str(args.send_threads),
            LOG_LEVEL="WARNING",
        )
        for workers in args.workers:
            cleared = clear_outbound()
            app.control.purge()
            fake.clear()
            chosen = rng.sample(patient_ids, min(args.messages, len(patient_ids)))
            started = time.perf_counter()
            queue_messages(args.messages, chosen, zone, f"{workers}-{uuid.uuid4().hex[:6]}")
            queued_seconds = time.perf_counter() - started
            worker = Worker(workers, env, log_dir / f"worker-{workers}.log")
            try:
                startup = worker.start()
                result = drain(workers, redis_client, args.messages, args.dispatch_timeout)
            finally:
                worker.stop()
            statuses = status_counts()
            result.update(
                workers=workers,
                sent=statuses["sent"],
                statuses=statuses,
                provider_messages=len(fake.messages),
                create_attempts=fake.create_attempts,
            )
            results.append(result)
            print()
            print(f"  {workers} worker process{'es' if workers > 1 else ''}")
            print(f"    cleared before:        {cleared} outbound rows")
            print(f"    queueing messages:     {queued_seconds:.1f} s (bulk_create)")
            print(f"    worker start-up:       {startup:.1f} s (until it answers a ping)")
            print(f"    seconds to send all:   {result['seconds']:.1f}")
            rate = result["sent"] / result["seconds"]
            print(
                f"    messages/second:       {rate:.1f} (goal >= {GOAL_MESSAGES_PER_SECOND}:"
                f" {'holds' if rate >= GOAL_MESSAGES_PER_SECOND else 'MISSED'})"
            )
            print(f"    statuses after:        {kinds_text(statuses)}")
            print(
                f"    fake Twilio:           {result['provider_messages']} messages,"
                f" {result['create_attempts']} create requests"
            )
            print(
                f"    dispatch_due calls:    {result['triggers']}"
                f" ({result['fanned_out']} ids fanned out, {args.dispatch_batch} per send_messages)"
            )
        clear_outbound()
        app.control.purge()
    return results


# --- Comparison with beat_per_patient.py -------------------------------------------------


def run_beat(args: argparse.Namespace) -> dict | None:
    """bench/beat_per_patient.py in a subprocess (other settings); its output passes through."""
    command = [
        sys.executable,
        str(BASE_DIR / "bench" / "beat_per_patient.py"),
        "--tasks",
        str(args.patients),
        "--database",
        args.beat_database,
        "--admin-url",
        args.admin_url,
        "--broker-url",
        args.broker_url,
        "--seed",
        str(args.seed),
        "--replace",
        "--summary-json",
    ]
    return run_with_summary(command, f"--compare-beat: {' '.join(command[1:])}")


def print_comparison(patients: int, sweeps: list[dict], beat: dict) -> None:
    one = next((result for result in sweeps if result["percent"] == 1), None)
    print()
    print(f"Side by side, {patients} patients, 1 % of them due")
    print(f"  {'':44} {'seconds':>9} {'queries':>9}")
    if one:
        print(
            f"  {'our sweep: one tick, claims + writes + advances':44}"
            f" {one['seconds']:9.2f} {one['queries']:9d}"
        )
        print(f"    ({one['due']} series due, {one['written']} messages written)")
    rows = [
        ("beat: start (load the schedule)", "startup"),
        ("beat: first tick (reload, build the heap)", "first_tick"),
        ("beat: ticks until all due were sent", "due_ticks"),
        ("beat: sync() (write last_run_at back)", "sync"),
    ]
    for label, key in rows:
        figure = beat[key]
        print(f"  {label:44} {figure['seconds']:9.2f} {figure['queries']:9d}")
    print(
        f"    ({beat['tasks']} PeriodicTasks, {beat['loaded']} loaded by beat,"
        f" {beat['due']} due, {beat['applied']} applied in {beat['ticks']} ticks"
        f"{', timed out' if beat['timed_out'] else ''})"
    )


# --- Main --------------------------------------------------------------------------------


def run(args: argparse.Namespace, url: str) -> None:
    from django.db import connection

    from cohorts.models import Patient

    print()
    if args.reuse:
        args.patients = Patient.objects.count()
        print(f"Reusing {args.database!r}: {args.patients} patients (no enrolment)")
        cleared = clear_outbound()
        if cleared:
            print(f"  deleted {cleared} outbound message rows left by an earlier run")
    else:
        print(f"Enrolling {args.patients} patients (cohorts.services.enrol, batches)")
        seconds = enrol_cohort(args.patients, args.batch_size, args.seed)
        print(f"  enrolled in {seconds:.1f} s ({args.patients / seconds:.0f} patients/s)")

    sweeps = [] if args.skip_sweep else run_sweep(args)
    dispatches = [] if args.skip_dispatch else run_dispatch(args, url)
    if args.compare_beat:
        connection.close()
        beat = run_beat(args)
        if beat:
            print_comparison(args.patients, sweeps, beat)
        else:
            print("beat_per_patient.py printed no summary (see above)")
    print()
    print(f"Peak memory (max RSS): {max_rss_mib():.0f} MiB")
    if args.summary_json:
        keys = ("seconds", "queries", "due", "written")
        summary = {
            "sweeps": [{key: s[key] for key in ("percent", *keys)} for s in sweeps],
            "dispatch": [
                {"workers": d["workers"], "sent": d["sent"], "seconds": d["seconds"]}
                for d in dispatches
            ],
        }
        print("SUMMARY-JSON " + json.dumps(summary))


def main() -> None:
    args = parse_args()
    env = {"CELERY_BROKER_URL": args.broker_url, "CELERY_TASK_DEFAULT_QUEUE": QUEUE}
    run_on_bench_database(args, run, extra_env=env)


if __name__ == "__main__":
    main()
