"""The admin's permission matrix, generated from the admin registry.

Every model registered in the admin, ours and third parties', has a row in
EXPECTED: what each role may do with it (view, add, change, delete). A newly
registered model fails `test_every_registered_admin_is_declared` (and its own
case of the page matrix) until someone declares it. "Ours" are the installed
apps whose code is in this project (`settings.BASE_DIR`), not a list.

Every model of ours registered in the admin is either scoped by cohort
(`cohorts.admin_scope.CohortScopedAdmin`) or named in GLOBAL below: a newly
registered model fails `test_every_admin_of_ours_is_scoped_or_known_global`
until someone decides. For every registered admin, every role, and a record of
their own cohort and of another:

- every page of the admin's URLs (changelist, add, change, delete, history,
  each revert page, and its own extra pages) answers as the table says, the
  changelist lists the record and offers exactly the actions the role may run,
  and posting an action the role may not run changes nothing;
- every autocomplete request the admin accepts (each relation of any model
  to a registered model with search fields, not only `autocomplete_fields`)
  answers 403 to a role that may not view the model listed, and never lists
  another cohort's record;
- every raw-id lookup popup (`?_to_field=..&_popup=1`) answers likewise, and no
  admin takes raw ids of cohort-scoped records without scoping them;
- the index and each app's page list what the role may see, no more.

For every scoped admin, in addition:

- the changelist lists only the user's cohorts' rows, and its filters name
  no other cohort;
- every page about another cohort's record (its admin's URLs and "view on
  site") answers exactly as for a record that does not exist (no existence
  oracle), and nothing of the other cohort is in any page;
- every foreign-key choice on a change form and its inlines is among the
  user's own;
- actions on another cohort's record change nothing, and every action
  declares its permissions;
- history is read-only: posting a revert changes nothing.

Admins and superusers see every cohort; the checks about another cohort are
for coordinators and clinical leads. The bulk of the matrix calls each view as
the URLconf resolves it (`admin_registry.call`: the admin's own wrapper, no
middleware, no template rendering), several times faster than the test client;
the pages about another cohort are fetched and read in full with the client.
"""

import json
from dataclasses import dataclass, field

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.forms import ModelChoiceField
from django.test import Client
from django.urls import reverse
from django.utils.http import urlencode
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from simple_history.admin import SimpleHistoryAdmin

from accounts.models import ApiToken
from audit.models import AuditEvent
from cohorts.admin_scope import CohortScopedAdmin
from cohorts.models import Cohort, Patient
from scheduling.models import Protocol, ReminderSeries, SchedulerHeartbeat, Visit
from surveillance import lesions
from surveillance.models import Flag, Holiday, LesionReport
from tests.factories import ROUTINE_ANSWERS, CohortFactory, PatientFactory, UserFactory

from . import admin_registry
from .admin_registry import call, label, model_urls, registered

pytestmark = [pytest.mark.django_db]

OUR_APPS = admin_registry.our_app_labels()
# Registered models with no cohort: the same for every user who may see them at all.
GLOBAL = {Protocol, SchedulerHeartbeat, AuditEvent, ApiToken}
ROLES = ("coordinator", "clinical_lead", "admin", "superuser")
SEES_EVERY_COHORT = {"admin", "superuser"}
MISSING_PK = 987_654_321

