import time

from django.conf import settings
from django.core.management.base import BaseCommand

from documents.search.backends import search_backend


class Command(BaseCommand):
    help = (
        "Fill the search backend that settings.RAGSITE_SEARCH_BACKEND names with every current chunk "
        "(after switching backends): for the PostgreSQL backend, create the pgvector extension, its table "
        "and indexes where missing and add what is not there yet; for the embedded index, rebuild it. "
        "Safe to run again."
    )

    def handle(self, *args, **options):
        started = time.monotonic()
        count = search_backend().fill(progress=self.stdout.write)
        self.stdout.write(
            self.style.SUCCESS(
                f"{settings.RAGSITE_SEARCH_BACKEND['BACKEND']}: {count} chunks searchable "
                f"({time.monotonic() - started:.1f} s)"
            )
        )
