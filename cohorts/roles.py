"""The three roles and the model permissions each one holds.

A role is a Django group. What a member may *see* is decided by cohort
membership (surveillance.access); what they may *do* in the admin is decided
here. The groups are brought in line after every `migrate`.
"""

from django.apps import apps
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission

COORDINATOR, CLINICAL_LEAD, ADMIN = "coordinator", "clinical_lead", "admin"

_COORDINATOR_PERMISSIONS = [
    "cohorts.view_cohort",
    "cohorts.view_patient",
    "cohorts.add_patient",
    "cohorts.change_patient",
    "cohorts.view_tumourprofile",
    "cohorts.add_tumourprofile",
    "cohorts.change_tumourprofile",
    "cohorts.view_riskassessment",
    "scheduling.view_visit",
    "scheduling.change_visit",
    "scheduling.view_reminderseries",
    "surveillance.view_flag",
    "surveillance.view_lesionreport",
    "surveillance.view_holiday",
    "scheduling.view_protocol",
    "scheduling.view_protocolvisitrule",
    "scheduling.view_protocolreminderrule",
]
# Clinical leads also own the protocol: drafting and activating new versions.
_CLINICAL_LEAD_PERMISSIONS = _COORDINATOR_PERMISSIONS + [
    f"scheduling.{verb}_{model}"
    for model in ("protocol", "protocolvisitrule", "protocolreminderrule")
    for verb in ("add", "change", "delete")
]
_ADMIN_EXTRA = [
    "surveillance.add_holiday",
    "surveillance.change_holiday",
    "surveillance.delete_holiday",
    "audit.view_auditevent",
    "cohorts.add_cohort",
    "cohorts.change_cohort",
    # Users, groups and tokens are seen, never managed: only superusers manage them, so no
    # group can raise itself (make itself superuser, or mint a token for someone else).
    "auth.view_user",
    "auth.view_group",
]
ROLE_PERMISSIONS = {
    COORDINATOR: _COORDINATOR_PERMISSIONS,
    CLINICAL_LEAD: _CLINICAL_LEAD_PERMISSIONS,
    ADMIN: _CLINICAL_LEAD_PERMISSIONS + _ADMIN_EXTRA,
}


def _permissions(codes: list[str]) -> list[Permission]:
    wanted = {tuple(code.split(".")) for code in codes}
    found = [
        permission
        for permission in Permission.objects.select_related("content_type")
        if (permission.content_type.app_label, permission.codename) in wanted
    ]
    missing = wanted - {(p.content_type.app_label, p.codename) for p in found}
    if missing:
        raise LookupError(f"Unknown permissions for roles: {sorted(missing)}")
    return found


def sync_roles(**kwargs) -> None:
    """Create the role groups and set exactly their permissions (idempotent).

    Runs after surveillance's migrations, possibly before later apps have
    their permissions: create them all first.
    """
    for app_config in apps.get_app_configs():
        create_permissions(app_config, verbosity=0)
    for role, codes in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set(_permissions(codes))
