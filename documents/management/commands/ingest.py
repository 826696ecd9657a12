"""Bulk-load documents (PDF, Word, HTML, Markdown, text) in this process: no worker or broker needed."""

import logging
import sys
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from documents.models import GENERAL, Collection, Document, general_collection_id
from documents.search.services import index_rebuild_request
from documents.ingest import document_ingest
from documents.services import DuplicateDocument, document_create

logger = logging.getLogger(__name__)


# What a folder's files are taken by (a file named on the command line is taken whatever its name:
# its content tells its format).
DOCUMENT_SUFFIXES = {".pdf", ".docx", ".html", ".htm", ".xhtml", ".md", ".markdown", ".txt", ".text", ".rst"}


def document_paths(paths: list[str]) -> list[Path]:
    found = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in DOCUMENT_SUFFIXES))
        elif path.is_file():
            found.append(path)
        else:
            raise CommandError(f"{raw}: no such file or folder")
    return found


class Command(BaseCommand):
    help = (
        "Ingest documents (or every PDF, Word, HTML, Markdown and text file under the given folders) and bring the "
        "search index up to date."
    )

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", help="documents, or folders holding them")
        parser.add_argument(
            "--collection", default=GENERAL, metavar="SLUG", help=f"the collection the documents go to (default {GENERAL})"
        )
        parser.add_argument(
            "--create", action="store_true",
            help="create the collection when there is none of that slug (readable by superusers only until it is given "
            "groups or another visibility in the admin)",
        )
        parser.add_argument("--reingest", action="store_true", help="process files already in the corpus again")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")
        parser.add_argument(
            "--strict", action="store_true",
            help="exit non-zero when any file failed or was refused, not only when something broke",
        )

    def handle(self, *args, paths, reingest, no_progress, strict, collection, create, **options):
        files = document_paths(paths)
        if not files:
            raise CommandError("no documents (PDF, Word, HTML, Markdown, text) found in " + ", ".join(paths))
        self.collection = self.collection_named(collection, create=create)
        show_progress = not no_progress and sys.stderr.isatty()
        rows = []
        self.unexpected = []  # files that failed on a bug rather than on what is in them
        index_error = ""
        try:
            for path in files:
                rows.append(self.ingest_one(path, reingest=reingest, show_progress=show_progress))
            self.stdout.write("Bringing the search index up to date...")
            try:
                index_rebuild_request(in_process=True)
            except Exception as exc:  # the summary below must still say what happened to every file
                index_error = str(exc) or exc.__class__.__name__
        finally:
            # Interrupted or not, say what became of each file handled so far.
            self.print_table(self.with_search_state(rows))
        failed = [row for row in rows if row[2] in (Document.Status.FAILED, "refused", "error")]
        self.stdout.write(
            f"{len(rows)} file(s) handled: {len(rows) - len(failed)} ready or already present, {len(failed)} failed."
        )
        if index_error:
            self.stderr.write(
                f"The search index could not be brought up to date: {index_error}. The previous index still "
                "answers; the documents above marked 'no' are not searchable until a rebuild succeeds."
            )
        # A file refused for a reason the table gives is handled; a rebuild that failed or an
        # unexpected error is something that really failed.
        if index_error or self.unexpected or (strict and failed):
            problems = [f"{len(self.unexpected)} file(s) hit an unexpected error"] if self.unexpected else []
            problems += ["the search index is not up to date"] if index_error else []
            problems += [f"{len(failed)} file(s) failed (--strict)"] if strict and failed and not problems else []
            raise CommandError("; ".join(problems), returncode=1)

    def collection_named(self, slug: str, *, create: bool) -> Collection:
        """The collection of that slug; made (readable by superusers only) with --create, else a
        CommandError that says how to make one."""
        if slug == GENERAL:
            return Collection.objects.get(pk=general_collection_id())
        collection = Collection.objects.filter(slug=slug).first()
        if collection is not None:
            return collection
        if not create:
            raise CommandError(f"there is no collection {slug!r}: create it in the admin, or pass --create")
        try:
            validate_slug(slug)
        except ValidationError as exc:
            raise CommandError(f"--collection {slug!r}: {' '.join(exc.messages)}") from None
        collection = Collection.objects.create(slug=slug, name=slug, visibility=Collection.Visibility.GROUPS)
        self.stdout.write(
            f"Created the collection {slug!r}: only superusers read it until you give it groups or another "
            "visibility in the admin."
        )
        return collection

    def with_search_state(self, rows):
        """Each row with whether a question can find its document now."""
        searchable = dict(
            Document.objects.filter(pk__in=[row[1] for row in rows if row[1]]).values_list("pk", "indexed_generation")
        )
        generations = dict(
            Document.objects.filter(pk__in=[row[1] for row in rows if row[1]]).values_list("pk", "generation")
        )
        out = []
        for row in rows:
            document_id = row[1]
            if document_id in generations and generations[document_id]:
                found = "yes" if searchable.get(document_id) == generations[document_id] else "no"
            else:
                found = "-"
            out.append((*row[:5], found, row[5]))
        return out

    def ingest_one(self, path: Path, *, reingest: bool, show_progress: bool):
        try:
            with path.open("rb") as handle:
                document = document_create(file=handle, filename=path.name, enqueue=False, collection=self.collection)
        except DuplicateDocument as exc:
            document = exc.existing
            if not reingest:
                return (str(path), document.pk, document.status, document.page_count, document.chunk_count,
                        f"already in the corpus as document {document.pk}")
        except ValidationError as exc:
            return (str(path), None, "refused", None, None, " ".join(exc.messages))
        except OSError as exc:
            return (str(path), None, "refused", None, None, f"cannot be read: {exc}")
        except Exception as exc:
            return (str(path), None, "error", None, None, self.unexpected_error(path, exc))

        bar = tqdm(desc=path.name[:40], unit="page", disable=not show_progress, leave=False)

        def progress(done, total):
            bar.total = total
            bar.n = done
            bar.refresh()

        try:
            outcome = document_ingest(document_id=document.pk, force=reingest, rebuild_index=False, progress=progress)
        except Exception as exc:
            return (str(path), document.pk, "error", document.page_count, None, self.unexpected_error(path, exc))
        finally:
            bar.close()
        if outcome.unexpected:
            self.unexpected.append(str(path))
        if outcome.status == "deleted":  # by staff, while this command ingested it
            return (str(path), None, outcome.status, None, None, outcome.detail)
        document.refresh_from_db()
        return (str(path), document.pk, document.status, document.page_count, document.chunk_count,
                document.error or outcome.detail)

    def unexpected_error(self, path: Path, exc: Exception) -> str:
        """A file that met a bug rather than a problem of its own: logged with its traceback, the
        reason for the table, and the command will exit non-zero once every file is handled."""
        logger.exception("%s: unexpected error", path)
        self.unexpected.append(str(path))
        return f"unexpected error ({exc.__class__.__name__}: {exc})"

    def print_table(self, rows):
        headers = ("file", "id", "status", "pages", "chunks", "search", "reason")
        cells = [[("" if value is None else str(value)) for value in row] for row in rows]
        for row in cells:  # long paths keep their end, where the file name is
            row[0] = row[0] if len(row[0]) <= 60 else "..." + row[0][-57:]
        widths = [min(60, max(len(headers[i]), *(len(row[i]) for row in cells), 0)) for i in range(6)]
        line = "  ".join(h.ljust(w) for h, w in zip(headers, widths)) + "  " + headers[6]
        self.stdout.write(line)
        self.stdout.write("-" * len(line))
        for row in cells:
            self.stdout.write("  ".join(c[:w].ljust(w) for c, w in zip(row, widths)) + "  " + row[6])
