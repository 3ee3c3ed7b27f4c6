"""The admin's permission matrix, generated from the admin registry.

Every model of ours registered in the admin is either scoped by cohort
(`cohorts.admin_scope.CohortScopedAdmin`) or named in GLOBAL below: a newly
registered model fails `test_every_admin_of_ours_is_scoped_or_known_global`
until someone decides. For every scoped admin, every staff role and a record
of their own cohort and of another:

- the changelist lists only the user's cohorts' rows, and its filters name
  no other cohort;
- the change, delete, history and history-version pages of another cohort's
  record answer exactly as for a record that does not exist (no existence
  oracle), and nothing of the other cohort is in any page;
- every foreign-key choice on a change form is among the user's own;
- actions on another cohort's record change nothing, and every action
  declares its permissions;
- history is read-only: posting a revert changes nothing.

Admins and superusers see every cohort; the checks about another cohort are
for coordinators and clinical leads.
"""

from dataclasses import dataclass

import pytest
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.db import transaction
from django.forms import ModelChoiceField
from django.test import Client
from django.urls import reverse
from simple_history.admin import SimpleHistoryAdmin

from accounts.models import ApiToken
from audit.models import AuditEvent
from cohorts.admin_scope import CohortScopedAdmin
from cohorts.models import Cohort, Patient
from scheduling.models import Protocol, ReminderSeries, SchedulerHeartbeat, Visit
from surveillance import lesions
from surveillance.models import Flag, Holiday, LesionReport
from tests.factories import ROUTINE_ANSWERS, CohortFactory, PatientFactory, UserFactory

pytestmark = [pytest.mark.django_db]

OUR_APPS = {"accounts", "audit", "cohorts", "notifications", "scheduling", "surveillance"}
# Registered models with no cohort: the same for every user who may see them at all.
GLOBAL = {Protocol, SchedulerHeartbeat, AuditEvent, ApiToken}
ROLES = ("coordinator", "clinical_lead", "admin", "superuser")
SEES_EVERY_COHORT = {"admin", "superuser"}
MISSING_PK = 987_654_321


def our_admins() -> dict:
    return {
        model: model_admin
        for model, model_admin in admin.site._registry.items()
        if model._meta.app_label in OUR_APPS
    }


def scoped_admins() -> list:
    return [
        pytest.param(model, id=model._meta.label)
        for model, model_admin in our_admins().items()
        if isinstance(model_admin, CohortScopedAdmin)
    ]


@dataclass
class Side:
    cohort: Cohort
    patient: Patient
    secrets: tuple[str, ...]

    def record(self, model):
        """This cohort's record of `model`."""
        finders = {
            Cohort: lambda: self.cohort,
            Patient: lambda: self.patient,
            Visit: lambda: self.patient.visits.order_by("pk").first(),
            ReminderSeries: lambda: self.patient.reminder_series.order_by("pk").first(),
            Flag: lambda: self.patient.flags.get(),
            LesionReport: lambda: self.patient.lesion_reports.get(),
            Holiday: lambda: Holiday.objects.get(site=self.cohort.site),
        }
        return finders[model]()


@pytest.fixture
def world():
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
        sides[key] = Side(cohort, patient, secrets)
    users = {
        "coordinator": UserFactory(username="adm_coord", role="coordinator", is_staff=True),
        "clinical_lead": UserFactory(username="adm_lead", role="clinical_lead", is_staff=True),
        "admin": UserFactory(username="adm_admin", role="admin", is_staff=True),
        "superuser": UserFactory(username="adm_root", is_superuser=True, is_staff=True),
    }
    sides["own"].cohort.coordinators.add(users["coordinator"])
    sides["own"].cohort.clinical_leads.add(users["clinical_lead"])
    return sides, users


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


def pages(model, model_admin, pk) -> list[str]:
    """Every page about one record, history pages included where the admin has them."""
    found = [url(model, page, quote(pk)) for page in ("change", "delete", "history")]
    if isinstance(model_admin, SimpleHistoryAdmin):
        version = model.history.filter(**{model._meta.pk.attname: pk}).first()
        history_id = version.history_id if version else MISSING_PK
        found.append(url(model, "simple_history", quote(pk), history_id))
    return found


def same_answer(theirs, nobodys) -> bool:
    return (theirs.status_code, theirs.headers.get("Location")) == (
        nobodys.status_code,
        nobodys.headers.get("Location"),
    )


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
        for model, model_admin in admin.site._registry.items()
        if model._meta.app_label in OUR_APPS
        for name, function in (
            (action if isinstance(action, str) else action.__name__, action)
            for action in model_admin.actions or ()
        )
        if not getattr(getattr(model_admin, name, function), "allowed_permissions", None)
    ]
    assert undeclared == []


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
            form = response.context["adminform"].form
            for name, field in form.fields.items():
                if isinstance(field, ModelChoiceField) and field.queryset.model in (
                    Cohort,
                    Patient,
                ):
                    theirs = sides["other"].record(field.queryset.model)
                    assert not field.queryset.filter(pk=theirs.pk).exists(), (page, name, role)
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


@pytest.mark.parametrize("model", [Patient, Flag])
def test_history_is_read_only(world, model):
    sides, users = world
    own = sides["own"].record(model)
    before = model.objects.filter(pk=own.pk).values().get()
    version = model.history.filter(id=own.pk).earliest("history_date")
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
