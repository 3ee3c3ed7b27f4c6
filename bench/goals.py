"""Benchmark: every figure of the performance goals, each printed beside its goal.

Run by hand (this is not a test, and it asserts nothing about timing):

    .venv/bin/python bench/api_pages.py --patients 100000 --keep    # once: about 7 minutes
    .venv/bin/python bench/goals.py --database surveillance_bench_api

On a clinic database kept by `api_pages.py --keep` it measures, in turn:

1. the API lists, a patient and the dashboard over HTTP: `api_pages.py --reuse`
   (gunicorn, a subprocess), p95 of each;
2. a sweep tick with 1 % of the active reminder series due;
3. one patient's schedule edited: a changed tumour profile saved, then
   `reassess_and_replan` (what the API's PATCH does), the median of --edits;
4. bulk enrolment and planning of --enrol new patients (`cohorts.services.enrol`)
   against a raw COPY of the very rows enrolment wrote into copies of their tables
   (same columns and indexes);
5. dispatch, outbox -> fake Twilio over HTTP: `sweep_dispatch.py --skip-sweep` on a
   small database of its own, with 1, 2 and 4 worker processes.

Parts 2-4 run inside a transaction that is rolled back, so the clinic database is
left as it was and a second run measures the same thing. See bench/README.md.
"""

import argparse
import io
import random
import statistics
import sys
import time
from dataclasses import dataclass

from common import (
    ADMIN_URL,
    BASE_DIR,
    DEFAULT_SEED,
    make_batch,
    make_cohorts,
    measured,
    run_on_bench_database,
    run_with_summary,
)

GOAL_SWEEP_SECONDS = 0.1
GOAL_EDIT_MS = 10.0
GOAL_SHARE_OF_COPY = 0.5
GOAL_DISPATCH_PER_SECOND = 500
GOAL_P95_MS = 50.0
API_ROWS = {  # the rows: (user, endpoint label prefix) -> row title
    "a patient": "GET /api/v1/patients/{id}/",
    "patients, page 1": "GET /api/v1/patients/ (page 1)",
    "patients, last page": "GET /api/v1/patients/?page=",
    "overdue visits": "GET /api/v1/visits/?overdue=true",
    "dashboard (figures kept a minute)": "GET /api/v1/dashboard/ (kept)",
    "dashboard, counted (?fresh=1)": "GET /api/v1/dashboard/?fresh=1",
}


@dataclass
class Row:
    what: str
    measured: str
    goal: str
    holds: bool


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database", default="surveillance_bench_api", help="a clinic kept by api_pages.py"
    )
    parser.add_argument("--admin-url", default=ADMIN_URL, help=f"default: {ADMIN_URL}")
    parser.add_argument("--requests", type=int, default=30, help="timed requests per API row")
    parser.add_argument("--edits", type=int, default=30, help="single-patient edits timed")
    parser.add_argument("--enrol", type=int, default=3000, help="patients enrolled vs COPY")
    parser.add_argument("--messages", type=int, default=5000, help="messages dispatched")
    parser.add_argument("--workers", default="1,2,4", help="dispatch worker processes")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed")
    parser.add_argument("--skip-api", action="store_true", help="not the API part")
    parser.add_argument("--skip-dispatch", action="store_true", help="not the dispatch part")
    args = parser.parse_args()
    # The clinic database is taken as it is, never built or dropped here.
    args.reuse, args.keep, args.replace = True, False, False
    return args


def run(args: argparse.Namespace, url: str) -> None:
    from django.db import connection, transaction

    rows: list[Row] = []
    with transaction.atomic():
        rows.append(sweep_row(args))
        rows.append(edit_row(args))
        rows.append(enrol_row(args))
        transaction.set_rollback(True)
    connection.close()
    if not args.skip_dispatch:
        rows.append(dispatch_row(args))
    if not args.skip_api:
        rows += api_rows(args)
    print_table(rows)


# --- 2. The sweep ------------------------------------------------------------------------


