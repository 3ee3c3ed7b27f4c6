"""Property-based tests of the whole API against its own OpenAPI schema.

Schemathesis reads `/api/schema/` from the Django app itself (in-process
WSGI, so the requests share the test's database connection and see its
seeded rows), then, for every operation, sends generated requests as an
admin, a coordinator and a clinical lead, each with their API token, and
checks that:
- nothing answers 5xx ("bad input gets a clear 4xx, never a 500");
- every status is one the schema declares for that operation (the error
  answers are declared by `config.schema_errors`);
- every response matches the schema (status documented -> body shape,
  content type).

`make test` sends SCHEMA_EXAMPLES (3) examples per operation, each from every role, always
the same ones; `make chaos` sends 30, drawn afresh each run.

Half of the generated ids are swapped for ids of seeded rows, so the detail
endpoints and the visit, message and flag actions are exercised on real
records, not only on 404s.

The published schema is checked as it is served; the shapes that once
disagreed with it (`reminder_time` as a `HH:MM` string, `upcoming` as a plain
list, a flag's empty `outcome`) are asserted below so they cannot regress.
"""

from __future__ import annotations

import copy
import os
import re
from datetime import date

import pytest
import schemathesis
from django.core import signals
from django.core.cache import cache
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.models import ApiToken
from config.wsgi import application
from notifications.models import Message
from surveillance import lesions
from tests.factories import ROUTINE_ANSWERS, CohortFactory, PatientFactory, UserFactory

schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
PUBLISHED = copy.deepcopy(schema.raw_schema)

UPCOMING = "/api/v1/patients/{id}/upcoming/"

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    content_type_conformance,
]
EXAMPLES = int(os.environ.get("SCHEMA_EXAMPLES", "3"))
ROLES = ("admin", "coordinator", "clinical_lead")


@pytest.fixture
def wsgi_in_the_test_transaction():
    """Keep the WSGI handler from closing the test's connection after each request.

    Django's handler closes "old" connections when a request starts and ends,
    and a connection inside the test's transaction looks old (autocommit off);
    Django's own test client unhooks the same signal for the same reason.
    """
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def seeded(db, wsgi_in_the_test_transaction):
    """An admin with a token, a cohort with a coordinator, three planned patients, flags."""
    users = {role: UserFactory(username=f"schema_{role}", role=role) for role in ROLES}
    cohort = CohortFactory(
        name="Schema cohort",
        site="Schema site",
        coordinators=[users["coordinator"]],
        clinical_leads=[users["clinical_lead"]],
    )
    patients = [
        PatientFactory(cohort=cohort, tier=tier, treatment_end_date=date(2026, 1, 15))
        for tier in ("standard", "high", "very_high")
    ]
    visits = [visit.pk for patient in patients for visit in patient.visits.all()[:3]]
    flags = [lesions.record_report(patient, "staff", ROUTINE_ANSWERS) for patient in patients[:2]]
    return {
        "tokens": {
            role: ApiToken.objects.create(user=user, device="schema")[1]
            for role, user in users.items()
        },
        "ids": {
            "cohorts": [cohort.pk],
            "patients": [patient.pk for patient in patients],
            "visits": visits,
            "flags": [flag.pk for flag in flags],
            "lesion-reports": [flag.report_id for flag in flags],
            "messages": list(
                Message.objects.filter(patient__in=patients).values_list("pk", flat=True)
            ),
        },
    }


def _aim_at_seeded_rows(case, ids) -> None:
    """Replace an even generated id with a seeded row's id of the same collection."""
    parameters = case.path_parameters or {}
    if "id" not in parameters:
        return
    collection = case.operation.path.strip("/").split("/")[2]  # api/v1/<collection>/{id}/...
    generated = parameters["id"]
    if collection in ids and isinstance(generated, int) and generated % 2 == 0:
        choices = ids[collection]
        parameters["id"] = choices[(generated // 2) % len(choices)]


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=EXAMPLES <= 3,  # make test: the same examples every run; make chaos: fresh
    phases=[Phase.explicit, Phase.generate],  # report the failing request as found, unshrunk
)
def test_the_api_keeps_its_schema_and_never_fails(case, seeded):
    _aim_at_seeded_rows(case, seeded["ids"])
    for role in ROLES:  # the same request from each role: one set of seeded rows for all
        cache.clear()  # the per-user and per-address rate limits are tested elsewhere
        response = case.call(headers={"Authorization": f"Token {seeded['tokens'][role]}"})
        case.validate_response(response, checks=CHECKS)


def _published() -> dict:
    return PUBLISHED  # as served by /api/schema/, nothing corrected in memory


def test_the_schema_describes_reminder_time_as_hh_mm():
    reminder_time = _published()["components"]["schemas"]["Patient"]["properties"]["reminder_time"]
    assert reminder_time.get("type") == "string", reminder_time
    assert reminder_time.get("format") != "time", reminder_time  # RFC 3339 wants HH:MM:SS
    assert re.fullmatch(reminder_time["pattern"].strip("^$"), "10:00"), reminder_time


def test_the_schema_describes_upcoming_as_a_plain_list():
    operation = _published()["paths"][UPCOMING]["get"]
    ok = operation["responses"]["200"]["content"]["application/json"]
    assert ok["schema"].get("type") == "array", ok["schema"]
    assert ok["schema"]["items"] == {"$ref": "#/components/schemas/UpcomingSend"}
    # neither paginated nor filtered: only the path's id is a parameter
    assert [parameter["name"] for parameter in operation.get("parameters", [])] == ["id"]


def test_the_schema_allows_no_outcome_yet():
    published = _published()

    def resolved(node: dict) -> dict:
        ref = node.get("$ref", "")
        return published["components"]["schemas"][ref.rsplit("/", 1)[1]] if ref else node

    outcome = published["components"]["schemas"]["Flag"]["properties"]["outcome"]
    options = outcome.get("oneOf") or outcome.get("anyOf") or outcome.get("allOf") or [outcome]
    assert any("" in resolved(option).get("enum", ()) for option in options), outcome
