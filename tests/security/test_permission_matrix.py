"""The permission matrix: every API route x every method x every role x whose record.

The routes are not listed by hand: they are walked from the URLconf
(`django.urls.get_resolver()`), every pattern under /api/v1/ (the routers
publish no format-suffix twins such as `/api/v1/patients/1.json`, and a test
keeps it so). A route or a method the matrix below does not know fails
`test_the_matrix_knows_every_api_route`, so a new endpoint cannot ship without
saying who may call it.

For each route, method and role the expectations are (docs/contracts.md, "What
must hold, always" and "Roles"; README "Security"):
- anonymous: 401 with `WWW-Authenticate: Token` (TokenAuthentication comes
  first and has an authenticate header), and no patient data in the body;
- a record of the user's own cohort: 2xx, or 400/409 for a well-formed but
  invalid action; lists show only rows of the user's cohorts;
- a record of another cohort: 404, the very same answer as for an id that
  does not exist (no existence oracle), and nothing of the other cohort
  (MRN, names, phone, cohort name) anywhere in the response;
- admins (the `admin` group, or superusers) see and act on every cohort;
  only they write cohorts (IsAdminOrReadOnly: 403 for everyone else, checked
  before the object is looked up, so it is the same 403 for every id);
- list filters naming a cohort or a patient (`?cohort=`, `?patient=`) choose
  only among the user's own: another cohort's id is refused with the very
  same 400 ("Select a valid choice") as an id that does not exist;
- resolving a flag is for the cohort's clinical leads and admins: a
  coordinator who can see the flag gets 403, a user of another cohort 404.

The staff web pages (lesion-report entry, recorded report, photos), the
patient's one-time link and the Twilio webhooks have a small matrix of their
own at the end.

The data (two cohorts at two sites, their members, two patients each) is
built once for the module inside a transaction rolled back at the end; each
test runs in a savepoint on top, so writes do not leak between tests.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.db import transaction
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken
from cohorts import messaging
from cohorts.models import Cohort, Patient
from notifications.models import Contact, Message
from surveillance import lesions
from surveillance.models import LesionPhoto, ReportLink
from tests.factories import ROUTINE_ANSWERS, CohortFactory, PatientFactory, UserFactory

User = get_user_model()
API_PREFIX = "api/v1/"
MISSING = 987654321  # an id no table holds
SAFE = ("GET", "HEAD", "OPTIONS")
WRITES = ("POST", "PUT", "PATCH", "DELETE")


# --- The routes, walked from the URLconf --------------------------------------------


@dataclass(frozen=True)
class Route:
    name: str | None
    regex: str
    methods: tuple[str, ...]  # as the view allows them, HEAD and OPTIONS included

    @property
    def id(self) -> str:
        return self.name or self.regex


def _walk(patterns, prefix="") -> Iterator[tuple[str, URLPattern]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern


def _allowed_methods(callback) -> tuple[str, ...]:
    view_class = getattr(callback, "cls", None)
    if view_class is None:  # not a DRF view: the matrix cannot know what it does
        return ("?",)
    actions = getattr(callback, "actions", None)
    if actions:  # a viewset: the router's method -> action map for this URL
        methods = {method.upper() for method in actions}
    else:
        methods = {
            method.upper()
            for method in view_class.http_method_names
            if method not in ("head", "options") and hasattr(view_class, method)
        }
    if "GET" in methods:
        methods.add("HEAD")  # Django and DRF answer HEAD with the GET handler
    methods.add("OPTIONS")  # DRF answers OPTIONS on every view
    return tuple(sorted(methods))


def api_patterns() -> list[tuple[str, URLPattern]]:
    return [
        (regex, pattern)
        for regex, pattern in _walk(get_resolver().url_patterns)
        if regex.startswith(API_PREFIX)
    ]


# A user's own sign-in for a token and their own tokens: no cohort's record, and signing in
# is open to anyone by design. tests/accounts/test_tokens.py says who may do what.
OWN_ACCOUNT_ROUTES = {"auth-token", "api-token-list", "api-token-detail"}


def api_routes() -> list[Route]:
    routes: dict[str, Route] = {}
    for regex, pattern in api_patterns():
        if pattern.name in OWN_ACCOUNT_ROUTES:
            continue
        route = Route(name=pattern.name, regex=regex, methods=_allowed_methods(pattern.callback))
        # Every DefaultRouter adds its own `api-root` at api/v1/; only the first resolves.
        routes.setdefault(route.name or route.regex, route)
    return list(routes.values())


# What the matrix knows how to call, by URL name -> methods (HEAD/OPTIONS implied).
KNOWN: dict[str, set[str]] = {
    "api-root": {"GET"},
    "cohort-list": {"GET", "POST"},
    "cohort-detail": {"GET", "PUT", "PATCH"},
    "patient-list": {"GET", "POST"},
    "patient-detail": {"GET", "PUT", "PATCH"},
    "patient-risk": {"GET"},
    "patient-schedule": {"GET"},
    "patient-upcoming": {"GET"},
    "patient-check-in": {"POST"},
    "patient-withdraw": {"POST"},
    "visit-list": {"GET"},
    "visit-detail": {"GET"},
    "visit-book": {"POST"},
    "visit-complete": {"POST"},
    "visit-miss": {"POST"},
    "visit-cancel": {"POST"},
    "message-list": {"GET"},
    "message-detail": {"GET"},
    "message-review": {"POST"},
    "message-assign": {"POST"},
    "dashboard": {"GET"},
    "patient-calendar": {"GET"},
    "lesion-report-list": {"GET", "POST"},
    "lesion-report-detail": {"GET"},
    "flag-list": {"GET"},
    "flag-detail": {"GET"},
    "flag-acknowledge": {"POST"},
    "flag-resolve": {"POST"},
    "flag-urgent-visit": {"POST"},
    "flag-assign": {"POST"},
}
LISTS = {
    "cohort-list",
    "patient-list",
    "visit-list",
    "message-list",
    "lesion-report-list",
    "flag-list",
}
# Routes that name no record: the same answer whichever cohort the caller "aims" at.
NO_RECORD = {"api-root", "dashboard"}
COHORT_ROUTES = {"cohort-list", "cohort-detail"}
PATIENT_DETAIL_ROUTES = {
    "patient-detail",
    "patient-risk",
    "patient-schedule",
    "patient-upcoming",
    "patient-calendar",
    "patient-check-in",
    "patient-withdraw",
}
MESSAGE_DETAIL_ROUTES = {"message-detail", "message-review", "message-assign"}
# Reviewing twice is fine: nothing to refuse. The world's messages and flags all have their
# patient: assigning one is a 409 whatever the body (tests/api/test_shared_numbers.py does
# the rest).
ASSIGNS = {"message-assign", "flag-assign"}
NO_INVALID_FORM = {"message-review", *ASSIGNS}
VISIT_DETAIL_ROUTES = {"visit-detail", "visit-book", "visit-complete", "visit-miss", "visit-cancel"}
TRANSITIONS = {"visit-complete", "visit-miss", "visit-cancel"}
FLAG_DETAIL_ROUTES = {
    "flag-detail",
    "flag-acknowledge",
    "flag-resolve",
    "flag-urgent-visit",
    "flag-assign",
}
# refused with 409 when the record's state forbids the step (acknowledging a resolved flag)
CONFLICTS = TRANSITIONS | {"patient-check-in", "flag-acknowledge"}
CREATES = {"cohort-list", "patient-list", "lesion-report-list", "flag-urgent-visit"}  # 201
# list -> the filters naming a record of some cohort; scoped to the user's own records
FILTERS = {
    "patient-list": ("cohort",),
    "visit-list": ("cohort", "patient"),
    "message-list": ("cohort", "patient"),
    "lesion-report-list": ("cohort", "patient"),
    "flag-list": ("cohort", "patient"),
}
FILTER_REFUSAL = ["Select a valid choice. That choice is not one of the available choices."]


def _known_methods(name) -> set[str]:
    methods = set(KNOWN.get(name, ()))
    if "GET" in methods:
        methods.add("HEAD")
    return methods | {"OPTIONS"}


ROUTES = api_routes()
MATRIX_ROUTES = [route for route in ROUTES if route.name in KNOWN]


def test_the_api_publishes_no_format_suffix_twins():
    """`.json` twins of the @actions once crashed (TypeError on `format=`): they must stay gone."""
    suffixed = [regex for regex, _ in api_patterns() if "format" in regex]
    assert not suffixed, suffixed


def test_the_matrix_knows_every_api_route():
    unknown = [
        f"{route.regex} ({route.name}): {sorted(set(route.methods) - _known_methods(route.name))}"
        for route in ROUTES
        if route.name not in KNOWN or set(route.methods) - _known_methods(route.name)
    ]
    assert not unknown, (
        "API routes or methods the permission matrix does not cover; add them to KNOWN and "
        "to request_for()/expected_status() in tests/security/test_permission_matrix.py:\n"
        + "\n".join(unknown)
    )
    found = {route.name for route in ROUTES}
    assert set(KNOWN) <= found, f"routes gone from the URLconf: {sorted(set(KNOWN) - found)}"


# --- The world: two cohorts, their people, their patients ---------------------------


@dataclass
class Side:
    cohort: Cohort
    patients: list[Patient]
    visit_id: int  # a planned visit
    cancelled_visit_id: int  # a cancelled one: every transition from it is a 409
    message_id: int  # an outbound SMS to patients[0]
    patient_payload: dict  # a full, valid PUT body for patients[0]
    flag_id: int  # an open flag of patients[0]
    resolved_flag_id: int  # a resolved one: acknowledging it is a 409
    report_id: int  # the open flag's lesion report
    leak_tokens: list[str] = field(default_factory=list)


@dataclass
class World:
    sides: dict[str, Side]
    tokens: dict[str, str]  # role -> DRF token key
    user_ids: dict[str, int]

    def visible_cohorts(self, role) -> set[str]:
        return set(MEMBERSHIP[role])

    def patient_ids(self, cohort_keys) -> set[int]:
        return {patient.pk for key in cohort_keys for patient in self.sides[key].patients}


# role -> the cohorts it belongs to (admins belong to none and see all)
MEMBERSHIP = {
    "coordinator_a": ("A",),
    "clinical_lead_a": ("A",),
    "coordinator_b": ("B",),
    "admin": ("A", "B"),
    "superuser": ("A", "B"),
}
ROLES = list(MEMBERSHIP)
ADMINS = {"admin", "superuser"}
# role -> the cohorts whose flags it may resolve (access.can_resolve: clinical leads, admins)
RESOLVES = {"clinical_lead_a": ("A",), "admin": ("A", "B"), "superuser": ("A", "B")}
# role -> (own cohort, other cohort); for admins both are theirs
TARGETS = {
    role: (cohorts[0], "B" if cohorts[0] == "A" else "A") for role, cohorts in MEMBERSHIP.items()
}

PATIENTS = {
    "A": [
        dict(
            first_name="Avaleigh", last_name="Quillfeather", mrn="AQ-550101", phone="+12015550111"
        ),
        dict(first_name="Annorah", last_name="Vexley", mrn="AV-550102", phone="+12015550112"),
    ],
    "B": [
        dict(first_name="Brynhild", last_name="Zorrowitz", mrn="BZ-660201", phone="+12015550121"),
        dict(first_name="Berengar", last_name="Oxenholme", mrn="BO-660202", phone="+12015550122"),
    ],
}


def _leak_tokens(cohort: Cohort, patients: list[Patient]) -> list[str]:
    tokens = [cohort.name, cohort.site]
    for patient in patients:
        digits = patient.phone.removeprefix("+1")
        tokens += [patient.mrn, patient.first_name, patient.last_name, digits]
        tokens.append(f"{digits[3:6]}-{digits[6:]}")  # 555-0121, as a formatter would print it
    return tokens


def _build_world() -> World:
    users = {
        "coordinator_a": UserFactory(username="sec_coord_a", role="coordinator"),
        "clinical_lead_a": UserFactory(username="sec_lead_a", role="clinical_lead"),
        "coordinator_b": UserFactory(username="sec_coord_b", role="coordinator"),
        "admin": UserFactory(username="sec_admin", role="admin"),
        "superuser": UserFactory(username="sec_root", is_superuser=True, is_staff=True),
    }
    cohorts = {
        "A": CohortFactory(
            name="Cohort Aquilonia",
            site="Northgate Infirmary",
            coordinators=[users["coordinator_a"]],
            clinical_leads=[users["clinical_lead_a"]],
        ),
        "B": CohortFactory(
            name="Cohort Borealis",
            site="Southmere Hospital",
            coordinators=[users["coordinator_b"]],
        ),
    }
    tokens = {
        role: ApiToken.objects.create(user=user, device="matrix")[1] for role, user in users.items()
    }
    admin = APIClient()
    admin.credentials(HTTP_AUTHORIZATION=f"Token {tokens['admin']}")
    sides = {}
    for key, cohort in cohorts.items():
        patients = [
            PatientFactory(cohort=cohort, tier=tier, treatment_end_date=date(2026, 1, 15), **data)
            for tier, data in zip(("high", "standard"), PATIENTS[key], strict=True)
        ]
        planned = list(patients[0].visits.filter(status="planned").order_by("due_date", "kind")[:2])
        assert len(planned) == 2, "the planner gave the high-tier patient too few visits"
        planned[1].cancel(note="set up by the permission matrix")
        # patients[1] cannot get SMS: a check-in for them is a 409
        Contact.objects.filter(patients=patients[1]).update(sms_consent=False)
        message = messaging.queue(patients[0], "self_exam", f"permission-matrix:{key}")
        payload = admin.get(f"/api/v1/patients/{patients[0].pk}/").json()
        for read_only in ("id", "sms_consent_at", "risk_tier", "created_on", "modified_on"):
            payload.pop(read_only, None)
        payload["sms_consent_source"] = payload.get("sms_consent_source") or "staff"
        flag = lesions.record_report(patients[0], "staff", ROUTINE_ANSWERS)
        resolved = lesions.record_report(patients[0], "staff", ROUTINE_ANSWERS)
        lesions.resolve(resolved, "benign", users["admin"])
        sides[key] = Side(
            cohort=cohort,
            patients=patients,
            visit_id=planned[0].pk,
            cancelled_visit_id=planned[1].pk,
            message_id=message.pk,
            patient_payload=payload,
            flag_id=flag.pk,
            resolved_flag_id=resolved.pk,
            report_id=flag.report_id,
            leak_tokens=_leak_tokens(cohort, patients),
        )
    return World(
        sides=sides,
        tokens=tokens,
        user_ids={role: user.pk for role, user in users.items()},
    )


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """Built once; rolled back when the module is done (each test nests a savepoint)."""
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            yield _build_world()
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


@pytest.fixture(autouse=True)
def _no_throttling():
    """The matrix sends hundreds of requests from one address; rate limits are tested elsewhere."""
    cache.clear()
    yield
    cache.clear()


# --- Requests and expectations ------------------------------------------------------


@dataclass
class Call:
    method: str
    path: str
    data: dict | None = None
    query: dict = field(default_factory=dict)
    mentioned_id: int | None = None  # an id the request names (to compare with MISSING)


def _url(route: Route, **kwargs) -> str:
    return reverse(route.name, kwargs=kwargs)


def _soon() -> str:
    """An appointment two days ahead (plausible_appointment: a week ago to five years on)."""
    return (timezone.now() + timedelta(days=2)).replace(microsecond=0).isoformat()


def _new_patient(cohort_id, *, invalid=False) -> dict:
    return {
        "cohort": cohort_id,
        "first_name": "Newcomer",
        "last_name": "Enrolee",
        "date_of_birth": "1968-03-04",
        "mrn": "NEW-000777",
        "phone": "not a phone number" if invalid else "+12015550199",
        "timezone": "America/Chicago",
        "language": "es",
        "reminder_time": "09:30",
        "sms_consent": True,
        "profile": {
            "er": "negative",
            "pr": "negative",
            "her2": "negative",
            "histology": "ductal",
            "stage": "II",
            "surgery_date": "2025-09-01",
            "treatment_end_date": "2026-01-20",
            "prior_recurrence": False,
        },
    }


def request_for(
    world: World,
    route: Route,
    method: str,
    side_key: str,
    *,
    invalid: bool = False,
    missing: bool = False,
) -> Call:
    """The request for `route`/`method` aimed at cohort `side_key`'s records.

    `invalid`: well-formed, but the action must be refused (a bad body, or a
    transition from a cancelled visit). `missing`: the same request, aimed at
    an id that does not exist.
    """
    side = world.sides[side_key]
    name = route.name
    if name in NO_RECORD:
        return Call(method, _url(route))

    if name == "cohort-list":
        if method == "POST":
            body = {
                "name": "" if invalid else "Cohort Newbury",
                "site": "Eastfield Clinic",
                "timezone": "Europe/London",
                "country": "GB",
            }
            return Call(method, _url(route), body)
        # GET: own = everything I may see; other = filtered to the other cohort's site
        return Call(method, _url(route), query={"site": side.cohort.site})
    if name == "cohort-detail":
        pk = MISSING if missing else side.cohort.pk
        body = None
        if method == "PUT":
            cohort = side.cohort
            body = (
                {}
                if invalid
                else {
                    "name": cohort.name,
                    "site": cohort.site,
                    "timezone": cohort.timezone,
                    "country": cohort.country,
                }
            )
        elif method == "PATCH":
            body = {"coordinators": [MISSING]} if invalid else {"is_active": True}
        return Call(method, _url(route, pk=pk), body, mentioned_id=pk)

    if name == "patient-list":
        cohort_id = MISSING if missing else side.cohort.pk
        if method == "POST":
            return Call(
                method, _url(route), _new_patient(cohort_id, invalid=invalid), None, cohort_id
            )
        return Call(method, _url(route), query={"cohort": cohort_id}, mentioned_id=cohort_id)
    if name in PATIENT_DETAIL_ROUTES:
        patient = side.patients[1] if invalid and name == "patient-check-in" else side.patients[0]
        pk = MISSING if missing else patient.pk
        body = None
        if method == "PUT":
            body = {} if invalid else side.patient_payload
        elif method == "PATCH":
            body = {"timezone": "Mars/Olympus_Mons"} if invalid else {"reminder_time": "11:15"}
        elif name == "patient-withdraw":
            body = {"reason": "bored" if invalid else "moved_away"}
        return Call(method, _url(route, pk=pk), body, mentioned_id=pk)

    if name == "lesion-report-list" and method == "POST":
        patient_id = MISSING if missing else side.patients[0].pk
        answers = {"location": "on the moon"} if invalid else ROUTINE_ANSWERS
        body = {"patient": patient_id, "answers": answers, "note": ""}
        return Call(method, _url(route), body, mentioned_id=patient_id)
    if name in ("visit-list", "message-list", "lesion-report-list", "flag-list"):
        patient_id = MISSING if missing else side.patients[0].pk
        return Call(method, _url(route), query={"patient": patient_id}, mentioned_id=patient_id)
    if name == "lesion-report-detail":
        pk = MISSING if missing else side.report_id
        return Call(method, _url(route, pk=pk), mentioned_id=pk)
    if name in FLAG_DETAIL_ROUTES:
        flag_id = side.resolved_flag_id if invalid and name in CONFLICTS else side.flag_id
        pk = MISSING if missing else flag_id
        body = None
        if name == "flag-resolve":
            body = {"outcome": "nonsense" if invalid else "benign", "note": "matrix"}
        elif name == "flag-urgent-visit":
            body = {"booked_at": "soon" if invalid else _soon(), "location": "Dermatology, Rm 4"}
        elif name == "flag-assign":
            body = {"patient": side.patients[0].pk}
        return Call(method, _url(route, pk=pk), body, mentioned_id=pk)
    if name in MESSAGE_DETAIL_ROUTES:
        pk = MISSING if missing else side.message_id
        body = {"patient": side.patients[0].pk} if name == "message-assign" else None
        return Call(method, _url(route, pk=pk), body, mentioned_id=pk)
    if name in VISIT_DETAIL_ROUTES:
        visit_id = side.cancelled_visit_id if invalid and name in TRANSITIONS else side.visit_id
        pk = MISSING if missing else visit_id
        body = None
        if name == "visit-book":
            body = {"booked_at": "soon" if invalid else "2026-12-10T14:30:00Z", "location": "Rm 2"}
        elif name in TRANSITIONS:
            body = {"note": "seen by the permission matrix"}
        return Call(method, _url(route, pk=pk), body, mentioned_id=pk)
    raise AssertionError(f"the matrix cannot build a request for {route.id}")


def expected_status(
    name: str, method: str, role: str, side_key: str, member: bool, invalid: bool
) -> int:
    if method == "OPTIONS":  # metadata about the endpoint, never about a record
        return 200
    if name in COHORT_ROUTES and method in WRITES and role not in ADMINS:
        return 403  # IsAdminOrReadOnly, before any lookup: the same for every id
    if name in NO_RECORD:
        return 200
    if not member:
        if name in ("patient-list", "lesion-report-list") and method == "POST":
            return 400  # the other cohort's id is refused like one that does not exist
        if name in FILTERS:
            return 400  # ?cohort=/?patient= choose among the user's own: "Select a valid choice"
        if name in LISTS:
            return 200  # an empty page (cohorts filtered by another site)
        return 404
    if name == "flag-resolve" and side_key not in RESOLVES.get(role, ()):
        return 403  # they see the flag, so refusing it says nothing new; before validation
    if invalid:
        return 409 if name in CONFLICTS else 400
    if name in ASSIGNS:
        return 409  # the world's messages and flags already have their patient
    if method == "POST" and name in CREATES:
        return 201
    if name == "patient-check-in":
        return 202
    return 200


def send(world: World, role: str | None, call: Call, **extra):
    client = APIClient(raise_request_exception=False)  # a crash is a 500, as in production
    if role is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {world.tokens[role]}")
    path = call.path
    if call.query:
        path += "?" + "&".join(f"{key}={value}" for key, value in call.query.items())
    handler = getattr(client, call.method.lower())
    if call.data is not None:
        return handler(path, call.data, format="json", **extra)
    return handler(path, **extra)


def _text(response) -> str:
    return response.content.decode("utf-8", errors="replace")


def assert_nothing_leaked(world: World, role: str | None, response, *, call: Call):
    visible = world.visible_cohorts(role) if role else set()
    text = _text(response)
    # What the caller sent may come back (the browsable API shows the URL): that is no leak.
    sent = f"{call.path} {call.query} {call.data}"
    for key, side in world.sides.items():
        if key in visible:
            continue
        leaked = [token for token in side.leak_tokens if token in text and token not in sent]
        assert not leaked, (
            f"{call.method} {call.path} {call.query or ''} as {role or 'anonymous'} "
            f"showed cohort {key}'s {leaked}: {text[:2000]}"
        )


def assert_only_visible_rows(world: World, role: str, route: Route, response, *, nonempty):
    if response.request["REQUEST_METHOD"] != "GET" or route.name not in LISTS:
        return
    body = response.json()
    assert set(body) >= {"count", "next", "previous", "results"}, body
    rows = body["results"]
    visible = world.visible_cohorts(role)
    if route.name == "cohort-list":
        allowed = {world.sides[key].cohort.pk for key in visible}
        seen = {row["id"] for row in rows}
    elif route.name == "patient-list":
        allowed = {world.sides[key].cohort.pk for key in visible}
        seen = {row["cohort"] for row in rows}
    else:  # visits, messages
        allowed = world.patient_ids(visible)
        seen = {row["patient"] for row in rows}
    assert seen <= allowed, f"{route.id} as {role} listed rows of other cohorts: {rows}"
    if nonempty:
        assert rows, f"{route.id} as {role} listed nothing of its own cohort"


# --- The matrix ---------------------------------------------------------------------


def _cases():
    for route in MATRIX_ROUTES:
        for method in route.methods:
            if method not in _known_methods(route.name):
                continue
            for role in ROLES:
                relations = ["own", "other"]
                if method in WRITES and route.name not in NO_INVALID_FORM:
                    relations.append("own-invalid")
                for relation in relations:
                    yield pytest.param(
                        route,
                        method,
                        role,
                        relation,
                        id=f"{route.id}-{method}-{role}-{relation}",
                    )


@pytest.mark.parametrize(("route", "method", "role", "relation"), list(_cases()))
def test_permission_matrix(world, db, route, method, role, relation):
    own, other = TARGETS[role]
    side_key = other if relation == "other" else own
    member = side_key in MEMBERSHIP[role]
    variants = ["valid"]
    if relation == "other" and method in WRITES and route.name not in NO_INVALID_FORM:
        variants.append("invalid")
    if relation == "own-invalid":
        variants = ["invalid"]
    for variant in variants:
        call = request_for(world, route, method, side_key, invalid=variant == "invalid")
        with transaction.atomic():
            response = send(world, role, call)
            transaction.set_rollback(True)
        expected = expected_status(route.name, method, role, side_key, member, variant == "invalid")
        assert response.status_code == expected, (
            f"{method} {call.path} {call.query or ''} as {role} on cohort {side_key}'s record "
            f"({variant}): expected {expected}, got {response.status_code}: "
            f"{_text(response)[:1000]}"
        )
        assert_nothing_leaked(world, role, response, call=call)
        if response.status_code == 200:
            assert_only_visible_rows(world, role, route, response, nonempty=member)
        if method == "GET" and not member and route.name in FILTERS:
            [param] = call.query
            assert response.json() == {param: FILTER_REFUSAL}, _text(response)


def _anonymous_cases():
    for route in MATRIX_ROUTES:
        for method in route.methods:
            if method in _known_methods(route.name):
                yield pytest.param(route, method, id=f"{route.id}-{method}-anonymous")


@pytest.mark.parametrize(("route", "method"), list(_anonymous_cases()))
def test_anonymous_is_refused_everywhere(world, db, route, method):
    call = request_for(world, route, method, "A")
    response = send(world, None, call)

    assert response.status_code == 401, (
        f"{method} {call.path} anonymous: {response.status_code} {_text(response)[:500]}"
    )
    assert response.headers.get("WWW-Authenticate") == "Token"
    assert_nothing_leaked(world, None, response, call=call)


# --- No existence oracle: another cohort's id answers like a missing id --------------


def _normalised(response, *ids) -> tuple[int, str]:
    text = _text(response)
    for an_id in ids:
        if an_id is not None:
            # only where an id is quoted back, as in 'Invalid pk "7"'
            text = re.sub(rf'(\\?"){an_id}(\\?")', r"\1<id>\2", text)
    return response.status_code, text


def _oracle_cases():
    for route in MATRIX_ROUTES:
        if route.name in NO_RECORD:
            continue
        for method in route.methods:
            if method not in _known_methods(route.name):
                continue
            if route.name == "cohort-list" and method != "GET" and method != "HEAD":
                continue  # creating a cohort names no cohort
            for role in ("coordinator_a", "clinical_lead_a", "coordinator_b"):
                yield pytest.param(route, method, role, id=f"{route.id}-{method}-{role}")


@pytest.mark.parametrize(("route", "method", "role"), list(_oracle_cases()))
def test_another_cohorts_record_answers_like_a_missing_one(world, db, route, method, role):
    other = TARGETS[role][1]
    variants = ["valid"]
    if method in WRITES and route.name not in NO_INVALID_FORM:
        variants.append("invalid")
    for variant in variants:
        invalid = variant == "invalid"
        call = request_for(world, route, method, other, invalid=invalid)
        missing = request_for(world, route, method, other, invalid=invalid, missing=True)
        with transaction.atomic():
            theirs = send(world, role, call)
            nobodys = send(world, role, missing)
            transaction.set_rollback(True)

        assert _normalised(theirs, call.mentioned_id) == _normalised(nobodys, MISSING), (
            f"{method} {call.path} {call.query or ''} as {role} ({variant}) tells another "
            f"cohort's record from a missing one: {theirs.status_code} {_text(theirs)[:300]!r} vs "
            f"{nobodys.status_code} {_text(nobodys)[:300]!r}"
        )


# --- Filters naming another cohort's records: the same 400 as a made-up id ------------


def _filter_cases():
    for name, params in FILTERS.items():
        for param in params:
            for role in ("coordinator_a", "clinical_lead_a", "coordinator_b"):
                yield pytest.param(name, param, role, id=f"{name}-{param}-{role}")


@pytest.mark.parametrize(("name", "param", "role"), list(_filter_cases()))
def test_a_filter_on_another_cohorts_record_answers_like_a_made_up_id(world, db, name, param, role):
    own, other = (world.sides[key] for key in TARGETS[role])
    path = reverse(name)
    value = {"cohort": lambda side: side.cohort.pk, "patient": lambda side: side.patients[0].pk}[
        param
    ]
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Token {world.tokens[role]}")

    mine = client.get(path, {param: value(own)})
    theirs = client.get(path, {param: value(other)})
    nobodys = client.get(path, {param: MISSING})

    assert mine.status_code == 200, _text(mine)[:500]
    assert mine.json()["results"], f"?{param}= of {role}'s own cohort listed nothing"
    assert (theirs.status_code, theirs.json()) == (nobodys.status_code, nobodys.json()), (
        f"GET {path}?{param}= as {role} tells another cohort's id from a made-up one: "
        f"{theirs.status_code} {_text(theirs)[:300]} vs "
        f"{nobodys.status_code} {_text(nobodys)[:300]}"
    )
    assert theirs.status_code == 400
    assert theirs.json() == {param: FILTER_REFUSAL}
    call = Call("GET", path, query={param: value(other)})
    assert_nothing_leaked(world, role, theirs, call=call)


# --- The dashboard counts the user's cohorts only -----------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_the_dashboard_counts_only_the_users_cohorts(world, db, role):
    response = send(world, role, Call("GET", reverse("dashboard")))

    assert response.status_code == 200, _text(response)[:500]
    body = response.json()
    visible = world.visible_cohorts(role)
    shown = {row["cohort"]: row for row in body["cohorts"]}
    expected = {world.sides[key].cohort.pk: world.sides[key] for key in visible}
    assert set(shown) == set(expected), f"{role} saw the rows of cohorts {sorted(shown)}"
    for cohort_id, side in expected.items():
        row = shown[cohort_id]
        assert (row["name"], row["site"]) == (side.cohort.name, side.cohort.site)
        assert row["patients"] == len(side.patients)
        assert row["flags_open"] == 1  # the world's open flag; the other one is resolved
    assert body["totals"]["patients"] == sum(len(side.patients) for side in expected.values())
    hidden = {world.sides[key].cohort.pk for key in world.sides if key not in visible}
    assert not hidden & set(shown)
    assert_nothing_leaked(world, role, response, call=Call("GET", reverse("dashboard")))


# --- The browsable API (text/html) must not leak either -----------------------------


def _html_cases():
    for route in MATRIX_ROUTES:
        if "GET" not in route.methods:
            continue
        for role in ("coordinator_a", "clinical_lead_a", "coordinator_b"):
            for relation in ("own", "other"):
                yield pytest.param(route, role, relation, id=f"{route.id}-html-{role}-{relation}")


@pytest.mark.parametrize(("route", "role", "relation"), list(_html_cases()))
def test_the_browsable_api_shows_nothing_of_other_cohorts(world, db, route, role, relation):
    own, other = TARGETS[role]
    side_key = other if relation == "other" else own
    member = side_key in MEMBERSHIP[role]
    call = request_for(world, route, "GET", side_key)
    response = send(world, role, call, HTTP_ACCEPT="text/html")

    expected = expected_status(route.name, "GET", role, side_key, member, False)
    if route.name == "patient-calendar" and response.status_code == 406:
        # An iCalendar/JSON export: text/html is not acceptable, before any lookup, for any id.
        return assert_nothing_leaked(world, role, response, call=call)
    assert response.status_code == expected
    if route.name == "patient-calendar" and member:
        assert response["Content-Type"].startswith("text/calendar")  # an export, not a page
    else:
        assert response["Content-Type"].startswith("text/html")
    assert_nothing_leaked(world, role, response, call=call)
    if route.name in FILTERS and member:
        # The filter form's <select>s are there, and offer the user's own cohort.
        assert world.sides[own].cohort.name in _text(response)


# --- The staff web pages (session login), the patient's link, the webhooks ----------

PNG = (  # a 1x1 PNG
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02"
    b"\x00\x00\x00\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\xcf\xc0\x00\x00\x03\x01"
    b"\x01\x00\xc9\xfe\x92\xef\x00\x00\x00\x00IEND\xaeB`\x82"
)
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


@dataclass
class Web:
    media: str  # MEDIA_ROOT for the photos
    photo_ids: dict[str, int]
    nonces: dict[str, str]  # an unused one-time link per cohort, for patients[0]


@pytest.fixture(scope="module")
def web(world, django_db_blocker, tmp_path_factory):
    """A photo and an unused one-time link per cohort, in the world's transaction."""
    media = str(tmp_path_factory.mktemp("media"))
    with override_settings(MEDIA_ROOT=media), django_db_blocker.unblock():
        photo_ids, nonces = {}, {}
        for key, side in world.sides.items():
            photo = LesionPhoto(report_id=side.report_id, content_type="image/png", size=len(PNG))
            photo.image.save("photo", ContentFile(PNG), save=False)
            photo.save()
            photo_ids[key] = photo.pk
            nonces[key] = ReportLink.objects.create(
                patient=side.patients[0], expires_at=timezone.now() + timedelta(hours=72)
            ).nonce
        yield Web(media=media, photo_ids=photo_ids, nonces=nonces)