def sweep_row(args: argparse.Namespace) -> Row:
    from django.utils import timezone
    from sweep_dispatch import due_count, make_due, timed_sweep

    from scheduling.models import ReminderSeries

    active = list(
        ReminderSeries.objects.filter(is_active=True, next_due_at__isnull=False).values_list(
            "pk", flat=True
        )
    )
    now = timezone.now()
    timed_sweep(now)  # what fell due since the database was built
    ids = random.Random(args.seed).sample(active, round(len(active) / 100))
    make_due(ids, now)
    due = due_count(now)
    result = timed_sweep(now)
    print(
        f"Sweep: {due} series due (1 % of {len(active)} active): {result['seconds']:.3f} s,"
        f" {result['queries']} queries, {result['written']} messages written"
    )
    return Row(
        f"sweep tick, 1% due ({due} series)",
        f"{result['seconds']:.3f} s",
        f"<= {GOAL_SWEEP_SECONDS} s",
        result["seconds"] <= GOAL_SWEEP_SECONDS,
    )


# --- 3. One patient's schedule edited ----------------------------------------------------


def edit_row(args: argparse.Namespace) -> Row:
    from cohorts.models import Patient
    from cohorts.services import reassess_and_replan
    from surveillance.demo import PROFILES

    rng = random.Random(args.seed + 1)
    ids = list(Patient.objects.filter(is_active=True).values_list("pk", flat=True))
    kinds = ("standard", "high", "very_high")
    seconds, queries = [], []
    for patient_id in rng.sample(ids, args.edits):
        patient = Patient.objects.select_related("profile", "cohort", "contact").get(pk=patient_id)
        profile = patient.profile
        kind = rng.choice([k for k in kinds if PROFILES[k]["her2"] != profile.her2])
        for name, value in {"prior_recurrence": False, **PROFILES[kind]}.items():
            setattr(profile, name, value)

        def edit(patient=patient, profile=profile):
            profile.save()
            reassess_and_replan([patient])

        elapsed, counter = measured(edit)
        seconds.append(elapsed)
        queries.append(counter.total)
    median_ms = 1000 * statistics.median(seconds)
    print(
        f"Edit: {args.edits} patients' profiles changed, reassessed and replanned: median"
        f" {median_ms:.1f} ms (min {1000 * min(seconds):.1f}, max {1000 * max(seconds):.1f}),"
        f" {statistics.median(queries):.0f} queries"
    )
    return Row(
        "one patient's schedule edited (reassess + replan)",
        f"{median_ms:.1f} ms median, {statistics.median(queries):.0f} queries",
        f"<= {GOAL_EDIT_MS:.0f} ms",
        median_ms <= GOAL_EDIT_MS,
    )


# --- 4. Bulk enrolment against COPY ------------------------------------------------------


def enrol_row(args: argparse.Namespace) -> Row:
    from django.utils import timezone

    from cohorts.services import enrol

    rng = random.Random(args.seed + 2)
    today = timezone.localdate()
    (cohort,) = make_cohorts(1)
    first = 10_000_000  # MRNs apart from the clinic's own
    batches = [
        make_batch(rng, cohort, start, min(1000, first + args.enrol - start), today)
        for start in range(first, first + args.enrol, 1000)
    ]  # their phone numbers are written here: not part of either figure
    before = _max_ids()
    enrol_seconds = sum(measured(enrol, *batch)[0] for batch in batches)
    copied = _copy_new_rows(before)
    enrol_rate = args.enrol / enrol_seconds
    into_tables, into_copies = args.enrol / copied.into_tables, args.enrol / copied.into_copies
    share = enrol_rate / into_tables
    print(
        f"Enrolment: {args.enrol} patients in {enrol_seconds:.2f} s ({enrol_rate:.0f}/s);"
        f" COPY of the {copied.rows} rows it wrote, into the tables themselves:"
        f" {copied.into_tables:.2f} s ({into_tables:.0f} patients/s); into empty copies of"
        f" them: {copied.into_copies:.2f} s ({into_copies:.0f}/s,"
        f" {100 * enrol_rate / into_copies:.0f}%)"
    )
    return Row(
        "bulk enrol + plan",
        f"{enrol_rate:.0f} patients/s; COPY {into_tables:.0f}/s ({100 * share:.0f}%)",
        f">= {100 * GOAL_SHARE_OF_COPY:.0f}% of COPY",
        share >= GOAL_SHARE_OF_COPY,
    )


def _tables_with_ids() -> list[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.columns"
            " WHERE table_schema = 'public' AND column_name = 'id'"
            " AND data_type IN ('integer', 'bigint') ORDER BY table_name"
        )
        return [name for (name,) in cursor.fetchall()]


def _max_ids() -> dict[str, int]:
    from django.db import connection

    found = {}
    with connection.cursor() as cursor:
        for table in _tables_with_ids():
            cursor.execute(f'SELECT coalesce(max(id), 0) FROM "{table}"')
            found[table] = cursor.fetchone()[0]
    return found


