"""Ingest throughput: extraction pages/s, whole-pipeline chunks/s, and raw model.encode chunks/s
on the same chunks in the same run, with peak memory.

    .venv/bin/python bench/ingest.py [--docs 3] [--pages 100] [--rounds 2]
    .venv/bin/python bench/ingest.py --pdf ~/.cache/ragsite-corpus/octave-manual.pdf --repeat 2 --rounds 1

Generated PDFs by default; --pdf measures real files instead (--repeat N makes one file of each
repeated N times, e.g. the 1,158-page Octave manual twice for a 2,316-page one).

Runs against a throw-away SQLite database and media folder under a temporary directory.
"""

import argparse
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WORDS = (
    "pump valve pressure sensor calibration firmware bearing torque voltage current relay circuit "
    "controller display battery charger module interface protocol network address configuration "
    "temperature humidity reading sample interval threshold alarm warning maintenance inspection "
    "filter cartridge seal gasket housing bracket mounting screw cable connector terminal fuse "
    "operator technician warranty service manual procedure step check replace adjust tighten "
    "clean measure record report schedule quarterly annual daily safety hazard lockout isolation"
).split()


def sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(8, 22))]
    if rng.random() < 0.3:
        words.insert(rng.randint(0, len(words)), f"{rng.randint(1, 999)}.{rng.randint(0, 9)} {rng.choice(['mm', 'kPa', 'V', 'A', 'Nm'])}")
    return " ".join(words).capitalize() + "."


def make_pdf(path: Path, pages: int, rng: random.Random) -> None:
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(True, margin=15)
    pdf.set_font("helvetica", size=10)
    for number in range(pages):
        pdf.add_page()
        pdf.multi_cell(0, 5, f"Section {number + 1}", new_x="LMARGIN", new_y="NEXT")
        for _ in range(rng.randint(3, 5)):
            pdf.multi_cell(0, 5, " ".join(sentence(rng) for _ in range(rng.randint(3, 6))))
            pdf.ln(2)
    pdf.output(str(path))


