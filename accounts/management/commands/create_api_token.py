"""Issue an API token for a user and a device, and print it (it is shown only this once)."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts import tokens
from audit.trail import system_request


class Command(BaseCommand):
    help = "Issue an API token for USERNAME on --device (replacing that device's) and print it."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--device", default="command line", help="What the token is for.")

    def handle(self, *args, username, device, **options):
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"No active user {username!r}.")
        token, raw = tokens.issue(system_request(user, "manage.py create_api_token"), user, device)
        self.stdout.write(raw)
        self.stderr.write(f"Expires {token.expiry:%Y-%m-%d %H:%M %Z}. It is not shown again.")
