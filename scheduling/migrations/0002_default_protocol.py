"""Load the default protocol of DESIGN.md as the active version 1.

Later changes to the protocol are made as new versions (admin: "new draft",
then "activate"), never by editing this migration.
"""

from django.db import migrations


def load_default_protocol(apps, schema_editor):
    from scheduling.default_protocol import DEFAULT_PROTOCOL, PROTOCOL_NAME, PROTOCOL_VERSION

    Protocol = apps.get_model("scheduling", "Protocol")
    VisitRule = apps.get_model("scheduling", "ProtocolVisitRule")
    ReminderRule = apps.get_model("scheduling", "ProtocolReminderRule")
    if Protocol.objects.exists():
        return
    follow_up = {tier_protocol.follow_up_months for tier_protocol in DEFAULT_PROTOCOL.values()}
    protocol = Protocol.objects.create(
        name=PROTOCOL_NAME, version=1, status="active", follow_up_months=follow_up.pop(),
        notes=f"Default protocol {PROTOCOL_VERSION}: ASCO follow-up guideline (Khatcheressian "
        "et al., J Clin Oncol 2013;31:961); HER2-positive and triple-negative tiers at the "
        "3-month end of the range (van Maaren et al., Int J Cancer 2018).",
    )
    for tier, tier_protocol in DEFAULT_PROTOCOL.items():
        VisitRule.objects.bulk_create(
            VisitRule(protocol=protocol, tier=tier.value, kind=rule.kind.value,
                      start_month=rule.start_month, end_month=rule.end_month,
                      interval_months=rule.interval_months, window_days=rule.window_days)
            for rule in tier_protocol.visit_rules
        )
        ReminderRule.objects.bulk_create(
            ReminderRule(protocol=protocol, tier=tier.value, kind=rule.kind,
                         start_month=rule.start_month, end_month=rule.end_month,
                         frequency=rule.frequency.value, interval=rule.interval)
            for rule in tier_protocol.reminder_rules
        )


class Migration(migrations.Migration):
    dependencies = [("scheduling", "0001_initial")]

    operations = [migrations.RunPython(load_default_protocol, migrations.RunPython.noop)]
