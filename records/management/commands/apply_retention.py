from django.core.management.base import BaseCommand

from records import retention

PART_WORDS = {
    retention.Part.IDENTITY: lambda n: "identity (name, MRN, date of birth, phone, report notes)",
    retention.Part.MESSAGES: lambda n: f"{n} message bod{'y' if n == 1 else 'ies'}",
    retention.Part.PHOTOS: lambda n: f"{n} photo{'' if n == 1 else 's'}",
}


class Command(BaseCommand):
    help = (
        "Erase what the retention periods (RETAIN_*_DAYS) say must go of withdrawn patients. "
        "--dry-run lists what would be erased, per patient, and changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="List what would be erased; change nothing."
        )

    def handle(self, *args, dry_run=False, **options):
        if dry_run:
            self._preview()
            return
        erased = retention.apply()
        for part, patients in erased.items():
            self.stdout.write(f"{retention.Part(part).label}: erased for {patients} patient(s)")

    def _preview(self):
        pending = retention.preview()
        held = 0
        for each in pending:
            what = ", ".join(PART_WORDS[part](n) for part, n in each.parts.items())
            if each.held_by:
                held += 1
                flags = ", ".join(f"#{pk}" for pk in each.held_by)
                what = f"held, nothing erased while flag {flags} is unresolved (due: {what})"
            self.stdout.write(f"patient {each.patient_id}: {what}")
        self.stdout.write(
            f"Dry run: {len(pending) - held} patient(s) would be erased, {held} held; "
            "nothing was changed."
        )
