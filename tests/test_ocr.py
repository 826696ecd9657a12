"""OCR of pages without a usable text layer: generated scans (drawn with Pillow, turned, skewed,
blurred, shrunk, wrapped in a PDF) read back with their words, and ingest keeping text layers,
marking OCR'd chunks, listing pages OCR gave up on and noting its progress."""

import re
import shutil
import subprocess
import sys
import time

import pypdfium2 as pdfium
import pytest
from PIL import Image

from documents.models import Chunk, Document
from documents.ocr import OcrBackend, OcrResult, get_ocr
from documents.ocr.child import page_render
from documents.ocr.rapid import RapidOcrBackend
from documents.ocr.tesseract import TesseractBackend
from documents.ingest import document_ingest
from documents.services import document_create
from querying.prompts import Passage
from querying.sources import source_payload
from tests import pdfs

LINES = ["The warranty lasts thirty months", "Replace the filter every spring", "Call service before opening the case"]
WORDS = {"warranty", "thirty", "months", "replace", "filter", "spring", "service", "opening"}
FRENCH = ["Portez ce vieux whisky au juge blond", "L'île intérieure était très éloignée", "Noël reçut sa clé à Orléans"]
ACCENTED = {"île", "intérieure", "était", "très", "éloignée", "noël", "reçut", "clé", "orléans"}

needs_tesseract = pytest.mark.skipif(
    shutil.which("tesseract") is None, reason="Debian's tesseract-ocr is not installed (make test installs it)"
)