def _web_path(world, web, page: str, side_key: str, relation: str) -> str:
    """`mixed`: the caller's own patient in the URL, with the other cohort's report;
    `missing`: the own page with an id that does not exist."""
    side = world.sides[side_key]
    missing = relation == "missing"
    if page == "lesion-report-new":
        return reverse(page, kwargs={"patient_id": MISSING if missing else side.patients[0].pk})
    if page == "lesion-report-recorded":
        own = world.sides["A" if side_key == "B" else "B"] if relation == "mixed" else side
        report_id = MISSING if missing else side.report_id
        return reverse(page, kwargs={"patient_id": own.patients[0].pk, "report_id": report_id})
    if page == "lesion-photo":
        return reverse(page, kwargs={"photo_id": MISSING if missing else web.photo_ids[side_key]})
    raise AssertionError(page)


STAFF_PAGES = {
    "lesion-report-new": ("GET", "HEAD", "POST"),
    "lesion-report-recorded": ("GET", "HEAD"),
    "lesion-photo": ("GET", "HEAD"),
}


def _web_cases():
    for page, methods in STAFF_PAGES.items():
        for method in methods:
            for who in ("coordinator_a", "coordinator_b", "anonymous"):
                relations = ("own",) if who == "anonymous" else ("own", "other", "mixed")
                for relation in relations:
                    if relation == "mixed" and page != "lesion-report-recorded":
                        continue
                    if method == "POST" and relation == "own" and who != "anonymous":
                        continue  # recording a report is tested in tests/surveillance
                    yield pytest.param(
                        page, method, who, relation, id=f"{page}-{method}-{who}-{relation}"
                    )