def repeated(path: Path, times: int, workdir: Path) -> Path:
    """The PDF itself, or a copy with its pages repeated `times` over."""
    if times <= 1:
        return path
    from pypdf import PdfReader, PdfWriter

    reader, writer = PdfReader(path), PdfWriter()
    for _ in range(times):
        for page in reader.pages:
            writer.add_page(page)
    out = workdir / f"{path.stem}-x{times}.pdf"
    with out.open("wb") as handle:
        writer.write(handle)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=3)
    parser.add_argument("--pages", type=int, default=100, help="pages per document")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each measurement; the best is kept")
    parser.add_argument("--pdf", nargs="+", type=Path, help="real PDFs to ingest instead of generated ones")
    parser.add_argument("--repeat", type=int, default=1, help="with --pdf: each file's pages repeated this often")
    parser.add_argument("--output", type=Path, metavar="DIR",
                        help="also write the figures to DIR as bench-ingest-<date>.json and .md (docs/results/)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="ragsite-bench-ingest-"))
    os.environ.update(
        RAGSITE_DATA_DIR=str(workdir / "var"), DATABASE_URL=f"sqlite:///{workdir / 'bench.sqlite3'}",
        RAGSITE_LOG_LEVEL="WARNING",
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ragsite.settings")
    os.environ.setdefault("DEBUG", "true")  # a throw-away local run, as `make run` is: no production SECRET_KEY needed
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db.models import F

    from documents.embedding import SENTENCES_PER_BATCH, get_embedder
    from documents.extraction import pdf_open, pdf_pages
    from documents.models import Chunk
    from documents.text.units import meaning_texts
    from documents.ingest import document_ingest
    from documents.services import document_create

    call_command("migrate", verbosity=0)
    rng = random.Random(7)
    paths = []
    if args.pdf:
        paths = [repeated(path, args.repeat, workdir) for path in args.pdf]
    for index in range(0 if args.pdf else args.docs):
        path = workdir / f"manual-{index}.pdf"
        make_pdf(path, args.pages, rng)
        paths.append(path)
    embedder = get_embedder()
    embedder.embed(["warm-up"])
    described = ", ".join(f"{p.name} ({len(pdf_open(p).pages)} pages)" for p in paths)
    print(f"corpus: {described}; model {embedder.name} on {embedder.device}")

    started = time.perf_counter()
    pages = sum(1 for path in paths for _ in pdf_pages(pdf_open(path)))
    extract_seconds = time.perf_counter() - started

    documents = []
    for path in paths:
        with path.open("rb") as handle:
            documents.append(document_create(file=handle, filename=path.name, enqueue=False))

    def pipeline(first: bool) -> float:
        started = time.perf_counter()
        for document in documents:
            document_ingest(document_id=document.pk, force=not first, rebuild_index=False)
        return time.perf_counter() - started

    def raw_encode(texts) -> float:
        """The model alone on what the pipeline embeds: the chunks and, with settings
        RAGSITE_SENTENCE_VECTORS, their sentences (each once, as a batch of chunks does)."""
        started = time.perf_counter()
        embedder.model.encode(texts, batch_size=embedder.batch_size, normalize_embeddings=True, show_progress_bar=False)
        if sentences:
            embedder.model.encode(sentences, batch_size=SENTENCES_PER_BATCH, normalize_embeddings=True, show_progress_bar=False)
        return time.perf_counter() - started

    # Alternate the two, best of N each: this shared 2-core machine varies by tens of percent.
    pipeline_times, encode_times, texts, sentences = [], [], None, []
    for round_number in range(args.rounds):
        pipeline_times.append(pipeline(first=round_number == 0))
        if texts is None:
            texts = list(
                Chunk.objects.filter(document__in=documents, generation=F("document__generation"))
                .order_by("document_id", "ordinal").values_list("text", flat=True)
            )
            if settings.RAGSITE_SENTENCE_VECTORS:
                sentences = list(dict.fromkeys(line for text in texts for line in meaning_texts(text)))
        encode_times.append(raw_encode(texts))
    pipeline_seconds, encode_seconds = min(pipeline_times), min(encode_times)
    tokens = sum(Chunk.objects.filter(generation=F("document__generation")).values_list("token_count", flat=True))

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    pipeline_rate, encode_rate = len(texts) / pipeline_seconds, len(texts) / encode_seconds
    print(f"chunks: {len(texts)} ({tokens / len(texts):.0f} tokens each on average)")
    print(f"extraction:       {pages / extract_seconds:8.1f} pages/s   ({pages} pages in {extract_seconds:.1f} s)")
    print(f"whole pipeline:   {pipeline_rate:8.1f} chunks/s  (best of {args.rounds}: {pipeline_seconds:.1f} s to extract, chunk, embed, store)")
    embedded = f"same chunks, batch {embedder.batch_size}"
    if sentences:
        embedded += f", and their {len(sentences)} sentences, batch {SENTENCES_PER_BATCH}"
    print(f"sentence vectors: {'on' if settings.RAGSITE_SENTENCE_VECTORS else 'off'} (settings.RAGSITE_SENTENCE_VECTORS: on with the extractive answer mode)")
    print(f"raw model.encode: {encode_rate:8.1f} chunks/s  (best of {args.rounds}: {encode_seconds:.1f} s, {embedded})")
    print(f"pipeline / raw encode: {pipeline_rate / encode_rate:.2f}")
    print(f"peak memory (RSS): {peak_mb:.0f} MB")
    if args.output:
        from querying.management.results import results_write

        results_write(args.output, "bench-ingest", {
            "corpus": described, "model": embedder.name, "device": embedder.device, "rounds": args.rounds,
            "pages": pages, "chunks": len(texts), "tokens_per_chunk": tokens / len(texts),
            "extraction_pages_per_s": pages / extract_seconds, "pipeline_chunks_per_s": pipeline_rate,
            "pipeline_s": pipeline_seconds, "sentence_vectors": settings.RAGSITE_SENTENCE_VECTORS,
            "sentences": len(sentences), "encode_chunks_per_s": encode_rate, "encode_s": encode_seconds,
            "pipeline_over_encode": pipeline_rate / encode_rate, "peak_rss_mb": peak_mb,
        })


if __name__ == "__main__":
    main()