def words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def write(tmp_path, data: bytes, name="scan.pdf"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.fixture(scope="module")
def rapid():
    backend = RapidOcrBackend(dpi=150, page_seconds=120)
    yield backend
    backend.close()


SCANS = {
    "upright": dict(),
    "turned-90": dict(rotate=90),
    "turned-180": dict(rotate=180),
    "turned-270": dict(rotate=270),
    "skewed-4-degrees": dict(rotate=4),
    "blurred": dict(blur=1.2),
}


@pytest.mark.parametrize("how", SCANS)
def test_rapidocr_reads_a_generated_scan_upright_and_in_order(rapid, tmp_path, how):
    path = write(tmp_path, pdfs.image_pdf([pdfs.scan_image(LINES, **SCANS[how])]))
    result = rapid.page_recognise(path, 1)
    assert not result.error
    assert len(WORDS & words(result.text)) >= len(WORDS) - 1, result.text
    text = result.text.lower()
    assert text.find("warranty") < text.find("filter") < text.find("service"), result.text  # lines in reading order


def test_a_72_dpi_scan_gives_usable_text(rapid, tmp_path):
    # Drawn at 150 dpi, shrunk to 72 dpi (letters about 14 pixels high), then rendered at 150 dpi.
    image = pdfs.scan_image(LINES, downscale=150 / 72)
    path = write(tmp_path, pdfs.image_pdf([image], dpi=72))
    result = rapid.page_recognise(path, 1)
    assert len(WORDS & words(result.text)) >= len(WORDS) - 2, result.text


def test_pages_that_are_not_scans_are_not_recognised(rapid, tmp_path):
    # Blank, vector drawings only, and a short text layer over no image: nothing for OCR.
    path = write(tmp_path, pdfs.mixed_pdf([("blank", None), ("text", "Short.")]), "blank.pdf")
    assert rapid.page_recognise(path, 1).not_scanned
    assert rapid.page_recognise(path, 2, text_layer="Short.").not_scanned
    drawings = write(tmp_path, pdfs.scanned_pdf(1), "drawings.pdf")
    assert rapid.page_recognise(drawings, 1).not_scanned


def test_a_blank_scan_gives_no_text(rapid, tmp_path):
    path = write(tmp_path, pdfs.image_pdf([Image.new("L", (1200, 1600), 250)]))
    result = rapid.page_recognise(path, 1)
    assert result.text == "" and not result.error and not result.not_scanned


def test_a_9000_by_9000_page_is_rendered_within_the_pixel_bound(tmp_path):
    image = Image.new("L", (9000, 9000), 255)
    image.paste(pdfs.scan_image(LINES, size=120, width=4000), (500, 500))
    path = write(tmp_path, pdfs.image_pdf([image], dpi=300))
    page = pdfium.PdfDocument(str(path))[0]
    rendered = page_render(page, dpi=200, max_pixels=4_000_000)
    assert rendered.width * rendered.height <= 4_000_000
    assert rendered.width >= 1990  # as large as the bound allows, not smaller


@needs_tesseract
@pytest.mark.parametrize("rotate", [0, 90, 270])
def test_tesseract_keeps_french_accents_upright_or_turned(tmp_path, rotate):
    backend = TesseractBackend(languages="fra", dpi=150)
    try:
        path = write(tmp_path, pdfs.image_pdf([pdfs.scan_image(FRENCH, rotate=rotate)]))
        result = backend.page_recognise(path, 1)
    finally:
        backend.close()
    assert len(ACCENTED & words(result.text)) >= len(ACCENTED) - 1, result.text


@needs_tesseract
def test_tesseract_straightens_a_skewed_scan(tmp_path):
    backend = TesseractBackend(languages="eng", dpi=150)
    try:
        path = write(tmp_path, pdfs.image_pdf([pdfs.scan_image(LINES, rotate=5)]))
        result = backend.page_recognise(path, 1)
    finally:
        backend.close()
    assert len(WORDS & words(result.text)) >= len(WORDS) - 1, result.text


def test_a_page_over_the_time_limit_is_given_up_and_the_next_page_is_read(tmp_path):
    path = write(tmp_path, pdfs.image_pdf([pdfs.scan_image(["one"]), pdfs.scan_image(["two"])]))
    from tests.ocr_backends import SleepyOcr

    backend = SleepyOcr(sleep=30, page_seconds=3, start_seconds=60)
    try:
        began = time.monotonic()
        result = backend.page_recognise(path, 1)
        assert time.monotonic() - began < 10
        assert "gave up on it after 3 s" in result.error and "settings.RAGSITE_OCR page_seconds" in result.error
        backend.sleep = 0  # the next child is built with the new option
        backend.options["sleep"] = 0
        assert backend.page_recognise(path, 2).text == "slept"
    finally:
        backend.close()


def test_a_child_that_dies_on_a_page_costs_only_that_page(tmp_path):
    from tests.ocr_backends import CrashingOcr

    path = write(tmp_path, pdfs.image_pdf([pdfs.scan_image([word]) for word in ("one", "two", "three")]))
    backend = CrashingOcr(crash_on=2, dpi=72)
    try:
        results = [backend.page_recognise(path, n) for n in (1, 2, 3)]
    finally:
        backend.close()
    assert results[0].text.startswith("page image") and results[2].text.startswith("page image")
    assert "the OCR process stopped on it" in results[1].error


# --- ingest ---
def upload(data: bytes, name="mixed.pdf") -> Document:
    import io

    return document_create(file=io.BytesIO(data), filename=name, enqueue=False)


TEXT_PAGE = "The installation guide covers mounting brackets. Tighten every bolt to twelve newton metres."


@pytest.mark.django_db
def test_a_mixed_document_keeps_its_text_layer_and_reads_only_its_scanned_page(settings):
    settings.RAGSITE_OCR = {"BACKEND": "documents.ocr.rapid.RapidOcrBackend", "OPTIONS": {"dpi": 150}}
    document = upload(pdfs.mixed_pdf([("text", TEXT_PAGE), ("scan", pdfs.scan_image(LINES)), ("blank", None)]))
    outcome = document_ingest(document_id=document.pk, rebuild_index=False)
    document.refresh_from_db()
    assert outcome.status == "ready", document.error
    assert document.ocr_pages == [2] and document.empty_pages == [3] and document.failed_pages == []
    assert document.progress_note == ""
    chunks = {chunk.page: chunk for chunk in Chunk.objects.filter(document=document)}
    assert set(chunks) == {1, 2}
    assert chunks[1].ocr is False and "twelve newton metres" in chunks[1].text
    assert chunks[2].ocr is True and len(WORDS & words(chunks[2].text)) >= len(WORDS) - 1


class _FailingOcr(OcrBackend):
    """Gives up on every page, as a page over the time limit would."""

    def page_recognise(self, path, page_number, *, text_layer=""):
        return OcrResult(error="OCR gave up on it after 1 s (settings.RAGSITE_OCR page_seconds option)")


@pytest.mark.django_db
def test_a_page_ocr_gives_up_on_is_listed_with_its_reason_and_the_rest_is_kept(settings):
    settings.RAGSITE_OCR = {"BACKEND": "tests.test_ocr._FailingOcr"}
    document = upload(pdfs.mixed_pdf([("text", TEXT_PAGE), ("scan", pdfs.scan_image(LINES))]))
    document_ingest(document_id=document.pk, rebuild_index=False)
    document.refresh_from_db()
    assert document.status == "ready" and document.failed_pages == [2]
    assert "page 2: OCR gave up on it after 1 s" in document.error


class _NoteReadingOcr(OcrBackend):
    """Records the document's progress note as each page is recognised (from another connection)."""

    seen: list = []

    def page_recognise(self, path, page_number, *, text_layer=""):
        type(self).seen.append(Document.objects.values_list("progress_note", flat=True).get())
        return OcrResult(text=f"recognised words of page {page_number}")


@pytest.mark.django_db(transaction=True)
def test_progress_notes_the_page_being_recognised_and_clears_at_the_end(settings):
    settings.RAGSITE_OCR = {"BACKEND": "tests.test_ocr._NoteReadingOcr"}
    _NoteReadingOcr.seen = []
    document = upload(pdfs.mixed_pdf([("text", TEXT_PAGE), ("scan", pdfs.scan_image(["x"])), ("scan", pdfs.scan_image(["y"]))]))
    document_ingest(document_id=document.pk, rebuild_index=False)
    document.refresh_from_db()
    assert _NoteReadingOcr.seen == ["OCR: page 2 of 3", "OCR: page 3 of 3"]
    assert document.status == "ready" and document.progress_note == "" and document.ocr_pages == [2, 3]


@pytest.mark.django_db
def test_with_ocr_disabled_a_scan_fails_as_needing_ocr(settings):
    settings.RAGSITE_OCR = {"BACKEND": "documents.ocr.DisabledOcr"}
    document = upload(pdfs.image_pdf([pdfs.scan_image(LINES)]), name="scan.pdf")
    document_ingest(document_id=document.pk, rebuild_index=False)
    document.refresh_from_db()
    assert document.status == "failed" and "no extractable text (scanned PDF, needs OCR)" in document.error


def test_sources_say_whether_their_text_came_from_ocr():
    passage = Passage(number=1, chunk_id=1, document_id=1, title="t", page=2, text="warranty", score=1.0, ocr=True)
    assert source_payload(passage, {"warranty"})["ocr"] is True


def test_naming_languages_picks_tesseract_and_the_default_is_rapidocr(settings):
    def ocr_setting(**env):
        code = "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='ragsite.settings'; django.setup(); " \
               "from django.conf import settings; print(settings.RAGSITE_OCR)"
        clean = {k: v for k, v in __import__("os").environ.items() if not k.startswith("RAGSITE_OCR")}
        return subprocess.run([sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True,
                              check=True).stdout

    assert "RapidOcrBackend" in ocr_setting()
    named = ocr_setting(RAGSITE_OCR_LANGUAGES="fra+eng")
    assert "TesseractBackend" in named and "'languages': 'fra+eng'" in named
    assert "DisabledOcr" in ocr_setting(RAGSITE_OCR="disabled")
    assert get_ocr().name == "rapidocr"


def test_a_two_column_page_is_read_column_by_column():
    import numpy as np

    from documents.ocr.rapid import reading_order

    def line(x0, x1, y, text):
        return np.array([[x0, y], [x1, y], [x1, y + 20], [x0, y + 20]], dtype=float), text

    lines = [
        line(0, 1000, 0, "Title across the page"),
        line(0, 480, 40, "left one"), line(520, 1000, 42, "right one"),
        line(0, 480, 80, "left two"), line(520, 1000, 78, "right two"),
        line(0, 1000, 120, "Footer across the page"),
        line(0, 300, 160, "short line"), line(0, 900, 200, "single column line"),
    ]
    assert reading_order(lines) == [
        "Title across the page", "left one", "left two", "right one", "right two",
        "Footer across the page", "short line", "single column line",
    ]


def test_words_rapidocr_ran_together_are_split_and_names_kept():
    from documents.ocr.rapid import WordSplitter

    splitter = WordSplitter.from_minilm_vocabulary()
    assert splitter.split_line("Thewarrantylasts thirtymonths") == "The warranty lasts thirty months"
    assert splitter.split_line("Replacethefilterevery spring") == "Replace the filter every spring"
    # Words and names are left whole: a known word, a word and an ending, a name of rare pieces.
    assert splitter.split_line("warranty synchronization Carcharoth Pgallert") == "warranty synchronization Carcharoth Pgallert"


@pytest.mark.django_db
def test_the_admin_and_the_api_show_the_ocr_progress_and_pages(staff_client):
    document = upload(pdfs.text_pdf(["x"]), name="scan.pdf")
    Document.objects.filter(pk=document.pk).update(
        status="processing", page_count=40, pages_done=2, progress_note="OCR: page 3 of 40", ocr_pages=[1, 2]
    )
    assert "OCR: page 3 of 40" in staff_client.get("/admin/documents/document/").content.decode()
    row = staff_client.get(f"/api/documents/{document.pk}/").json()
    assert row["progress_note"] == "OCR: page 3 of 40" and row["ocr_pages"] == [1, 2]
