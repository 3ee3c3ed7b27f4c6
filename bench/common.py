"""Helpers shared by the benchmarks in bench/ (not a benchmark itself).

A throwaway PostgreSQL database, Django set up against it, a query counter, the
synthetic cohort of plan_patients.py, and the "Machine" block every benchmark prints.
The clinic work added on top of an enrolled cohort (overdue and booked visits, flags,
messages) is in clinic.py.
The scripts import it as `common` (Python puts bench/ first on sys.path when a script
there is run).
"""

import json
import os
import platform
import random
import subprocess
import sys
import time
from collections import Counter
from datetime import date, timedelta
from datetime import time as clock
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

BASE_DIR = Path(__file__).resolve().parent.parent

ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
SECRET_KEY = "bench-only-secret-key-not-for-any-deployment-0000000000"
DEFAULT_SEED = 20260201

# Share of each profile in the synthetic cohort; keys are surveillance.demo.PROFILES keys.
MIX = {"standard": 0.55, "high": 0.20, "triple_negative": 0.15, "very_high": 0.10}
TIME_ZONES = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "Europe/Madrid",
    "Europe/London",
    "Australia/Sydney",
)
REMINDER_TIMES = (clock(9, 0), clock(10, 0), clock(12, 30), clock(18, 0))
WRITES = ("INSERT", "UPDATE", "DELETE")


# --- The throwaway database -------------------------------------------------------------


def database_url(admin_url: str, name: str) -> str:
    parts = urlsplit(admin_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def database_exists(admin_url: str, name: str) -> bool:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
    return bool(found)


def create_database(admin_url: str, name: str, replace: bool) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and not replace:
            sys.exit(f"Database {name!r} already exists: pass --replace to drop it first.")
        if exists:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
        conn.execute(statement.format(sql.Identifier(name)))


def bench_environment(url: str) -> dict[str, str]:
    """The variables the benchmarks set for Django (and pass on to any subprocess)."""
    return {"DATABASE_URL": url, "SECRET_KEY": SECRET_KEY, "HTTPS_ONLY": "false"}


def setup_django(
    url: str, settings_module: str = "config.settings", extra_env: dict | None = None
) -> None:
    os.environ.update(bench_environment(url))
    os.environ.update(extra_env or {})
    os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(BASE_DIR))
    import django

    django.setup()


# --- Measuring ---------------------------------------------------------------------------


class QueryCounter:
    """An execute wrapper: counts statements by their first word, and times cursor.execute.

    The time includes psycopg adapting the parameters and the round trip, not only the server.
    """

    def __init__(self):
        self.kinds = Counter()
        self.seconds = 0.0

    def __call__(self, execute, sql_text, params, many, context):
        self.kinds[sql_text.lstrip().split(None, 1)[0].upper()] += 1
        started = time.perf_counter()
        try:
            return execute(sql_text, params, many, context)
        finally:
            self.seconds += time.perf_counter() - started

    @property
    def total(self) -> int:
        return sum(self.kinds.values())

    @property
    def writes(self) -> int:
        return sum(self.kinds[kind] for kind in WRITES)


def measured(function, *args, **kwargs) -> tuple[float, QueryCounter]:
    from django.db import connection

    counter = QueryCounter()
    with connection.execute_wrapper(counter):
        started = time.perf_counter()
        function(*args, **kwargs)
        elapsed = time.perf_counter() - started
    return elapsed, counter


# --- Synthetic patients ------------------------------------------------------------------


# NANP area codes for fictional 555-01xx numbers: 100 numbers per area code (about
# 69,000 in all; past that, numbers are shared, as a couple's phone is).
_AREA_CODES = [code for code in range(201, 990) if code % 100 != 11 and code % 10 != 0]


