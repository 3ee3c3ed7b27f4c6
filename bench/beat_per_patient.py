"""Benchmark: one django-celery-beat PeriodicTask per patient, the design we did not take.

Run by hand (this is not a test, and it asserts nothing about timing):

    .venv/bin/python bench/beat_per_patient.py --tasks 5000

Many Django projects first give each patient their own PeriodicTask (a monthly crontab
in the patient's time zone, or a one-off ClockedSchedule at the next reminder) and let
`celery beat -S django_celery_beat.schedulers:DatabaseScheduler` find what is due. This
script measures that: on its own throwaway database (default `surveillance_bench_beat`),
with bench/settings_periodic_tasks.py (the project's settings plus django_celery_beat),
it bulk-creates --tasks PeriodicTasks, --due-percent of them due, then, in this process,
times the DatabaseScheduler: its start (loading the schedule), its first tick (the heap),
the ticks until every due entry was sent to the broker, and sync() (last_run_at written
back). See bench/README.md for what it prints.
"""

import argparse
import json
import random
import sys
import time
from collections import Counter
from datetime import datetime, timedelta

from common import (
    ADMIN_URL,
    DEFAULT_SEED,
    REMINDER_TIMES,
    TIME_ZONES,
    QueryCounter,
    close_and_clean_up,
    create_database,
    database_url,
    kinds_text,
    max_rss_mib,
    print_machine,
    setup_django,
)