def _web_send(client, method, path, data):
    handler = getattr(client, method.lower())
    with transaction.atomic():
        response = handler(path, data) if data is not None else handler(path)
        transaction.set_rollback(True)
    return response


@pytest.mark.parametrize(("page", "method", "who", "relation"), list(_web_cases()))
def test_the_staff_web_pages(world, web, db, page, method, who, relation):
    """Own cohort 200; another cohort's record 404, as for a made-up id; anonymous: sign in."""
    client = Client(raise_request_exception=False)
    role = None if who == "anonymous" else who
    if role:
        client.force_login(User.objects.get(pk=world.user_ids[role]), backend=MODEL_BACKEND)
    own, other = TARGETS[role or "coordinator_a"]
    side_key = own if relation == "own" else other
    path = _web_path(world, web, page, side_key, relation)
    data = {"source": "phone", **ROUTINE_ANSWERS} if method == "POST" else None

    with override_settings(MEDIA_ROOT=web.media):
        response = _web_send(client, method, path, data)
        if role is None:
            assert response.status_code == 302, response
            assert response["Location"].startswith(reverse("login") + "?next=")
        elif relation == "own":
            assert response.status_code == 200, _text(response)[:500]
            if page == "lesion-photo":
                assert response["Content-Type"] == "image/png"
                assert response["Cache-Control"] == "private, no-store"
        else:
            assert response.status_code == 404, f"{method} {path} as {role}: {response}"
            missing = _web_path(world, web, page, own, "missing")
            nobodys = _web_send(client, method, missing, data)
            assert nobodys.status_code == 404
            assert _text(response) == _text(nobodys), (_text(response), _text(nobodys))
    if page != "lesion-photo" or response.status_code != 200:
        assert_nothing_leaked(world, role, response, call=Call(method, path, data))