NOTHING, ALL = "", "view add change delete"
# What each role may do with each registered model, for the records the matrix uses (see
# `staff` and `world`): the groups' permissions (cohorts/roles.py) as each ModelAdmin
# narrows them. Each row: (coordinator, clinical_lead, admin, superuser), as in ROLES.
EXPECTED = {
    # Ours, scoped by cohort.
    "cohorts.Cohort": ("view", "view", "view add change", ALL),
    "cohorts.Patient": ("view add change",) * 4,  # never deleted: withdrawn or erased
    "scheduling.Visit": ("view change",) * 4,  # planned, never added or deleted here
    "scheduling.ReminderSeries": ("view",) * 4,  # re-planning owns them
    "surveillance.Flag": ("view", "view", "view", "view change"),  # review by the API
    "surveillance.LesionReport": ("view", "view", "view", "view change"),  # kept, never deleted
    "surveillance.Holiday": ("view", "view", ALL, ALL),
    # Ours, with no cohort.
    "scheduling.Protocol": ("view", ALL, ALL, ALL),  # a draft: an active version is frozen
    "scheduling.SchedulerHeartbeat": (NOTHING, NOTHING, NOTHING, ALL),
    "audit.AuditEvent": (NOTHING, NOTHING, "view", "view"),
    "accounts.ApiToken": (NOTHING, NOTHING, NOTHING, "view delete"),  # revoked by deleting
    # Third parties': users and groups are seen by admins, managed by superusers only.
    "auth.User": (NOTHING, NOTHING, "view", ALL),
    "auth.Group": (NOTHING, NOTHING, "view", ALL),
    "otp_totp.TOTPDevice": (NOTHING, NOTHING, NOTHING, ALL),
    "otp_static.StaticDevice": (NOTHING, NOTHING, NOTHING, ALL),
    "axes.AccessAttempt": (NOTHING, NOTHING, NOTHING, "view change delete"),
    "axes.AccessLog": (NOTHING, NOTHING, NOTHING, "view change delete"),
    "axes.AccessFailureLog": (NOTHING, NOTHING, NOTHING, "view change delete"),
}
# What a page asks for: any one of these.
PAGE_NEEDS = {
    "changelist": {"view", "change"},
    "add": {"add"},
    "change": {"view", "change"},
    "delete": {"delete"},
    "history": {"view", "change"},
    "revert": {"view", "change"},
}
# The extra pages of some ModelAdmins (their own get_urls), by URL name: what they ask for.
EXTRA_PAGES = {
    "auth_user_password_change": {"change"},
    "otp_totp_totpdevice_config": {"view", "change"},
    "otp_totp_totpdevice_qrcode": {"view", "change"},
}
# The admin site's own URLs: the index and each app's page are in the matrix, autocomplete
# and "view on site" too; the others are about the signed-in user, not any record.
SITE_PAGES = {
    "index",
    "app_list",
    "autocomplete",
    "view_on_site",
    "login",
    "logout",
    "password_change",
    "password_change_done",
    "jsi18n",
}


def our_admins() -> dict:
    return {
        model: model_admin
        for model, model_admin in registered().items()
        if model._meta.app_label in OUR_APPS
    }


def is_scoped(model) -> bool:
    return isinstance(registered().get(model), CohortScopedAdmin)


def scoped_admins() -> list:
    return [
        pytest.param(model, id=label(model))
        for model, model_admin in our_admins().items()
        if isinstance(model_admin, CohortScopedAdmin)
    ]


def every_admin() -> list:
    return [pytest.param(model, id=label(model)) for model in registered()]


def history_admins() -> list:
    return [
        pytest.param(model, id=label(model))
        for model, model_admin in our_admins().items()
        if isinstance(model_admin, SimpleHistoryAdmin)
    ]


def declared(model) -> dict[str, set[str]]:
    """The row of EXPECTED for `model`, by role; a clear failure if there is none."""
    row = EXPECTED.get(label(model))
    if row is None:
        pytest.fail(
            f"{label(model)} is registered in the admin but has no row in EXPECTED "
            f"({__name__}): declare what each role may do with it (view, add, change, "
            "delete), and give `staff` a record of it if it has no cohort.",
            pytrace=False,
        )
    return {role: set(verbs.split()) for role, verbs in zip(ROLES, row, strict=True)}


def may(verbs: set[str], needs) -> bool:
    return bool(verbs & set(needs))


def may_run(action, verbs: set[str]) -> bool:
    """As the admin filters actions: any one of its permissions (change implies view)."""
    needs = getattr(action, "allowed_permissions", None)
    return not needs or any(
        need in verbs or (need == "view" and "change" in verbs) for need in needs
    )