def fictional_phone(n: int) -> str:
    area = _AREA_CODES[(n // 100) % len(_AREA_CODES)]
    return f"+1{area}55501{n % 100:02d}"


def make_batch(rng: random.Random, cohort, start: int, size: int, today: date):
    """Unsaved patients with their contacts bound (the numbers are written), and profiles.

    `cohort` is one cohort, or a list of them: patient number n then goes to
    `cohort[n % len(cohort)]` (the random choices do not depend on it).
    """
    from cohorts import contacts
    from cohorts.models import Patient, TumourProfile
    from surveillance.demo import PROFILES

    cohorts = list(cohort) if isinstance(cohort, list | tuple) else [cohort]
    kinds, weights = list(MIX), list(MIX.values())
    patients, profiles, phones = [], [], []
    for n in range(start, start + size):
        phones.append(
            {
                "number": fictional_phone(n),
                "timezone": rng.choice(TIME_ZONES),
                "language": rng.choice(("en", "en", "en", "es")),
                "sms_consent": True,
            }
        )
        treatment_end = today - timedelta(days=rng.randint(0, 8 * 365))
        enrolled_on = treatment_end + timedelta(days=rng.randint(0, (today - treatment_end).days))
        patients.append(
            Patient(
                cohort=cohorts[n % len(cohorts)],
                first_name=f"Bench{n}",
                last_name="Patient",
                date_of_birth=date(1950, 1, 1) + timedelta(days=rng.randint(0, 40 * 365)),
                mrn=f"BENCH{n:08d}",
                reminder_time=rng.choice(REMINDER_TIMES),
                enrolled_on=enrolled_on,
            )
        )
        kind = rng.choices(kinds, weights)[0]
        profiles.append(
            TumourProfile(
                treatment_end_date=treatment_end,
                histology=rng.choice(("ductal", "ductal", "ductal", "lobular")),
                stage=rng.choice(("I", "II", "III")),
                **PROFILES[kind],
            )
        )
    contacts.bind(patients, phones)
    return patients, profiles


# Cohorts of a multi-cohort bench clinic (enrol_cohort(cohorts=N)): one site each, in
# these zones in turn, so per-zone queries ("today" is each cohort's) have several zones.
COHORT_ZONES = (
    ("America/New_York", "US", "NY"),
    ("America/Chicago", "US", "IL"),
    ("America/Los_Angeles", "US", "CA"),
    ("America/Denver", "US", "CO"),
    ("Europe/London", "GB", ""),
)


def make_cohorts(count: int = 1) -> list:
    """`count` benchmark cohorts. One: the single UTC "Benchmark cohort" of plan_patients.py."""
    from cohorts.models import Cohort

    if count == 1:
        return [
            Cohort.objects.create(
                name="Benchmark cohort", site="Benchmark Hospital", timezone="UTC", country="US"
            )
        ]
    made = []
    for i in range(count):
        zone, country, subdivision = COHORT_ZONES[i % len(COHORT_ZONES)]
        made.append(
            Cohort.objects.create(
                name=f"Benchmark cohort {i + 1}",
                site=f"Benchmark Hospital {i + 1}",
                timezone=zone,
                country=country,
                subdivision=subdivision,
                contact_phone="+12025550100",
            )
        )
    return made


def enrol_cohort(
    count: int, batch_size: int = 1_000, seed: int = DEFAULT_SEED, cohorts: int = 1
) -> float:
    """Enrol `count` synthetic patients as plan_patients.py does (one enrol() per batch).

    With `cohorts` > 1 the patients are dealt round-robin over that many cohorts
    (make_cohorts); the random choices are the same as with one.
    Progress goes to stderr every 10 %. Returns the wall seconds.
    """
    from django.utils import timezone

    from cohorts.services import enrol

    rng = random.Random(seed)
    today = timezone.localdate()
    made = make_cohorts(cohorts)
    report_every = max(1, count // 10)
    done, next_report = 0, report_every
    started = time.perf_counter()
    while done < count:
        size = min(batch_size, count - done)
        enrol(*make_batch(rng, made, done, size, today))
        done += size
        if next_report <= done < count:
            rate = done / (time.perf_counter() - started)
            print(f"  ... {done} patients, {rate:.0f}/s", file=sys.stderr, flush=True)
            next_report += report_every
    return time.perf_counter() - started


# --- Reporting ---------------------------------------------------------------------------


def run_with_summary(command: list[str], title: str) -> dict | None:
    """Run another bench (with --summary-json): its output passes through under `title`;
    returns its SUMMARY-JSON line, or None if it printed none."""
    print()
    print("=" * 78)
    print(title)
    print("=" * 78, flush=True)
    summary = None
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=BASE_DIR) as process:
        for line in process.stdout:
            if line.startswith("SUMMARY-JSON "):
                summary = json.loads(line.split(" ", 1)[1])
            else:
                sys.stdout.write(line)
    return summary


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def print_machine() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        server_version = cursor.fetchone()[0]
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print("Machine")
    print(f"  CPU:            {cpu_model()}")
    print(f"  cores:          {os.cpu_count()} ({usable} usable by this process)")
    print(f"  Python:         {platform.python_version()} ({platform.python_implementation()})")
    print(f"  PostgreSQL:     {server_version}")
    python_ms, database_ms = reference_speed()
    print(
        f"  reference:      Python {python_ms:.0f} ms, PostgreSQL {database_ms:.0f} ms"
        " (best of 3 fixed workloads: compare runs across machines by these)"
    )


def reference_speed() -> tuple[float, float]:
    """Milliseconds for a fixed pure-Python loop (2 million additions) and a fixed query
    (counting a million generated rows), best of three: machines that look alike differ
    several times over in both, and every figure here scales with them."""
    from django.db import connection

    def python_loop() -> None:
        total = 0
        for number in range(2_000_000):
            total += number

    def query() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM generate_series(1, 1000000)")
            cursor.fetchone()

    return _best_of_three(python_loop), _best_of_three(query)


def _best_of_three(work) -> float:
    times = []
    for _ in range(3):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return min(times)


def kinds_text(kinds: Counter) -> str:
    return ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items()))