BROKER_URL = "redis://127.0.0.1:6379/6"
QUEUE = "bench-beat-per-patient"
TASK = "scheduling.tasks.send_patient_reminder"  # never registered: beat does not care


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--tasks", "--patients", type=int, default=100_000, help="PeriodicTasks (default 100000)"
    )
    parser.add_argument(
        "--due-percent", type=float, default=1.0, help="share due at the tick (default: 1)"
    )
    parser.add_argument(
        "--schedule",
        choices=("crontab", "clocked"),
        default="crontab",
        help="crontab: monthly, patient's zone (default); clocked: one-off at the next reminder",
    )
    parser.add_argument("--database", default="surveillance_bench_beat", help="throwaway database")
    parser.add_argument("--admin-url", default=ADMIN_URL, help=f"default: {ADMIN_URL}")
    parser.add_argument("--broker-url", default=BROKER_URL, help=f"default: {BROKER_URL}")
    parser.add_argument("--keep", action="store_true", help="do not drop the database at the end")
    parser.add_argument(
        "--replace", action="store_true", help="drop the database first if it already exists"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed")
    parser.add_argument(
        "--tick-timeout",
        type=float,
        default=300,
        help="stop ticking after this many seconds (default: 300)",
    )
    parser.add_argument(
        "--summary-json", action="store_true", help="end with one SUMMARY-JSON line"
    )
    args = parser.parse_args()
    if args.tasks < 1 or not 0 <= args.due_percent <= 100:
        parser.error("--tasks must be positive, --due-percent within 0-100")
    return args


# --- Creating the tasks ------------------------------------------------------------------


def create_tasks(args: argparse.Namespace, now: datetime) -> dict:
    """bulk_create the schedules and one PeriodicTask per patient; `due` of them due now."""
    from django_celery_beat.models import (
        ClockedSchedule,
        CrontabSchedule,
        PeriodicTask,
        PeriodicTasks,
    )

    rng = random.Random(args.seed)
    due_count = round(args.tasks * args.due_percent / 100)
    due = set(rng.sample(range(args.tasks), due_count))
    tasks = []
    if args.schedule == "crontab":
        # Monthly, at the patient's reminder time on a day 1-28, in their zone: the
        # schedules are shared (7 zones x 4 times x 28 days at most).
        keys = {
            (reminder.minute, reminder.hour, str(day), zone)
            for zone in TIME_ZONES
            for reminder in REMINDER_TIMES
            for day in range(1, 29)
        }
        # The due ones: daily at a UTC minute that has just passed, last run yesterday.
        passed = now - timedelta(minutes=2)
        keys.add((passed.minute, passed.hour, "*", "UTC"))
        schedules = CrontabSchedule.objects.bulk_create(
            CrontabSchedule(minute=str(minute), hour=str(hour), day_of_month=day, timezone=zone)
            for minute, hour, day, zone in sorted(keys, key=str)
        )
        by_key = {
            (int(s.minute), int(s.hour), s.day_of_month, str(s.timezone)): s for s in schedules
        }
        due_schedule = by_key[(passed.minute, passed.hour, "*", "UTC")]
        for n in range(args.tasks):
            if n in due:
                schedule, last_run = due_schedule, now - timedelta(days=1)
            else:
                reminder = rng.choice(REMINDER_TIMES)
                key = (reminder.minute, reminder.hour, str(rng.randint(1, 28)))
                schedule = by_key[(*key, rng.choice(TIME_ZONES))]
                last_run = now - timedelta(seconds=1)  # ran at its last occurrence
            tasks.append(_task(n, crontab=schedule, last_run_at=last_run))
    else:
        # One-off, at the next reminder (within 30 days); the due ones a minute ago.
        clocked = ClockedSchedule.objects.bulk_create(
            ClockedSchedule(
                clocked_time=now - timedelta(minutes=1)
                if n in due
                else now + timedelta(seconds=rng.randint(600, 30 * 86400))
            )
            for n in range(args.tasks)
        )
        for n, schedule in enumerate(clocked):
            tasks.append(_task(n, clocked=schedule, one_off=True))
    for start in range(0, len(tasks), 5000):
        PeriodicTask.objects.bulk_create(tasks[start : start + 5000])
    PeriodicTasks.update_changed()  # bulk_create sends no signal
    return {"due": due_count, "schedules": schedules_count()}


def _task(n: int, **fields):
    from django_celery_beat.models import PeriodicTask

    return PeriodicTask(
        name=f"self-exam reminder, patient {n}",
        task=TASK,
        kwargs=json.dumps({"patient_id": n}),
        **fields,
    )


def schedules_count() -> dict:
    from django_celery_beat.models import ClockedSchedule, CrontabSchedule, PeriodicTask

    return {
        "periodic tasks": PeriodicTask.objects.count(),
        "crontab schedules": CrontabSchedule.objects.count(),
        "clocked schedules": ClockedSchedule.objects.count(),
    }


# --- The scheduler -----------------------------------------------------------------------


def timed(function, *args) -> tuple[object, dict]:
    from django.db import connection

    counter = QueryCounter()
    with connection.execute_wrapper(counter):
        started = time.perf_counter()
        value = function(*args)
        elapsed = time.perf_counter() - started
    return value, {
        "seconds": elapsed,
        "queries": counter.total,
        "kinds": counter.kinds,
        "db_seconds": counter.seconds,
    }


def run_scheduler(args: argparse.Namespace) -> dict:
    from django.db import connection
    from django_celery_beat.schedulers import DatabaseScheduler

    from config.celery import app

    app.control.purge()
    applied = Counter()
    original_apply = DatabaseScheduler.apply_entry

    def counting_apply(self, entry, producer=None):
        applied[entry.name] += 1
        return original_apply(self, entry, producer=producer)

    DatabaseScheduler.apply_entry = counting_apply

    # Like `celery beat` starting: Scheduler.__init__ runs setup_schedule(), which reads
    # every enabled task and installs CELERY_BEAT_SCHEDULE's entries.
    scheduler, startup = timed(lambda: DatabaseScheduler(app=app))
    loaded_at_start = len(scheduler._schedule)
    first_delay, first_tick = timed(scheduler.tick)
    loaded = len(scheduler._schedule)

    def tick_until_idle():
        ticks, delay = 0, first_delay
        deadline = time.perf_counter() + args.tick_timeout
        while delay == 0 and time.perf_counter() < deadline:
            delay = scheduler.tick()
            ticks += 1
        return ticks, delay

    (ticks, last_delay), due_ticks = timed(tick_until_idle)
    _, sync = timed(scheduler.sync)
    DatabaseScheduler.apply_entry = original_apply
    connection.close()
    app.control.purge()
    return {
        "startup": startup,
        "first_tick": first_tick,
        "due_ticks": due_ticks,
        "sync": sync,
        "loaded_at_start": loaded_at_start,
        "loaded": loaded,
        "ticks": ticks + 1,
        "applied": sum(applied.values()),
        "timed_out": last_delay == 0,
        "next_delay": last_delay,
    }


def print_figure(label: str, figure: dict) -> None:
    print(f"  {label}")
    print(f"    seconds:               {figure['seconds']:.2f}")
    print(f"      in cursor.execute:   {figure['db_seconds']:.2f}")
    print(f"    queries:               {figure['queries']} ({kinds_text(figure['kinds'])})")


def run(args: argparse.Namespace) -> dict:
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    print(f"Migrated {connection.settings_dict['NAME']} in {time.perf_counter() - started:.1f} s")
    print_machine()

    print()
    print(f"One PeriodicTask per patient: {args.tasks} tasks, {args.schedule} schedules")
    now = timezone.now()
    started = time.perf_counter()
    created = create_tasks(args, now)
    print(f"  created in:              {time.perf_counter() - started:.1f} s (bulk_create)")
    for name, count in created["schedules"].items():
        print(f"    {name + ':':22} {count}")
    print(f"  due now:                 {created['due']} ({args.due_percent:g} %)")

    print()
    print("DatabaseScheduler, in this process (broker: --broker-url, queue purged after)")
    result = run_scheduler(args)
    first_tick = result["first_tick"]
    print_figure("start (DatabaseScheduler(app), as `celery beat` starts)", result["startup"])
    print(f"    entries loaded:        {result['loaded_at_start']}")
    print_figure("first tick (reloads if the schedule changed, builds the heap)", first_tick)
    print(f"    entries loaded:        {result['loaded']}")
    print_figure("ticks until every due entry was sent (one entry per tick)", result["due_ticks"])
    print(f"    ticks:                 {result['ticks']}")
    print(f"    entries applied:       {result['applied']} (of {created['due']} due)")
    if result["applied"] and result["due_ticks"]["seconds"]:
        rate = result["applied"] / (first_tick["seconds"] + result["due_ticks"]["seconds"])
        print(f"    applied per second:    {rate:.0f} (first tick included)")
    if result["timed_out"]:
        print(f"    stopped by --tick-timeout ({args.tick_timeout:g} s): still due entries left")
    else:
        print(f"    next tick in:          {result['next_delay']:.1f} s (nothing due)")
    print_figure("sync() (writes last_run_at of the applied entries)", result["sync"])
    print()
    print(f"Peak memory (max RSS): {max_rss_mib():.0f} MiB")
    return {
        "tasks": args.tasks,
        "due": created["due"],
        **result,
    }


def main() -> None:
    args = parse_args()
    sys.stdout.reconfigure(line_buffering=True)
    create_database(args.admin_url, args.database, args.replace)
    env = {"CELERY_BROKER_URL": args.broker_url, "CELERY_TASK_DEFAULT_QUEUE": QUEUE}
    try:
        setup_django(
            database_url(args.admin_url, args.database),
            settings_module="bench.settings_periodic_tasks",
            extra_env=env,
        )
        summary = run(args)
    finally:
        close_and_clean_up(args.admin_url, args.database, keep=args.keep)
    if args.summary_json:
        for key in ("startup", "first_tick", "due_ticks", "sync"):
            summary[key] = {
                "seconds": summary[key]["seconds"],
                "queries": summary[key]["queries"],
            }
        print("SUMMARY-JSON " + json.dumps(summary))


if __name__ == "__main__":
    main()
