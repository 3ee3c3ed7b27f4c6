"""The embedded defaults a new user runs first (`make run`): SQLite, no other service.

The rest of the suite runs on PostgreSQL, so SQL that only PostgreSQL runs (a
function SQLite lacks, an array) passes it and still breaks the first thing a
new user sees. Here, in a process of its own with no DATABASE_URL and the
settings `make run` exports: the migrations, the static files, the demo (`seed_demo`), then the
staff pages, the API's lists and the admin as each demo login sees them, a
patient enrolled in the browser, a visit booked, a flag acknowledged, a message
reviewed, a CSV imported, a day's reminders swept and dispatched.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

VISIT = """
import io, json, django
django.setup()
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from datetime import timedelta
from cohorts.models import Cohort, Patient
from notifications import dispatch
from notifications.models import Message
from scheduling.models import Visit
from django.core.files.uploadedfile import SimpleUploadedFile
from staff import import_runs
from staff.models import PatientImport
from scheduling.sweep import sweep
from surveillance.demo import DEMO_COHORT
from surveillance.models import Flag
from surveillance.management.commands.seed_demo import DEMO_LOGINS

call_command("migrate", "--noinput", verbosity=0)
call_command("collectstatic", "--noinput", verbosity=0)
call_command("seed_demo", "--url", "http://127.0.0.1:8000/", stdout=io.StringIO())
users = get_user_model().objects.filter(username__in=DEMO_LOGINS)
# A second site in another zone: lists chosen cohort by cohort, days dated per zone.
west = Cohort.objects.create(name="Second site", site="West", timezone="America/Los_Angeles")
west.coordinators.add(*users)
patient, flag = Patient.objects.order_by("pk").first(), Flag.objects.order_by("pk").first()
today = timezone.localdate().isoformat()
paths = [
    "/staff/", "/staff/today/flags/", "/staff/inbox/", "/staff/dashboard/",
    "/staff/calendar/", "/staff/calendar/?view=month", f"/staff/calendar/{today}/",
    f"/staff/patients/{patient.pk}/", f"/staff/flags/{flag.pk}/", "/staff/patients/new/",
    "/staff/export/visits.csv", "/staff/import/", "/staff/calendar-feed/",
    "/api/v1/patients/", "/api/v1/visits/?overdue=true", "/api/v1/flags/", "/api/v1/dashboard/",
]
answers = {}
for user in users:
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    for path in paths + (["/admin/"] if user.is_staff else []):
        answers[f"{user.username} {path}"] = client.get(path).status_code

# A patient enrolled in the browser, then a day's reminders swept and sent (console SMS).
client.force_login(users.get(username="demo-coordinator"))
form = {
    "cohort": Cohort.objects.get(name=DEMO_COHORT).pk, "first_name": "Ada",
    "last_name": "Lovelace", "date_of_birth": "1966-03-02", "mrn": "EMBEDDED-1",
    "phone": "+1 201 555 0177", "language": "en", "reminder_time": "09:30", "her2": "positive",
    "er": "negative", "pr": "negative", "treatment_end_date": "2026-01-15", "sms_consent": "on",
}
enrolled = client.post("/staff/patients/new/", form).status_code
# The coordinator's one-click work: each answers with a redirect back.
visit = Visit.objects.filter(status="planned", window_start__lte=timezone.localdate()).first()
flag = Flag.objects.filter(status="open").first()
message = Message.objects.filter(needs_review=True).first()
soon = (timezone.now() + timedelta(days=3)).strftime("%Y-%m-%dT10:00")
actions = {
    "book": client.post(f"/staff/visits/{visit.pk}/book/", {"booked_at": soon}).status_code,
    "acknowledge": client.post(f"/staff/flags/{flag.pk}/acknowledge/").status_code,
    "review": client.post("/staff/inbox/review/", {"message": [message.pk]}).status_code,
}
# A CSV of two patients imported in the browser: previewed, started, enrolled in bulk.
rows = "first_name,last_name,date_of_birth,mrn,phone,treatment_end_date,her2\\n" + "".join(
    f"New{n},Import,1966-03-02,CSV-{n},+1 201 555 01{n}0,2026-01-15,positive\\n" for n in (1, 2)
)
upload = SimpleUploadedFile("patients.csv", rows.encode(), content_type="text/csv")
demo = Cohort.objects.get(name=DEMO_COHORT)
uploaded = client.post("/staff/import/", {"cohort": demo.pk, "file": upload})
job = PatientImport.objects.get()
started = client.post(f"/staff/import/{job.pk}/start/").status_code
imported = [uploaded.status_code, started, import_runs.run(job.pk), demo.patients.filter(
    mrn__startswith="CSV-").count()]
swept = sweep(timezone.now() + timedelta(days=1))
woken = dispatch.take_wake_ups(timezone.now())
outcomes = dispatch.send_many(woken)
seen = {"pages": len(paths), "answers": answers, "enrolled": enrolled, "actions": actions}
seen |= {"imported": imported, "swept": swept, "woken": woken, "outcomes": outcomes}
print(json.dumps(seen))
"""


def test_the_demo_runs_on_sqlite_and_every_page_answers(tmp_path):
    # Nothing of the test run's own settings (PostgreSQL, Redis, the in-memory SMS backend):
    # only what `make run` exports.
    environment = {
        name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ
    }
    environment |= {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "VAR_DIR": str(tmp_path),
        "HTTPS_ONLY": "false",
        "TWO_FACTOR_REQUIRED": "none",
        "PUBLIC_BASE_URL": "http://127.0.0.1:8000",
    }

    done = subprocess.run(
        [sys.executable, "-c", VISIT],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    answers = seen["answers"]
    assert (tmp_path / "db.sqlite3").exists()
    assert {where: status for where, status in answers.items() if status != 200} == {}
    assert len(answers) == 3 * seen["pages"] + 1  # each login every page; the admin, the admin
    assert seen["enrolled"] == 302
    assert seen["actions"] == {"book": 302, "acknowledge": 302, "review": 302}
    assert seen["imported"] == [302, 302, "done", 2]
    assert seen["swept"]["self_exam"] > 0  # the demo's series, a day on
    assert seen["woken"] and sorted(map(int, seen["outcomes"])) == sorted(seen["woken"])