@dataclass
class Copied:
    rows: int = 0
    into_copies: float = 0.0
    into_tables: float = 0.0


def _copy_new_rows(before: dict[str, int]) -> Copied:
    """COPY the rows written since `before`, timed twice: into empty copies of their tables
    (LIKE ... INCLUDING ALL: the same columns, defaults and indexes, logged as the real
    ones), then back into the tables themselves, after deleting them there (into indexes
    as full as enrolment found them; the deleted entries they then pass cost a little).
    All of it goes with the rollback."""
    from django.db import connection

    copied = Copied()
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg's own cursor: COPY
        for table, highest in before.items():
            buffer = io.BytesIO()
            with raw.copy(f'COPY (SELECT * FROM "{table}" WHERE id > {highest}) TO STDOUT') as out:
                for chunk in out:
                    buffer.write(chunk)
            count = buffer.getvalue().count(b"\n")
            if not count:
                continue
            copied.rows += count
            cursor.execute(f'CREATE TABLE "goals_{table}" (LIKE "{table}" INCLUDING ALL)')
            copied.into_copies += _timed_copy(raw, f"goals_{table}", buffer)
            cursor.execute(f'DELETE FROM "{table}" WHERE id > {highest}')
            copied.into_tables += _timed_copy(raw, table, buffer)
    return copied


def _timed_copy(raw, table: str, buffer: io.BytesIO) -> float:
    started = time.perf_counter()
    with raw.copy(f'COPY "{table}" FROM STDIN') as into:
        into.write(buffer.getvalue())
    return time.perf_counter() - started


# --- 5. Dispatch and 1. the API: the other benches, as subprocesses ----------------------


def summary_of(command: list[str]) -> dict:
    """Run another bench; its output passes through, its summary returns."""
    summary = run_with_summary(command, " ".join(command[1:]))
    if summary is None:
        sys.exit(f"{command[1]} printed no summary (see above)")
    return summary


def dispatch_row(args: argparse.Namespace) -> Row:
    summary = summary_of(
        [
            sys.executable,
            str(BASE_DIR / "bench" / "sweep_dispatch.py"),
            "--patients=2000",
            "--skip-sweep",
            f"--messages={args.messages}",
            f"--workers={args.workers}",
            f"--admin-url={args.admin_url}",
            "--database=surveillance_bench_goals_dispatch",
            "--replace",
            "--summary-json",
        ]
    )
    rates = {d["workers"]: d["sent"] / d["seconds"] for d in summary["dispatch"]}
    best = max(rates.values())
    return Row(
        "dispatch, outbox -> Twilio over HTTP, sender limit off",
        ", ".join(f"{rate:.0f} msg/s with {n}" for n, rate in rates.items()),
        f">= {GOAL_DISPATCH_PER_SECOND} msg/s on 2 cores",
        best >= GOAL_DISPATCH_PER_SECOND,
    )


def api_rows(args: argparse.Namespace) -> list[Row]:
    summary = summary_of(
        [
            sys.executable,
            str(BASE_DIR / "bench" / "api_pages.py"),
            "--reuse",
            f"--database={args.database}",
            f"--admin-url={args.admin_url}",
            f"--requests={args.requests}",
            "--explain-lines=0",
            "--summary-json",
        ]
    )
    rows = []
    for title, prefix in API_ROWS.items():
        found = [row for row in summary["rows"] if row["endpoint"].startswith(prefix)]
        p95 = {row["user"]: row["p95"] for row in found}
        rows.append(
            Row(
                f"API: {title}",
                ", ".join(f"{user} p95 {ms:.0f} ms" for user, ms in p95.items()),
                f"<= {GOAL_P95_MS:.0f} ms",
                all(row["ok"] and row["p95"] <= GOAL_P95_MS for row in found),
            )
        )
    return rows


def print_table(rows: list[Row]) -> None:
    print()
    print("Goals (docs/scaling.md)")
    width = max(len(row.what) for row in rows)
    measured_width = max(len(row.measured) for row in rows)
    for row in rows:
        verdict = "holds" if row.holds else "MISSED"
        print(f"  {row.what:{width}}  {row.measured:{measured_width}}  {row.goal:26} {verdict}")
    print(f"  {sum(r.holds for r in rows)} hold, {sum(not r.holds for r in rows)} missed")


def main() -> None:
    run_on_bench_database(parse_args(), run)


if __name__ == "__main__":
    main()
