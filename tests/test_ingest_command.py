import io

import pytest
from django.core.management import CommandError, call_command

from documents.models import Document
from tests import pdfs

pytestmark = pytest.mark.django_db


def test_ingest_folder_reports_every_file_and_fails_bad_ones_with_a_reason(tmp_path):
    folder = tmp_path / "pdfs"
    (folder / "sub").mkdir(parents=True)
    (folder / "guide.pdf").write_bytes(pdfs.text_pdf(["The warranty lasts two years. Keep the receipt."]))
    (folder / "sub" / "scan.pdf").write_bytes(pdfs.scanned_pdf(1))
    (folder / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n")  # no document's name: skipped (a .txt is read)
    out = io.StringIO()

    call_command("ingest", str(folder), "--no-progress", stdout=out)

    text = out.getvalue()
    assert Document.objects.get(original_filename="guide.pdf").status == "ready"
    scan = Document.objects.get(original_filename="scan.pdf")
    assert scan.status == "failed"
    assert "scan.pdf" in text and "OCR found no text" in text and "guide.pdf" in text
    assert "2 file(s) handled: 1 ready or already present, 1 failed." in text
    assert Document.objects.count() == 2

    # Running it again finds the same files already there and duplicates nothing.
    out = io.StringIO()
    call_command("ingest", str(folder / "guide.pdf"), "--no-progress", stdout=out)
    assert "already in the corpus" in out.getvalue()
    assert Document.objects.count() == 2


def test_a_missing_path_is_an_error():
    with pytest.raises(CommandError, match="no such file"):
        call_command("ingest", "/nonexistent/file.pdf")