@dataclass
class Side:
    cohort: Cohort
    patient: Patient
    secrets: tuple[str, ...]
    shared: dict = field(default_factory=dict)

    def record(self, model):
        """This cohort's record of `model`, or the one record of a model with no cohort."""
        finders = {
            Cohort: lambda: self.cohort,
            Patient: lambda: self.patient,
            Visit: lambda: self.patient.visits.order_by("pk").first(),
            ReminderSeries: lambda: self.patient.reminder_series.order_by("pk").first(),
            Flag: lambda: self.patient.flags.get(),
            LesionReport: lambda: self.patient.lesion_reports.get(),
            Holiday: lambda: Holiday.objects.get(site=self.cohort.site),
        }
        if model in finders:
            return finders[model]()
        if model in self.shared:
            return self.shared[model]
        pytest.fail(
            f"No record of {label(model)} to test its admin pages with: add one to "
            f"`staff` (or `Side.record` if it has a cohort) in {__name__}.",
            pytrace=False,
        )


@pytest.fixture
def staff():
    """A user of each role, and one record of each registered model with no cohort."""
    users = {
        "coordinator": UserFactory(username="adm_coord", role="coordinator", is_staff=True),
        "clinical_lead": UserFactory(username="adm_lead", role="clinical_lead", is_staff=True),
        "admin": UserFactory(username="adm_admin", role="admin", is_staff=True),
        "superuser": UserFactory(username="adm_root", is_superuser=True, is_staff=True),
    }
    bystander = UserFactory(username="adm_bystander", last_name="Bystander")
    visitor = {"username": bystander.username, "ip_address": "127.0.0.9", "user_agent": "m"}
    visitor.update(http_accept="*/*", path_info="/accounts/login/")
    shared = {
        Protocol: Protocol.objects.get(status=Protocol.Status.ACTIVE).new_draft(),
        SchedulerHeartbeat: SchedulerHeartbeat.record("matrix-worker"),
        AuditEvent: AuditEvent.objects.create(
            username=bystander.username, action="view", object_type="patient"
        ),
        ApiToken: ApiToken.objects.create(user=bystander, device="matrix laptop")[0],
        get_user_model(): bystander,
        Group: Group.objects.get(name="coordinator"),
        TOTPDevice: TOTPDevice.objects.create(user=bystander, name="phone", confirmed=True),
        StaticDevice: StaticDevice.objects.create(user=bystander, name="recovery codes"),
        AccessAttempt: AccessAttempt.objects.create(
            get_data="", post_data="", failures_since_start=1, **visitor
        ),
        AccessLog: AccessLog.objects.create(**visitor),
        AccessFailureLog: AccessFailureLog.objects.create(**visitor),
    }
    return users, shared


@pytest.fixture
def world(staff):
    users, shared = staff
    sides = {}
    for key, name, site, last_name in (
        ("own", "Cohort Aquilonia", "Northgate Infirmary", "Nordqvist"),
        ("other", "Cohort Borealis", "Southmere Hospital", "Sudermann"),
    ):
        cohort = CohortFactory(name=name, site=site)
        patient = PatientFactory(cohort=cohort, last_name=last_name, mrn=f"{key.upper()}-7731")
        lesions.record_report(patient, "staff", ROUTINE_ANSWERS)
        Holiday.objects.create(day="2026-12-24", name=f"{site} closure", site=site)
        secrets = (name, site, last_name, patient.mrn, patient.phone)
        sides[key] = Side(cohort, patient, secrets, shared)
    sides["own"].cohort.coordinators.add(users["coordinator"])
    sides["own"].cohort.clinical_leads.add(users["clinical_lead"])
    return sides, users


def own_and_other(request, model) -> tuple:
    """`(own record, other cohort's record, users, other cohort's secrets)` for `model`.

    Only a scoped model needs two cohorts of patients (the `world`); a model with no
    cohort has one record, the same on both sides, and only needs the `staff`.
    """
    if is_scoped(model):
        sides, users = request.getfixturevalue("world")
        own, other = sides["own"].record(model), sides["other"].record(model)
        return own, other, users, sides["other"].secrets
    users, shared = request.getfixturevalue("staff")
    record = Side(None, None, (), shared).record(model)
    return record, record, users, ()


