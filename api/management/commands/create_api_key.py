from django.core.management.base import BaseCommand, CommandError

from api.keys import ApiKeyError, api_key_create


class Command(BaseCommand):
    help = (
        "Create an API key: a secret key (sk_…, full access), or with --read-only a restricted key (rk_…) that "
        "can only read. The key is printed once, alone on the last line of the output (for scripts and CI: "
        "`manage.py create_api_key --name CI | tail -n 1`); Relance keeps only its hash."
    )

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="what uses the key, for example “Signup flow”")
        parser.add_argument("--read-only", action="store_true", help="a restricted key (rk_…): reads only")

    def handle(self, *args, name: str, read_only: bool, **options):
        try:
            new = api_key_create(name=name, read_only=read_only)
        except ApiKeyError as error:
            raise CommandError(str(error)) from error
        api_key = new.api_key
        self.stdout.write(
            f"Created {api_key.get_kind_display().lower()} key “{api_key.name}” ({api_key.public_id}). "
            "Copy it now: it is not shown again."
        )
        self.stdout.write(new.secret)
