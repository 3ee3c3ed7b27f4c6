"""Benchmark: API and staff-page response times over HTTP (gunicorn) on a clinic-sized database.

Run by hand (this is not a test, and it asserts nothing about timing):

    .venv/bin/python bench/api_pages.py --patients 2000            # a quick try
    .venv/bin/python bench/api_pages.py --patients 20000 --keep
    .venv/bin/python bench/api_pages.py --reuse --database surveillance_bench_api

It builds a throwaway database (default `surveillance_bench_api`) of --patients patients
over --cohorts cohorts with the work a clinic has (bench/clinic.py: past, overdue,
booked and missed visits, lesion flags, messages), makes an admin and a coordinator
of some of the cohorts with API tokens (`manage.py create_api_token`), starts gunicorn
on a free loopback port and times --requests GETs per endpoint and user with
`requests` (`Authorization: Token ...` for the API; the staff pages under /staff/
with a signed-in session cookie). Each figure is printed next to its goal.
Then it replays each endpoint once in-process to capture its SQL and prints the
EXPLAIN ANALYZE of the slowest statement. See bench/README.md for what it prints.
"""

import argparse
import io
import json
import math
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from common import (
    BASE_DIR,
    DEFAULT_SEED,
    add_database_arguments,
    bench_environment,
    max_rss_mib,
    run_on_bench_database,
)