def client_for(user) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def url(model, page: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{page}", args=args)


def assert_no_secret(response, side: Side, where: str) -> None:
    text = response.content.decode("utf-8", errors="replace")
    for secret in side.secrets:
        assert secret not in text, f"{where} shows {secret!r} of another cohort"


def versions(model, pk, every: bool) -> list:
    """The history ids of a record's versions: all of them, or the first (or a missing one)."""
    found = model.history.filter(**{model._meta.pk.attname: pk}).order_by("history_id")
    ids = found.values_list("history_id", flat=True)
    return list(ids if every else ids[:1]) or [MISSING_PK]


def admin_pages(model, model_admin, pk, every_version: bool = False) -> list[tuple[set, str]]:
    """Every URL of the admin's, as (what it asks for, path), generated from its patterns.

    `pk` None: only the pages about no record (changelist, add); else only those about
    that record. A page of an admin's own that EXTRA_PAGES does not name is an error.
    """
    found = []
    for admin_url in model_urls(model_admin):
        needs = PAGE_NEEDS.get(admin_url.page) or EXTRA_PAGES.get(admin_url.name)
        assert needs, (
            f"{admin_url.name} (an admin page of {label(model)}) is not in the matrix: "
            f"declare what it asks for in EXTRA_PAGES of {__name__}"
        )
        name = f"admin:{admin_url.name}"
        if pk is None:
            if not admin_url.arguments and admin_url.page != "revert":
                found.append((needs, reverse(name)))
        elif admin_url.page == "revert":
            found.extend(
                (needs, reverse(name, args=[quote(pk), version]))
                for version in versions(model, pk, every_version)
            )
        elif admin_url.arguments:
            (argument,) = admin_url.arguments
            found.append((needs, reverse(name, kwargs={argument: quote(pk)})))
    return found


def pages(model, model_admin, pk) -> list[str]:
    """Every page about one record, history pages and "view on site" included."""
    content_type = ContentType.objects.get_for_model(model)
    return [path for _, path in admin_pages(model, model_admin, pk)] + [
        reverse("admin:view_on_site", args=[content_type.pk, quote(pk)])
    ]


def same_answer(theirs, nobodys) -> bool:
    return (theirs.status_code, theirs.headers.get("Location")) == (
        nobodys.status_code,
        nobodys.headers.get("Location"),
    )


def snapshot(model, pk) -> tuple:
    """A record as stored, and how many rows its table has."""
    return model._default_manager.filter(pk=pk).values().first(), model._default_manager.count()


def search_term(model_admin, obj) -> str:
    """What one types into the admin's search to find `obj`: its first search field."""
    value = obj
    for part in model_admin.search_fields[0].lstrip("=^@").split("__"):
        value = getattr(value, part)
    return str(value)


# --- What is registered, and declared ---------------------------------------------------


def test_every_registered_admin_is_declared():
    registered_labels = {label(model) for model in registered()}
    undeclared = sorted(registered_labels - set(EXPECTED))
    assert not undeclared, (
        f"Registered in the admin with no row in EXPECTED ({__name__}): {undeclared}. "
        "Declare what each role may do with each (view, add, change, delete)."
    )
    assert sorted(set(EXPECTED) - registered_labels) == [], "rows for unregistered models"


def test_every_admin_url_is_in_the_matrix():
    unknown_site = sorted(admin_registry.site_url_names() - SITE_PAGES)
    unknown_pages = sorted(
        admin_url.name
        for model_admin in registered().values()
        for admin_url in model_urls(model_admin)
        if admin_url.page is None and admin_url.name not in EXTRA_PAGES
    )
    assert unknown_site == [], f"admin site URLs not in SITE_PAGES of {__name__}"
    assert unknown_pages == [], f"admin pages not in EXTRA_PAGES of {__name__}"
    assert len(admin_registry.site_model_resolvers()) == len(registered())


def test_our_apps_are_the_projects():
    assert {"cohorts", "records", "fhir_r4", "staff"} <= OUR_APPS
    assert not {"auth", "axes", "otp_totp", "simple_history"} & OUR_APPS


def test_every_admin_of_ours_is_scoped_or_known_global():
    unscoped = {
        model
        for model, model_admin in our_admins().items()
        if not isinstance(model_admin, CohortScopedAdmin)
    }
    assert unscoped == GLOBAL


def test_every_action_declares_its_permissions():
    undeclared = [
        f"{model._meta.label}.{name}"
        for model, model_admin in our_admins().items()
        for name, function in (
            (action if isinstance(action, str) else action.__name__, action)
            for action in model_admin.actions or ()
        )
        if not getattr(getattr(model_admin, name, function), "allowed_permissions", None)
    ]
    assert undeclared == []


# --- Every page, every role ---------------------------------------------------------------


@pytest.mark.parametrize("model", every_admin())
def test_each_role_gets_the_pages_the_table_gives_it(request, model):
    model_admin = registered()[model]
    table = declared(model)
    own, other, users, _ = own_and_other(request, model)
    actions = model_admin._get_base_actions() if model_admin.actions is not None else []
    problems = []
    for role in ROLES:
        user, verbs = users[role], table[role]
        records = [own] + ([other] if other != own and role in SEES_EVERY_COHORT else [])
        where = f"{label(model)} as {role} (declared {' '.join(sorted(verbs)) or 'nothing'})"
        for needs, path in admin_pages(model, model_admin, None):
            response = call(user, path)
            expected = 200 if may(verbs, needs) else 403
            if response.status_code != expected:
                problems.append(f"{where}: GET {path} {response.status_code}, not {expected}")
            elif expected == 200 and path == url(model, "changelist"):
                shown = {row.pk for row in response.context_data["cl"].result_list}
                if not {record.pk for record in records} <= shown:
                    problems.append(f"{where}: the changelist misses its record")
                action_form = response.context_data["action_form"]
                offered = {
                    name
                    for name, _ in (action_form.fields["action"].choices if action_form else ())
                }
                wanted = {name for action, name, _ in actions if may_run(action, verbs)}
                if offered - {""} != wanted:
                    problems.append(f"{where}: actions offered {offered - {''}}, not {wanted}")
        for record in records:
            for needs, path in admin_pages(model, model_admin, record.pk, every_version=True):
                response = call(user, path)
                expected = 200 if may(verbs, needs) else 403
                if response.status_code != expected:
                    problems.append(f"{where}: GET {path} {response.status_code}, not {expected}")
                elif expected == 200 and path == url(model, "change", quote(record.pk)):
                    can_change = response.context_data["has_change_permission"]
                    if can_change != ("change" in verbs):
                        problems.append(f"{where}: {path} says change={can_change}")
        # An action the role may not run, posted anyway on its own record, changes nothing
        # (where the role may not see the changelist at all, its 403 above answers posts too).
        for action, name, _ in actions:
            if may_run(action, verbs) or not may(verbs, PAGE_NEEDS["changelist"]):
                continue
            before = snapshot(model, own.pk)
            posted = {"action": name, "_selected_action": [own.pk], "index": 0}
            with transaction.atomic():
                call(user, url(model, "changelist"), {**posted, "confirmed": "yes", "post": "yes"})
            if snapshot(model, own.pk) != before:
                problems.append(f"{where}: the action {name} changed {label(model)}")
    assert problems == []


def test_the_index_lists_each_role_what_it_may_see(staff):
    users, _ = staff
    models = registered()
    for role in ROLES:
        response = call(users[role], reverse("admin:index"))
        listed = {
            entry["model"] for app in response.context_data["app_list"] for entry in app["models"]
        }
        assert listed == {model for model in models if declared(model)[role]}, role
        for app_label in sorted({model._meta.app_label for model in models}):
            page = call(users[role], reverse("admin:app_list", args=[app_label]))
            visible = any(declared(m)[role] for m in models if m._meta.app_label == app_label)
            assert page.status_code == (200 if visible else 404), (role, app_label)


# --- Autocomplete and raw-id lookups ------------------------------------------------------

AUTOCOMPLETE = admin_registry.autocomplete_sources()


def test_the_autocomplete_matrix_covers_every_autocomplete_field():
    accepted = {(model, name) for sources in AUTOCOMPLETE.values() for model, name in sources}
    assert set(admin_registry.declared_autocomplete_fields()) <= accepted
    assert {Cohort, Patient} <= set(AUTOCOMPLETE)


@pytest.mark.parametrize("target", [pytest.param(t, id=label(t)) for t in AUTOCOMPLETE])
@pytest.mark.filterwarnings("ignore::django.core.paginator.UnorderedObjectListWarning")
def test_autocomplete_lists_only_what_the_role_may_see(request, target):
    target_admin = registered()[target]
    table = declared(target)
    own, other, users, secrets = own_and_other(request, target)
    scoped = is_scoped(target)
    # All, and the other cohort's by name; a model with no cohort: its record by name.
    terms = {"", search_term(target_admin, other)} if scoped else {search_term(target_admin, own)}
    problems = []
    for model, name in AUTOCOMPLETE[target]:
        source = model._meta.get_field(name)
        to_field = getattr(source.remote_field, "field_name", target._meta.pk.attname)
        to_field = target._meta.get_field(to_field).attname
        choices = target._default_manager.all()
        if source.concrete:
            choices = choices.complex_filter(source.get_limit_choices_to())
        for role in ROLES:
            may_view = may(table[role], {"view", "change"})
            for term in sorted(terms) if may_view else [""]:
                path = f"{reverse('admin:autocomplete')}?" + urlencode(
                    {
                        "app_label": model._meta.app_label,
                        "model_name": model._meta.model_name,
                        "field_name": name,
                        "term": term,
                    }
                )
                where = f"{path} as {role}"
                try:
                    response = call(users[role], path)
                except AttributeError:
                    # Django's view fails on a reverse relation once it has checked the
                    # permission, before it lists anything: fine, unless it got that far.
                    if source.concrete:
                        raise
                    if not may_view:
                        problems.append(f"{where}: got past the permission check")
                    continue
                if not may_view:
                    if response.status_code != 403:
                        problems.append(f"{where}: {response.status_code}, not 403")
                    continue
                if response.status_code != 200:
                    problems.append(f"{where}: {response.status_code}, not 200")
                    continue
                results = json.loads(response.content)["results"]
                listed = {result["id"] for result in results}
                for record, seen in ((own, True), (other, role in SEES_EVERY_COHORT)):
                    if term not in ("", search_term(target_admin, record)):
                        continue
                    key = str(getattr(record, to_field))
                    expected = (seen or not scoped) and choices.filter(pk=record.pk).exists()
                    if (key in listed) != expected:
                        problems.append(f"{where}: {label(target)} {key} listed={key in listed}")
                if scoped and role not in SEES_EVERY_COHORT:
                    text = " ".join(result["text"] for result in results)
                    problems.extend(
                        f"{where} shows {secret!r} of another cohort"
                        for secret in secrets
                        if secret in text
                    )
    assert problems == []


RAW_IDS = [
    pytest.param(model, raw_field, id=f"{label(model)}.{raw_field.name}")
    for model, raw_field, _, _ in admin_registry.raw_id_fields()
    if raw_field.related_model in registered()  # else the widget has no lookup
]


def test_no_admin_takes_raw_ids_of_cohort_records_unscoped():
    unscoped = [
        f"{type(holder).__qualname__}.{raw_field.name}"
        for _, raw_field, holder, is_inline in admin_registry.raw_id_fields()
        if is_scoped(raw_field.related_model)
        and (is_inline or not isinstance(holder, CohortScopedAdmin))
    ]
    assert unscoped == []


@pytest.mark.parametrize("model, raw_field", RAW_IDS)
def test_raw_id_lookups_list_only_what_the_role_may_see(request, model, raw_field):
    target = raw_field.related_model
    table = declared(target)
    own, other, users, _ = own_and_other(request, target)
    to_field = getattr(raw_field.remote_field, "field_name", target._meta.pk.name)
    lookup = url(target, "changelist") + f"?_to_field={to_field}&_popup=1"
    for role in ROLES:
        response = call(users[role], lookup)
        if not may(table[role], {"view", "change"}):
            assert response.status_code == 403, (role, lookup, response.status_code)
            continue
        assert response.status_code == 200, (role, lookup, response.status_code)
        shown = {row.pk for row in response.context_data["cl"].result_list}
        assert own.pk in shown, (role, lookup)
        if is_scoped(target):
            assert (other.pk in shown) == (role in SEES_EVERY_COHORT), (role, lookup)


# --- Another cohort's records -------------------------------------------------------------


@pytest.mark.parametrize("model", scoped_admins())
def test_the_admin_shows_each_role_only_its_cohorts(world, model):
    sides, users = world
    model_admin = admin.site._registry[model]
    own, other = sides["own"].record(model), sides["other"].record(model)
    for role in ROLES:
        client = client_for(users[role])
        listing = client.get(url(model, "changelist"))
        if listing.status_code == 403:
            continue  # the role may not see this model at all
        assert listing.status_code == 200, (role, listing.status_code)
        shown = {row.pk for row in listing.context["cl"].result_list}
        assert own.pk in shown, (role, model)
        if role in SEES_EVERY_COHORT:
            assert other.pk in shown
            continue
        assert other.pk not in shown, (role, model)
        assert_no_secret(listing, sides["other"], f"{model._meta.label} list as {role}")
        for theirs, nobodys in zip(
            pages(model, model_admin, other.pk),
            pages(model, model_admin, MISSING_PK),
            strict=True,
        ):
            answer, missing = client.get(theirs), client.get(nobodys)
            assert same_answer(answer, missing), (role, theirs, answer.status_code)
            assert_no_secret(answer, sides["other"], f"{theirs} as {role}")
        probes = AuditEvent.objects.filter(action="denied", username=users[role].username)
        assert probes.filter(object_id=str(other.pk)).exists(), (role, model)


@pytest.mark.parametrize("model", scoped_admins())
def test_change_forms_offer_only_the_users_own_records(world, model):
    sides, users = world
    own = sides["own"].record(model)
    for role in ("coordinator", "clinical_lead"):
        client = client_for(users[role])
        for page in (url(model, "change", quote(own.pk)), url(model, "add")):
            response = client.get(page)
            if response.status_code != 200:
                continue
            forms = [response.context["adminform"].form]
            for inline in response.context["inline_admin_formsets"]:
                forms.extend([inline.formset.empty_form, *inline.formset.forms])
            for form in forms:
                for name, choice in form.fields.items():
                    if isinstance(choice, ModelChoiceField) and is_scoped(choice.queryset.model):
                        theirs = sides["other"].record(choice.queryset.model)
                        assert not choice.queryset.filter(pk=theirs.pk).exists(), (page, name, role)
            assert_no_secret(response, sides["other"], f"{page} as {role}")


@pytest.mark.parametrize("model", scoped_admins())
def test_actions_on_another_cohorts_record_change_nothing(world, model):
    sides, users = world
    model_admin = admin.site._registry[model]
    other = sides["other"].record(model)
    before = model.objects.filter(pk=other.pk).values().get()
    for role in ("coordinator", "clinical_lead"):
        client = client_for(users[role])
        for action in model_admin.actions or ():
            name = action if isinstance(action, str) else action.__name__
            client.post(
                url(model, "changelist"),
                {"action": name, "_selected_action": [other.pk], "confirmed": "yes"},
            )
    assert model.objects.filter(pk=other.pk).values().get() == before


@pytest.mark.parametrize("model", history_admins())
def test_history_is_read_only(world, model):
    sides, users = world
    own = sides["own"].record(model)
    before = model.objects.filter(pk=own.pk).values().get()
    version = model.history.filter(**{model._meta.pk.attname: own.pk}).earliest("history_date")
    page = url(model, "simple_history", quote(own.pk), version.history_id)
    for role in ROLES:
        client = client_for(users[role])
        with transaction.atomic():
            form = client.get(page)
        if form.status_code != 200:
            continue
        response = client.post(page, {"first_name": "Reverted", "cohort": sides["other"].cohort.pk})
        assert response.status_code == 403, (role, response.status_code)
    assert model.objects.filter(pk=own.pk).values().get() == before


def test_no_group_can_raise_itself(world):
    _, users = world
    member = users["admin"]
    client = client_for(member)
    page = reverse("admin:auth_user_change", args=[member.pk])

    client.post(page, {"username": member.username, "is_superuser": "on", "is_staff": "on"})
    token_page = client.get(reverse("admin:accounts_apitoken_changelist"))

    member.refresh_from_db()
    assert not member.is_superuser
    assert token_page.status_code == 403
    for codename in ("auth.change_user", "auth.add_user", "auth.change_group"):
        assert not member.has_perm(codename)
