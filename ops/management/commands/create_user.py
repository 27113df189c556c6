import argparse
import getpass
import sys

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from ops.users import ROLES, PasswordNeeded, UserError, user_set_role

ARTICLE = {"editor": "an editor", "viewer": "a viewer"}


class Command(BaseCommand):
    help = (
        "Create a dashboard user with a role (editor or viewer), or give an existing user that role "
        "(the other role is taken away). A new user's password is asked for at the prompt, or read "
        "from stdin with --password-stdin (never from the command line, which `ps` shows); an existing "
        "user's password changes only with --password-stdin."
    )
    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=list(ROLES), help="editor: changes things; viewer: looks")
        parser.add_argument("--email", help="the user's email address (for a new user, or to change it)")
        parser.add_argument("--password-stdin", action="store_true", help="read the password from stdin's first line")
        parser.add_argument("--existing", action="store_true", help="only change an existing user, never create one")
        parser.add_argument("--password", help=argparse.SUPPRESS)  # refused below, with the reason

    def handle(self, *args, username: str, role: str, email, password_stdin: bool, existing: bool, **options):
        if options.get("password") is not None:
            raise CommandError(
                "--password is not accepted: a command line is visible to every user of the machine (ps). "
                "Type the password at the prompt or pipe it with --password-stdin."
            )
        stdin = options.get("stdin") or sys.stdin
        if password_stdin:
            password = stdin.readline().rstrip("\r\n")
            if not password:
                raise CommandError("The password read from stdin is empty.")
        elif not existing and not User.objects.filter(username=username).exists() and stdin.isatty():
            password = self._prompt()
        else:
            password = None
        try:
            change = user_set_role(username=username, role=role, email=email, password=password, create=not existing)
        except PasswordNeeded as error:
            raise CommandError(
                f"{error} Type it at the prompt (in a terminal) or pipe it with --password-stdin."
            ) from error
        except UserError as error:
            raise CommandError(str(error)) from error
        except ValidationError as error:
            raise CommandError("Refused: " + " ".join(error.messages)) from error
        if change.created:
            self.stdout.write(f"Created {username}, {ARTICLE[role]}.")
        elif change.before == role:
            self.stdout.write(f"{username} is already {ARTICLE[role]}.")
        else:
            was = f" (was {ARTICLE[change.before]})" if change.before else ""
            self.stdout.write(f"{username} is now {ARTICLE[role]}{was}.")

    def _prompt(self) -> str:
        password = getpass.getpass("Password: ")
        if not password:
            raise CommandError("The password is empty.")
        if getpass.getpass("Password (again): ") != password:
            raise CommandError("The two passwords differ.")
        return password
