"""API keys from the command line, for operators who script them (the admin makes them too)."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from access import services
from access.models import ApiKey


class Command(BaseCommand):
    help = "Create an API key (printed once: only its SHA-256 is kept), or revoke one."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="create a key acting as a user; prints the key once")
        create.add_argument("--user", required=True, help="the username the key acts as")
        create.add_argument("--name", required=True, help="who or what uses it, e.g. 'nightly import script'")
        create.add_argument(
            "--collection", action="append", default=[], metavar="SLUG", dest="collections",
            help="narrow the key to this collection (repeat for several); none: all the user may read",
        )
        revoke = actions.add_parser("revoke", help="revoke a key: clients using it get 401 from then on")
        revoke.add_argument("id", type=int, help="the key's id (shown when it was made, and in the admin)")

    def handle(self, *args, action, **options):
        if action == "create":
            self.create(username=options["user"], name=options["name"], slugs=options["collections"])
        else:
            self.revoke(options["id"])

    def create(self, *, username: str, name: str, slugs: list[str]) -> None:
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"there is no user {username!r}")
        if not name.strip() or len(name) > ApiKey._meta.get_field("name").max_length:
            raise CommandError("--name must be a label of 1 to 100 characters")
        # The related model, not an import: access imports no other app.
        collection_model = ApiKey._meta.get_field("collections").related_model
        collections = list(collection_model.objects.filter(slug__in=slugs))
        if missing := sorted(set(slugs) - {collection.slug for collection in collections}):
            raise CommandError(f"no collection named {', '.join(map(repr, missing))}")
        with transaction.atomic():
            api_key, key = services.api_key_create(user=user, name=name.strip())
            api_key.collections.set(collections)
        narrowed = f", narrowed to {', '.join(sorted(slugs))}" if slugs else ""
        self.stderr.write(f"API key {api_key.pk} ({api_key.name}) for {user.username}{narrowed}. Shown this once:")
        self.stdout.write(key)

    def revoke(self, key_id: int) -> None:
        api_key = ApiKey.objects.filter(pk=key_id).first()
        if api_key is None:
            raise CommandError(f"there is no API key {key_id}")
        if api_key.revoked_at is not None:
            self.stdout.write(f"API key {key_id} ({api_key.name}) was already revoked at {api_key.revoked_at:%Y-%m-%d %H:%M} UTC")
            return
        services.api_key_revoke(api_key=api_key)
        self.stdout.write(f"API key {key_id} ({api_key.name}) revoked: clients using it get 401 from now on")
