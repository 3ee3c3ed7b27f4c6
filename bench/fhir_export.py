"""Benchmark: a FHIR Bulk Data export of a whole cohort: resources per second, and memory.

Run by hand (this is not a test, and it asserts nothing about timing):

    .venv/bin/python bench/fhir_export.py --reuse --database surveillance_bench_api

On a database kept by api_pages.py (--patients 100000 --keep: ten cohorts with
the work a clinic has), it gathers every patient into one cohort inside a
transaction that is rolled back at the end, and runs the export task's own
code (`fhir_r4.bulk_export.run`) over it in this process, as a worker would.
It prints the resources written per type, the time, resources and patients per
second, the NDJSON bytes, and the process's peak resident memory before and
after: the export streams chunk by chunk, so the peak must not grow with the
cohort. With --patients N (no --reuse) it builds a database of N patients first.
It ends with a VACUUM of the patients' table, which the rolled-back move dirtied.
"""

import argparse
import shutil
import sys
import tempfile
import time

from common import DEFAULT_SEED, add_database_arguments, max_rss_mib, run_on_bench_database


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100000, help="without --reuse")
    parser.add_argument("--chunk-size", type=int, default=500, help="patients per chunk")
    parser.add_argument("--include-bodies", action="store_true", help="SMS words too")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    add_database_arguments(parser, "surveillance_bench_fhir")
    args = parser.parse_args()
    export_dir = tempfile.mkdtemp(prefix="fhir-export-bench-")
    try:
        run_on_bench_database(args, run, extra_env={"FHIR_EXPORT_DIR": export_dir})
    finally:
        shutil.rmtree(export_dir, ignore_errors=True)


def run(args, url) -> None:
    from django.db import transaction

    if not args.reuse:
        from clinic import add_clinic_work
        from common import enrol_cohort

        enrol_cohort(args.patients, seed=args.seed, cohorts=10)
        add_clinic_work(seed=args.seed)
    with transaction.atomic():
        export = _one_cohort_export(args.include_bodies)
        _measure(export, args.chunk_size)
        transaction.set_rollback(True)
    _vacuum_patients()


def _vacuum_patients() -> None:
    """The rolled-back move left every patient row dead once: clean them up now, so that
    the benches run next on this database (api_pages.py) find their index-only scans."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) cohorts_patient")


def _one_cohort_export(include_bodies: bool):
    """Every patient in the first cohort (rolled back later), and an export of it."""
    from django.contrib.auth import get_user_model

    from cohorts.models import Cohort, Patient
    from fhir_r4 import bulk_export

    cohort = Cohort.objects.order_by("pk").first()
    moved = Patient.objects.exclude(cohort=cohort).update(cohort=cohort)
    user = get_user_model().objects.filter(is_superuser=True).first()
    user = user or get_user_model().objects.create(username="fhir-bench", is_superuser=True)
    print(f"Cohort {cohort.pk}: {moved} patients gathered into it for this run (rolled back)")
    return bulk_export.create(cohort, user, "bench", [], include_bodies)


def _measure(export, chunk_size: int) -> None:
    from fhir_r4 import bulk_export
    from fhir_r4.models import BulkExport

    rss_before = max_rss_mib()
    started = time.perf_counter()
    bulk_export.run(str(export.pk), chunk_size=chunk_size)
    seconds = time.perf_counter() - started
    export = BulkExport.objects.get(pk=export.pk)
    if export.status != BulkExport.Status.COMPLETE:
        sys.exit(f"The export ended {export.status}: {export.error}")
    total = sum(export.counts.values())
    print(f"\nBulk export of {export.patients_total} patients, chunks of {chunk_size}")
    for kind in bulk_export.TYPES:
        if kind in export.counts:
            size = bulk_export.file_path(export, kind).stat().st_size / 2**20
            print(f"  {kind:<22} {export.counts[kind]:>10,}  {size:>9.1f} MiB")
    print(f"  {'all':<22} {total:>10,}")
    print(f"\n  time:            {seconds:.1f} s")
    print(f"  resources/s:     {total / seconds:,.0f}")
    print(f"  patients/s:      {export.patients_total / seconds:,.0f}")
    print(f"  peak RSS:        {rss_before:.0f} MiB before, {max_rss_mib():.0f} MiB after")


if __name__ == "__main__":
    main()