def test_the_patients_link_shows_nothing_of_the_patient(world, web, db):
    """The link is the credential: no login, one patient, never their name or numbers."""
    client = Client(raise_request_exception=False)
    for key, nonce in web.nonces.items():
        response = client.get(reverse("lesion-link", kwargs={"nonce": nonce}))
        assert response.status_code == 200
        patient = world.sides[key].patients[0]
        digits = patient.phone.removeprefix("+1")
        shown = [
            token
            for token in (patient.first_name, patient.last_name, patient.mrn, digits)
            if token in _text(response)
        ]
        assert not shown, shown
        other = world.sides["B" if key == "A" else "A"]
        leaked = [token for token in other.leak_tokens if token in _text(response)]
        assert not leaked, leaked
        thanks = client.get(reverse("lesion-link-thanks", kwargs={"nonce": nonce}))
        assert thanks.status_code == 404  # not used yet: nothing to thank for
    unknown = client.get(reverse("lesion-link", kwargs={"nonce": "x" * 32}))
    assert unknown.status_code == 404


WEBHOOKS = ("twilio-sms", "twilio-status")
TWILIO_FORM = {
    "MessageSid": "SM" + "0" * 32,
    "From": "+12015550111",
    "To": "+12015550100",
    "Body": "2",
    "MessageStatus": "delivered",
}


@pytest.mark.parametrize("name", WEBHOOKS)
@pytest.mark.parametrize("signature", [None, "forged"])
def test_the_webhooks_refuse_unsigned_requests(db, name, signature):
    client = Client(raise_request_exception=False)
    headers = {"HTTP_X_TWILIO_SIGNATURE": signature} if signature else {}
    before = Message.objects.count()

    with override_settings(TWILIO_AUTH_TOKEN="matrix-auth-token"):
        response = client.post(reverse(name), TWILIO_FORM, **headers)
        assert client.get(reverse(name)).status_code == 405

    assert response.status_code == 403, _text(response)
    assert Message.objects.count() == before