PAGE_SIZE = 50  # REST_FRAMEWORK["PAGE_SIZE"]: docs/contracts.md, "Pagination and filters"
GOAL_P95_MS = 50.0
ADMIN_USERNAME = "bench-admin"
COORDINATOR_USERNAME = "bench-coordinator"
DEVICE = "bench api_pages"
NO_LIMIT = "1000000/min"
# Environment of the in-process replay and of gunicorn, on top of common.bench_environment.
SERVER_ENV = {
    "DEBUG": "false",
    "ALLOWED_HOSTS": "127.0.0.1",
    "TWO_FACTOR_REQUIRED": "none",
    # One client sends hundreds of requests a minute: the API's rate limits would answer 429.
    "API_RATE_USER": NO_LIMIT,
    "API_RATE_ANON": NO_LIMIT,
    "API_RATE_ADDRESS": NO_LIMIT,
    "LOG_LEVEL": "WARNING",
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=100_000, help="default: 100000")
    parser.add_argument("--batch-size", type=int, default=1_000, help="enrolment batch size")
    parser.add_argument("--cohorts", type=int, default=10, help="cohorts (default: 10)")
    parser.add_argument(
        "--summary-json", action="store_true", help="end with one SUMMARY-JSON line (goals.py)"
    )
    parser.add_argument(
        "--coordinator-cohorts",
        type=int,
        default=3,
        help="cohorts the coordinator belongs to (default: 3)",
    )
    parser.add_argument(
        "--message-months",
        type=int,
        default=6,
        help="months of self-exam reminders already sent (default: 6)",
    )
    parser.add_argument(
        "--requests", type=int, default=100, help="timed requests per endpoint and user"
    )
    parser.add_argument("--warmup", type=int, default=5, help="untimed requests first (default 5)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default: 2)")
    add_database_arguments(parser, "surveillance_bench_api")
    parser.add_argument(
        "--add-work",
        action="store_true",
        help="with --reuse: add the clinic work first (a database kept by plan_patients.py)",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed")
    parser.add_argument(
        "--explain-lines",
        type=int,
        default=40,
        help="key lines of each slowest statement's plan to print (0: no EXPLAIN)",
    )
    args = parser.parse_args()
    if args.patients < 1 or args.requests < 1 or args.cohorts < 1 or args.workers < 1:
        parser.error("--patients, --requests, --cohorts and --workers must be positive")
    if args.add_work and not args.reuse:
        parser.error("--add-work goes with --reuse")
    return args


# --- Users and tokens --------------------------------------------------------------------


def make_users(coordinator_cohorts: int) -> dict[str, dict]:
    """The admin and the coordinator (of the first cohorts by id), each with a fresh token."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command

    from cohorts.access import patients_for
    from cohorts.models import Cohort
    from surveillance.models import Flag

    User = get_user_model()
    admin, _ = User.objects.get_or_create(
        username=ADMIN_USERNAME,
        defaults={"is_staff": True, "is_superuser": True, "email": "admin@bench.invalid"},
    )
    coordinator, _ = User.objects.get_or_create(
        username=COORDINATOR_USERNAME,
        defaults={"is_staff": True, "email": "coordinator@bench.invalid"},
    )
    coordinator.groups.add(Group.objects.get_or_create(name="coordinator")[0])
    cohorts = list(Cohort.objects.order_by("id"))
    share = max(1, min(coordinator_cohorts, len(cohorts) - 1)) if len(cohorts) > 1 else 1
    for cohort in cohorts:
        if cohort in cohorts[:share]:
            cohort.coordinators.add(coordinator)
        else:
            cohort.coordinators.remove(coordinator)
    users = {}
    for role, user in (("admin", admin), ("coordinator", coordinator)):
        out, err = io.StringIO(), io.StringIO()
        call_command("create_api_token", user.username, device=DEVICE, stdout=out, stderr=err)
        visible = patients_for(user)
        users[role] = {
            "user": user,
            "token": out.getvalue().strip(),
            "session": signed_in_session(user),
            "flags": list(
                Flag.objects.filter(patient__in=visible).values_list("id", flat=True)[:1000]
            ),
            "cohorts": len(cohorts) if role == "admin" else share,
            "patients": visible.count(),
            "ids": list(visible.values_list("id", flat=True)),
        }
    return users


# --- gunicorn ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Gunicorn:
    """gunicorn config.wsgi on a free loopback port; stopped (SIGTERM to its master) on exit."""

    def __init__(self, url: str, workers: int, var_dir: str):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(var_dir) / "gunicorn.log"
        self.env = {
            **os.environ,
            **bench_environment(url),
            **SERVER_ENV,
            "VAR_DIR": var_dir,
            "DJANGO_SETTINGS_MODULE": "config.settings",
        }
        self.command = [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi",
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{self.port}",
        ]
        self.process = None

    def __enter__(self):
        import requests

        self.log = open(self.log_path, "w")  # noqa: SIM115 (closed in __exit__)
        # The pages' stylesheet and scripts, as a deployment collects them (whitenoise's manifest).
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
            cwd=BASE_DIR,
            env=self.env,
            check=True,
        )
        self.process = subprocess.Popen(
            self.command, cwd=BASE_DIR, env=self.env, stdout=self.log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                raise RuntimeError(f"gunicorn exited with {code}:\n{self.tail()}")
            try:
                requests.get(f"{self.base}/healthz", timeout=5)  # any answer: it is up
                return self
            except requests.ConnectionError:
                time.sleep(0.3)
        raise RuntimeError(f"gunicorn did not answer within 90 s:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        self.log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def __exit__(self, *exc):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


# --- Timing ------------------------------------------------------------------------------


def signed_in_session(user) -> str:
    """A session key signed in as `user`, as the login page would leave it (for the staff
    pages, which take no token)."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    return store.session_key


def staff_pages(user: dict, picked: list[int]) -> list[tuple[str, object]]:
    """The staff web's pages (label, path), one of each kind."""
    flags = user["flags"] or [0]
    return [
        ("GET /staff/ (Today)", "/staff/"),
        ("GET /staff/inbox/", "/staff/inbox/"),
        ("GET /staff/dashboard/", "/staff/dashboard/"),
        ("GET /staff/calendar/ (week)", "/staff/calendar/"),
        ("GET /staff/calendar/?view=month", "/staff/calendar/?view=month"),
        ("GET /staff/flags/{id}/", lambda n: f"/staff/flags/{flags[n % len(flags)]}/"),
        ("GET /staff/patients/{id}/", lambda n: f"/staff/patients/{picked[n % len(picked)]}/"),
    ]


def endpoints(users: dict) -> list[tuple[str, str, object]]:
    """(role, label, path or a function of the request number giving the path)."""
    found = []
    for role, user in users.items():
        last_page = max(1, math.ceil(user["patients"] / PAGE_SIZE))
        ids = user["ids"]
        rng = random.Random(f"{role}-ids")
        picked = [rng.choice(ids) for _ in range(1000)] if ids else [0]
        found += [
            (role, "GET /api/v1/patients/ (page 1)", "/api/v1/patients/"),
            (
                role,
                f"GET /api/v1/patients/?page={last_page} (last)",
                f"/api/v1/patients/?page={last_page}",
            ),
            (
                role,
                "GET /api/v1/patients/{id}/",
                lambda n, picked=picked: f"/api/v1/patients/{picked[n % len(picked)]}/",
            ),
            (role, "GET /api/v1/visits/?overdue=true", "/api/v1/visits/?overdue=true"),
            # The other lists, first pages: not tuned yet (docs/scaling.md, Lists).
            (role, "GET /api/v1/visits/", "/api/v1/visits/"),
            (role, "GET /api/v1/messages/", "/api/v1/messages/"),
            (role, "GET /api/v1/flags/", "/api/v1/flags/"),
            (role, "GET /api/v1/lesion-reports/", "/api/v1/lesion-reports/"),
            # As clients read it (figures counted at most a minute ago), and counted each time.
            (role, "GET /api/v1/dashboard/ (kept)", "/api/v1/dashboard/"),
            (role, "GET /api/v1/dashboard/?fresh=1 (counted)", "/api/v1/dashboard/?fresh=1"),
        ]
        found += [(role, label, path) for label, path in staff_pages(user, picked)]
    return found


def percentile(sorted_ms: list[float], share: float) -> float:
    """Nearest-rank percentile."""
    return sorted_ms[max(0, math.ceil(share * len(sorted_ms)) - 1)]


def time_endpoint(session, base: str, user: dict, path, warmup: int, count: int) -> dict:
    """The API with the user's token; the staff pages with their signed-in session."""
    headers = {"Authorization": f"Token {user['token']}", "Accept": "application/json"}
    session.cookies.set("sessionid", user["session"])
    statuses, times, size = Counter(), [], 0
    for n in range(warmup + count):
        url = base + (path(n) if callable(path) else path)
        started = time.perf_counter()
        response = session.get(url, headers=headers, timeout=120)
        body = response.content
        elapsed = (time.perf_counter() - started) * 1000
        if n >= warmup:
            times.append(elapsed)
            statuses[response.status_code] += 1
            size = len(body)
    times.sort()
    return {
        "n": len(times),
        "p50": percentile(times, 0.50),
        "p95": percentile(times, 0.95),
        "max": times[-1],
        "statuses": statuses,
        "bytes": size,
    }


# --- What the endpoints run: captured in-process, then EXPLAIN ANALYZE --------------------


def capture_sql(user: dict, path: str):
    """Replay one GET in-process (test Client, the same token and session) and capture its SQL.

    Only to see the statements: every timing above comes from gunicorn over HTTP.
    """
    from django.contrib.staticfiles.storage import staticfiles_storage
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    # Gunicorn's static files were collected into its own VAR_DIR: collect this process's.
    call_command("collectstatic", interactive=False, verbosity=0)
    staticfiles_storage.hashed_files, staticfiles_storage.manifest_hash = (
        staticfiles_storage.load_manifest()
    )
    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Token {user['token']}")
    client.cookies["sessionid"] = user["session"]
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    return response.status_code, [dict(query) for query in captured.captured_queries]


def explain(statement: str) -> list[str]:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {statement}")
        lines = [row[0] for row in cursor.fetchall()]
        transaction.set_rollback(True)
    return lines


# The plan's nodes, and the details that say where the time goes (Buffers, workers' lines
# and the like are left out).
KEY_DETAILS = (
    "->",
    "Sort Method",
    "Sort Key",
    "Filter",
    "Index Cond",
    "Rows Removed",
    "Hash Cond",
    "Execution Time",
)


def key_lines(plan: list[str]) -> list[str]:
    return plan[:1] + [
        line
        for line in plan[1:]
        if any(word in line for word in KEY_DETAILS) and not line.lstrip().startswith("Worker ")
    ]


def print_sql(role: str, label: str, user: dict, path: str, lines: int) -> dict:
    status, queries = capture_sql(user, path)
    selects = [q for q in queries if q["sql"].lstrip().upper().startswith("SELECT")]
    total_ms = sum(float(q["time"]) * 1000 for q in queries)
    kinds = Counter(q["sql"].lstrip().split(None, 1)[0].upper() for q in queries)
    print(
        f"  {role} {label}: HTTP {status}, {len(queries)} statements"
        f" ({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))}), {total_ms:.1f} ms in SQL"
    )
    if not selects or lines <= 0:
        return {"statements": len(queries), "sql_ms": total_ms}
    slowest = max(selects, key=lambda q: float(q["time"]))
    text = " ".join(slowest["sql"].split())
    print(
        f"    slowest ({float(slowest['time']) * 1000:.1f} ms): {text[:300]}"
        f"{' ...' if len(text) > 300 else ''}"
    )
    for line in key_lines(explain(slowest["sql"]))[:lines]:
        print(f"      {line}")
    return {"statements": len(queries), "sql_ms": total_ms}


# --- The benchmark -----------------------------------------------------------------------


def print_code() -> None:
    """The commit measured, and how many files outside bench/ differ from it."""

    def git(*words: str) -> str:
        done = subprocess.run(["git", *words], cwd=BASE_DIR, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("log", "-1", "--format=%h %s")
    changed = [line for line in git("status", "--porcelain").splitlines() if " bench/" not in line]
    print(
        f"  code:           {commit[:70] or 'unknown'}"
        f"{f' (+{len(changed)} uncommitted files outside bench/)' if changed else ''}"
    )


def build(args: argparse.Namespace) -> None:
    from clinic import add_clinic_work, build_clinic

    if args.reuse:
        from cohorts.models import Patient

        args.patients = Patient.objects.count()
        print(f"Reusing {args.database!r}: {args.patients} patients (no enrolment)")
        if args.add_work:
            done = add_clinic_work(args.seed, args.message_months)
            print(f"  clinic work added in {done.pop('seconds'):.1f} s: {done}")
        return
    print(f"Building the clinic: {args.patients} patients over {args.cohorts} cohorts")
    done = build_clinic(
        args.patients, args.batch_size, args.seed, args.cohorts, args.message_months
    )
    enrol, work = done.pop("enrol seconds"), done.pop("seconds")
    print(f"  enrolled in {enrol:.1f} s ({args.patients / enrol:.0f} patients/s)")
    print(f"  clinic work added in {work:.1f} s (bench/clinic.py)")
    for name, value in done.items():
        print(f"    {name + ':':28} {value}")


def run(args: argparse.Namespace, url: str) -> None:
    import requests
    from clinic import clinic_row_counts
    from django.db import connection

    print_code()
    print()
    build(args)

    print()
    print("Rows")
    for name, count in clinic_row_counts().items():
        print(f"  {name + ':':40} {count}")

    users = make_users(args.coordinator_cohorts)
    print()
    print("Users (tokens from manage.py create_api_token)")
    for role, user in users.items():
        print(f"  {role:12} {user['cohorts']} cohorts, {user['patients']} patients")
    connection.close()  # gunicorn's workers have their own connections

    rows = endpoints(users)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-api-") as var_dir:
        with Gunicorn(url, args.workers, var_dir) as server, requests.Session() as session:
            print()
            print(
                f"Timing over HTTP: gunicorn config.wsgi, {args.workers} sync workers, on"
                f" {server.base}; one client, sequential requests; {args.warmup} untimed,"
                f" then {args.requests} timed per row"
            )
            for role, label, path in rows:
                figures = time_endpoint(
                    session, server.base, users[role], path, args.warmup, args.requests
                )
                results.append((role, label, figures))
                print(f"  ... {role} {label}: p95 {figures['p95']:.1f} ms", file=sys.stderr)
            errors = (
                server.tail(10) if any(set(f["statuses"]) - {200} for _, _, f in results) else ""
            )

    print()
    print(f"Response times (ms), {args.patients} patients; goal: p95 <= {GOAL_P95_MS:.0f} ms")
    header = (
        f"  {'user':12} {'endpoint':38} {'n':>4} {'p50':>7} {'p95':>7} {'max':>7}"
        f" {'goal p95':>9}  verdict   status   bytes"
    )
    print(header)
    holds = misses = 0
    for role, label, f in results:
        ok = f["p95"] <= GOAL_P95_MS and set(f["statuses"]) == {200}
        holds, misses = holds + ok, misses + (not ok)
        status = ",".join(
            f"{code}x{n}" if len(f["statuses"]) > 1 else str(code)
            for code, n in sorted(f["statuses"].items())
        )
        print(
            f"  {role:12} {label:38} {f['n']:4d} {f['p50']:7.1f} {f['p95']:7.1f} {f['max']:7.1f}"
            f" {'<= ' + format(GOAL_P95_MS, '.0f'):>9}  {'holds' if ok else 'MISSES':8}"
            f"  {status:7} {f['bytes']:7d}"
        )
    print(f"  {holds} hold, {misses} miss")
    if errors:
        print("  Non-200 answers; the end of gunicorn's log:")
        print("    " + errors.replace("\n", "\n    "))

    if args.explain_lines > 0:
        print()
        print(
            "SQL of each endpoint (replayed once in-process with the same token, to capture"
            " the statements; EXPLAIN (ANALYZE, BUFFERS) of the slowest SELECT)"
        )
        for role, label, path in rows:
            concrete = path(0) if callable(path) else path
            print_sql(role, label, users[role], concrete, args.explain_lines)

    print()
    print(f"Peak memory (max RSS): {max_rss_mib():.0f} MiB")
    if args.summary_json:
        summary = [
            {"user": role, "endpoint": label, "p50": f["p50"], "p95": f["p95"]}
            | {"ok": set(f["statuses"]) == {200}}
            for role, label, f in results
        ]
        print("SUMMARY-JSON " + json.dumps({"patients": args.patients, "rows": summary}))


def main() -> None:
    run_on_bench_database(parse_args(), run, extra_env=SERVER_ENV)


if __name__ == "__main__":
    main()
