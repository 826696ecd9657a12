"""Bulk-load PDFs in this process: no worker or broker needed."""

import sys
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from documents import search
from documents.models import Document
from documents.services import DuplicateDocument, document_create, document_ingest


def pdf_paths(paths: list[str]) -> list[Path]:
    found = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() == ".pdf"))
        elif path.is_file():
            found.append(path)
        else:
            raise CommandError(f"{raw}: no such file or folder")
    return found


class Command(BaseCommand):
    help = "Ingest PDF files (or every PDF under the given folders) and bring the search index up to date."

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", help="PDF files or folders holding PDFs")
        parser.add_argument("--reingest", action="store_true", help="process files already in the corpus again")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, paths, reingest, no_progress, **options):
        files = pdf_paths(paths)
        if not files:
            raise CommandError("no PDF files found in " + ", ".join(paths))
        show_progress = not no_progress and sys.stderr.isatty()
        rows = []
        for path in files:
            rows.append(self.ingest_one(path, reingest=reingest, show_progress=show_progress))
        self.stdout.write("Bringing the search index up to date...")
        search.index_rebuild_request(in_process=True)
        self.print_table(rows)
        failed = sum(1 for row in rows if row[2] == Document.Status.FAILED)
        self.stdout.write(f"{len(rows)} file(s) handled: {len(rows) - failed} ready or already present, {failed} failed.")

    def ingest_one(self, path: Path, *, reingest: bool, show_progress: bool):
        try:
            with path.open("rb") as handle:
                document = document_create(file=handle, filename=path.name, enqueue=False)
        except DuplicateDocument as exc:
            document = exc.existing
            if not reingest:
                return (str(path), document.pk, document.status, document.page_count, document.chunk_count,
                        f"already in the corpus as document {document.pk}")
        except ValidationError as exc:
            return (str(path), None, "refused", None, None, " ".join(exc.messages))

        bar = tqdm(desc=path.name[:40], unit="page", disable=not show_progress, leave=False)

        def progress(done, total):
            bar.total = total
            bar.n = done
            bar.refresh()

        outcome = document_ingest(document_id=document.pk, force=reingest, rebuild_index=False, progress=progress)
        bar.close()
        document.refresh_from_db()
        return (str(path), document.pk, document.status, document.page_count, document.chunk_count,
                document.error or outcome.detail)

    def print_table(self, rows):
        headers = ("file", "id", "status", "pages", "chunks", "reason")
        cells = [[("" if value is None else str(value)) for value in row] for row in rows]
        for row in cells:  # long paths keep their end, where the file name is
            row[0] = row[0] if len(row[0]) <= 60 else "..." + row[0][-57:]
        widths = [min(60, max(len(headers[i]), *(len(row[i]) for row in cells))) for i in range(5)]
        line = "  ".join(h.ljust(w) for h, w in zip(headers, widths)) + "  " + headers[5]
        self.stdout.write(line)
        self.stdout.write("-" * len(line))
        for row in cells:
            self.stdout.write("  ".join(c[:w].ljust(w) for c, w in zip(row, widths)) + "  " + row[5])
