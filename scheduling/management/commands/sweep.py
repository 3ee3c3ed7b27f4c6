from django.core.management.base import BaseCommand

from scheduling.sweep import sweep


class Command(BaseCommand):
    help = "Run the due-sweep now: queue every due reminder, then wake the dispatchers."

    def handle(self, *args, **options):
        counts = sweep()
        self.stdout.write(", ".join(f"{kind}: {count}" for kind, count in counts.items()))
