"""Benchmark: enrol and plan N synthetic patients on PostgreSQL, then re-plan a batch.

Run by hand (this is not a test, and it asserts nothing about timing):

    .venv/bin/python bench/plan_patients.py --patients 2000

It creates a throwaway database (default `surveillance_bench`) on the server named by
--admin-url, migrates it, enrols the patients batch by batch through
`cohorts.services.enrol` once their phones are written (each call is its own
transaction), counts the queries of every batch, then re-plans one already planned
batch, which should write nothing. The database is dropped at the end unless --keep.
See bench/README.md for what it prints.
"""

import argparse
import random
import resource
import sys
import time
from collections import Counter

from common import (
    ADMIN_URL,
    DEFAULT_SEED,
    close_and_clean_up,
    create_database,
    database_url,
    kinds_text,
    make_batch,
    measured,
    print_machine,
    setup_django,
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=100_000, help="default: 100000")
    parser.add_argument("--batch-size", type=int, default=1_000, help="default: 1000")
    parser.add_argument(
        "--replan-size", type=int, default=1_000, help="patients re-planned (default: 1000)"
    )
    parser.add_argument("--database", default="surveillance_bench", help="throwaway database")
    parser.add_argument("--admin-url", default=ADMIN_URL, help=f"default: {ADMIN_URL}")
    parser.add_argument("--keep", action="store_true", help="do not drop the database at the end")
    parser.add_argument(
        "--replace",
        action="store_true",
        help="drop the database first if it already exists (e.g. after --keep)",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed")
    args = parser.parse_args()
    if args.patients < 1 or args.batch_size < 1 or args.replan_size < 0:
        parser.error("--patients and --batch-size must be positive, --replan-size not negative")
    return args


# --- Reporting ---------------------------------------------------------------------------


def row_counts() -> dict[str, int]:
    from cohorts.models import Patient, RiskAssessment, TumourProfile
    from scheduling.models import ReminderSeries, Visit

    return {
        "patients": Patient.objects.count(),
        "patient history rows": Patient.history.count(),
        "tumour profiles": TumourProfile.objects.count(),
        "profile history rows": TumourProfile.history.count(),
        "risk assessments": RiskAssessment.objects.count(),
        "visits": Visit.objects.count(),
        "reminder series": ReminderSeries.objects.count(),
    }


# --- The benchmark -----------------------------------------------------------------------


def run(args: argparse.Namespace) -> None:
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from cohorts.models import Cohort, Patient
    from cohorts.services import enrol
    from scheduling.services import replan

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    print(f"Migrated {connection.settings_dict['NAME']} in {time.perf_counter() - started:.1f} s")
    print_machine()

    rng = random.Random(args.seed)
    today = timezone.localdate()
    cohort = Cohort.objects.create(
        name="Benchmark cohort", site="Benchmark Hospital", timezone="UTC", country="US"
    )

    print()
    print(f"Enrolling {args.patients} patients in batches of {args.batch_size}")
    batch_seconds, per_batch, kinds = [], [], Counter()
    db_seconds = build_seconds = 0.0
    report_every = max(1, args.patients // 10)
    done, next_report = 0, report_every
    wall_started = time.perf_counter()
    while done < args.patients:
        size = min(args.batch_size, args.patients - done)
        build_started = time.perf_counter()
        patients, profiles = make_batch(rng, cohort, done, size, today)
        build_seconds += time.perf_counter() - build_started
        # enrol() is atomic: in autocommit mode each call is one transaction.
        seconds, counter = measured(enrol, patients, profiles)
        batch_seconds.append(seconds)
        per_batch.append(counter.total)
        kinds += counter.kinds
        db_seconds += counter.seconds
        done += size
        if next_report <= done < args.patients:
            rate = done / (time.perf_counter() - wall_started)
            print(f"  ... {done} patients, {rate:.0f}/s", file=sys.stderr, flush=True)
            next_report += report_every
    wall = time.perf_counter() - wall_started
    enrol_seconds = sum(batch_seconds)

    counts = row_counts()
    tiers = Counter(Patient.objects.values_list("risk_tier", flat=True))
    print(f"  patients (N):            {args.patients}")
    print(f"  batch size:              {args.batch_size} ({len(batch_seconds)} batches)")
    print(f"  total seconds:           {wall:.1f} (wall, including building the objects)")
    print(f"  seconds in enrol():      {enrol_seconds:.1f}")
    print(
        f"    in cursor.execute:     {db_seconds:.1f} ({100 * db_seconds / enrol_seconds:.0f}%:"
        " psycopg, network and server; the rest is Python)"
    )
    print(f"  building the objects:    {build_seconds:.1f} s")
    print(f"  patients planned/second: {args.patients / wall:.0f} (wall)")
    print(f"  seconds per batch:       min {min(batch_seconds):.2f}, max {max(batch_seconds):.2f}")
    print(f"  queries per batch:       min {min(per_batch)}, max {max(per_batch)}")
    print(f"  queries per patient:     {sum(per_batch) / args.patients:.4f}")
    print(f"  statements, all batches: {kinds_text(kinds)}")
    print(f"  tiers:                   {kinds_text(tiers)}")
    print("  rows created:")
    for name, count in counts.items():
        print(f"    {name + ':':22} {count}")
    per_patient = counts["visits"] / args.patients, counts["reminder series"] / args.patients
    print(f"    per patient:           {per_patient[0]:.1f} visits, {per_patient[1]:.2f} series")

    if args.replan_size:
        replan_size = min(args.replan_size, args.patients)
        print()
        print(f"Re-planning {replan_size} already planned, unchanged patients")
        ids = sorted(rng.sample(range(args.patients), replan_size))
        mrns = [f"BENCH{n:08d}" for n in ids]
        planned = []
        load_seconds, load_counter = measured(
            lambda: planned.extend(Patient.objects.select_related("profile").filter(mrn__in=mrns))
        )
        seconds, counter = measured(replan, planned)
        after = row_counts()
        changed = {name: after[name] - counts[name] for name in counts}
        changed = {name: delta for name, delta in changed.items() if delta}
        print(f"  loading (select_related): {load_seconds:.2f} s, queries: {load_counter.total}")
        rate = len(planned) / seconds
        print(f"  replan() seconds:         {seconds:.2f} ({rate:.0f} patients/s)")
        print(f"    in cursor.execute:      {counter.seconds:.2f}")
        print(f"  replan() queries:         {counter.total} ({kinds_text(counter.kinds)})")
        print(f"  write statements:         {counter.writes}")
        print(f"  row count changes:        {changed or 'none'}")

    usage = resource.getrusage(resource.RUSAGE_SELF)
    print()
    print(f"Peak memory (max RSS): {usage.ru_maxrss / 1024:.0f} MiB")


def main() -> None:
    args = parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # progress and results interleave in order
    create_database(args.admin_url, args.database, args.replace)
    try:
        setup_django(database_url(args.admin_url, args.database))
        run(args)
    finally:
        close_and_clean_up(args.admin_url, args.database, keep=args.keep)


if __name__ == "__main__":
    main()