def max_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def close_and_clean_up(admin_url: str, database: str, keep: bool) -> None:
    """After a run: close Django's connections, then drop the database unless kept."""
    if "django" in sys.modules:
        from django.db import connections

        connections.close_all()
    if keep:
        print(f"Kept database {database!r} (drop it with: dropdb {database})")
    else:
        drop_database(admin_url, database)
        print(f"Dropped database {database!r}")


def run_on_bench_database(args, run, extra_env: dict | None = None) -> None:
    """Create (or with `--reuse`, take) the bench database, set Django up on it, call
    `run(args, url)`, then drop the database unless `--keep` or `--reuse`."""
    sys.stdout.reconfigure(line_buffering=True)  # progress and results interleave in order
    if args.reuse:
        if not database_exists(args.admin_url, args.database):
            sys.exit(f"--reuse: database {args.database!r} does not exist")
    else:
        create_database(args.admin_url, args.database, args.replace)
    url = database_url(args.admin_url, args.database)
    try:
        setup_django(url, extra_env=extra_env)
        _migrate_and_describe()
        run(args, url)
    finally:
        close_and_clean_up(args.admin_url, args.database, keep=args.keep or args.reuse)


def add_database_arguments(parser, database: str) -> None:
    """The bench database options every script takes: --database, --admin-url, --keep,
    --replace, --reuse."""
    parser.add_argument("--database", default=database, help="throwaway database")
    parser.add_argument("--admin-url", default=ADMIN_URL, help=f"default: {ADMIN_URL}")
    parser.add_argument("--keep", action="store_true", help="do not drop the database at the end")
    parser.add_argument(
        "--replace", action="store_true", help="drop the database first if it already exists"
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="use the existing (kept) --database as it is: no enrolment; never dropped",
    )


def _migrate_and_describe() -> None:
    from django.core.management import call_command
    from django.db import connection

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    print(f"Migrated {connection.settings_dict['NAME']} in {time.perf_counter() - started:.1f} s")
    print_machine()
