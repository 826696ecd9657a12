"""OCR throughput, memory and word accuracy for each backend, on pages the test suite makes.

    .venv/bin/python bench/ocr.py [--backends rapidocr,tesseract] [--dpi 200] [--max-pixels 10000000]

Pages: English text drawn with Pillow upright, turned by 90/180/270 degrees, skewed by 4 degrees,
blurred, and shrunk to 72 dpi; three French lines with accents; one 9000x9000-pixel page (30 x 30
inches at 300 dpi) that is rendered within --max-pixels. Pinned to 2 cores. Peak RSS is the OCR
child process's (VmHWM: rendering and recognition run there). Word accuracy: the share of the
expected words found as words (with the spaces the backend put); "found" also counts words that
were run together with their neighbours ("Thewarrantylasts").
"""

import argparse
import os
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from documents.ocr.rapid import RapidOcrBackend  # noqa: E402
from documents.ocr.tesseract import TesseractBackend  # noqa: E402
from tests import pdfs  # noqa: E402

ENGLISH = [
    "The warranty lasts thirty months from the date of purchase",
    "Replace the filter every spring and check the seals",
    "Call service before opening the case or moving the pump",
    "Keep the receipt with the serial number of the unit",
]
FRENCH = ["Portez ce vieux whisky au juge blond", "L'île intérieure était très éloignée", "Noël reçut sa clé à Orléans"]
VARIANTS = {
    "upright": {}, "turned-90": {"rotate": 90}, "turned-180": {"rotate": 180}, "turned-270": {"rotate": 270},
    "skewed-4": {"rotate": 4}, "blurred": {"blur": 1.2}, "72-dpi": {"downscale": 150 / 72},
}


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def accuracy(expected: list[str], text: str) -> tuple[int, int]:
    got = Counter(words(text))
    exact = sum(min(n, got[w]) for w, n in Counter(expected).items())
    compact = re.sub(r"\W", "", text.lower())
    found = sum(1 for w in expected if w in compact)
    return exact, found


def peak_rss_mb(backend) -> float:
    child = backend._child
    if child is None:
        return 0.0
    for line in Path(f"/proc/{child.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def make_pages(folder: Path) -> list[tuple[str, Path, list[str], str]]:
    pages = []
    for name, how in VARIANTS.items():
        dpi = 72 if name == "72-dpi" else 150
        path = folder / f"en-{name}.pdf"
        path.write_bytes(pdfs.image_pdf([pdfs.scan_image(ENGLISH, **how)], dpi=dpi))
        pages.append((f"en {name}", path, words(" ".join(ENGLISH)), "en"))
    for name in ("upright", "turned-90"):
        path = folder / f"fr-{name}.pdf"
        path.write_bytes(pdfs.image_pdf([pdfs.scan_image(FRENCH, **VARIANTS[name])]))
        pages.append((f"fr {name}", path, words(" ".join(FRENCH)), "fr"))
    return pages


def make_huge(folder: Path) -> Path:
    image = Image.new("L", (9000, 9000), 255)
    image.paste(pdfs.scan_image(ENGLISH, size=110, width=8000), (300, 300))
    path = folder / "huge.pdf"
    path.write_bytes(pdfs.image_pdf([image], dpi=300))
    return path


def run(label, backend, pages, huge):
    began = time.monotonic()
    backend._started()
    start_s = time.monotonic() - began
    totals = {"en": [0, 0, 0], "fr": [0, 0, 0]}
    seconds = 0.0
    figures = {"engine_start_s": start_s, "pages": {}}
    print(f"\n{label}: engine start {start_s:.1f} s")
    for name, path, expected, language in pages:
        result = backend.page_recognise(path, 1)
        seconds += result.seconds
        exact, found = accuracy(expected, result.text)
        totals[language][0] += exact
        totals[language][1] += found
        totals[language][2] += len(expected)
        print(f"  {name:<16} {result.seconds:6.2f} s  words {exact:>2}/{len(expected)}  found {found:>2}/{len(expected)}"
              f"{'  ERROR ' + result.error if result.error else ''}")
        figures["pages"][name] = {"seconds": result.seconds, "words": exact, "found": found, "expected": len(expected),
                                  "error": result.error}
    ordinary_rss = peak_rss_mb(backend)
    print(f"  ordinary pages: {len(pages) / seconds:.2f} pages/s ({seconds / len(pages):.2f} s a page), "
          f"peak RSS {ordinary_rss:.0f} MB")
    figures.update(pages_per_s=len(pages) / seconds, peak_rss_mb=ordinary_rss, word_accuracy={})
    for language, (exact, found, total) in totals.items():
        if total:
            print(f"  word accuracy {language}: {100 * exact / total:.1f}% as words, {100 * found / total:.1f}% found")
            figures["word_accuracy"][language] = {"as_words": exact / total, "found": found / total}
    result = backend.page_recognise(huge, 1)
    exact, found = accuracy(words(" ".join(ENGLISH)), result.text)
    huge_rss = peak_rss_mb(backend)
    print(f"  9000x9000 page: {result.seconds:.2f} s, peak RSS {huge_rss:.0f} MB, "
          f"words {exact}/{len(words(' '.join(ENGLISH)))}{'  ERROR ' + result.error if result.error else ''}")
    figures["huge_page"] = {"seconds": result.seconds, "peak_rss_mb": huge_rss, "words": exact,
                            "expected": len(words(" ".join(ENGLISH))), "error": result.error}
    backend.close()
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="rapidocr,tesseract")
    parser.add_argument("--dpi", type=int, default=200)
    parser.add_argument("--max-pixels", type=int, default=10_000_000)
    parser.add_argument("--output", type=Path, metavar="DIR",
                        help="also write the figures to DIR as bench-ocr-<date>.json and .md (docs/results/)")
    args = parser.parse_args()
    os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:2]))  # 2 cores, children included
    options = {"dpi": args.dpi, "max_pixels": args.max_pixels, "page_seconds": 600}
    print(f"cores {sorted(os.sched_getaffinity(0))}, load {os.getloadavg()[0]:.1f}, dpi {args.dpi}, "
          f"max pixels {args.max_pixels:,}")
    with tempfile.TemporaryDirectory() as folder:
        pages = make_pages(Path(folder))
        huge = make_huge(Path(folder))
        figures = {}
        for name in args.backends.split(","):
            if name == "rapidocr":
                figures[name] = run("rapidocr (PP-OCRv4, onnxruntime)", RapidOcrBackend(**options), pages, huge)
            elif name == "tesseract":
                figures[name] = run("tesseract eng+fra", TesseractBackend(languages="eng+fra", **options), pages, huge)
    if args.output:
        from querying.management.results import results_write

        results_write(args.output, "bench-ocr", {"dpi": args.dpi, "max_pixels": args.max_pixels, "backends": figures})


if __name__ == "__main__":
    main()
