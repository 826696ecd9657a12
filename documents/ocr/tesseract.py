"""Tesseract (Debian tesseract-ocr and its language packs, through pytesseract): many languages,
named in `languages` as Tesseract names them ("eng", "fra+eng")."""

import numpy as np
import pytesseract
from PIL import Image

from documents.ocr import OcrBackend


class TesseractBackend(OcrBackend):
    name = "tesseract"

    def __init__(self, *, languages: str = "eng", **options):
        super().__init__(languages=languages, **options)
        self.languages = languages or "eng"

    def prepare(self) -> None:
        missing = set(self.languages.split("+")) - set(pytesseract.get_languages(config=""))
        if missing:
            raise OSError(
                f"Tesseract has no data for {', '.join(sorted(missing))} (install tesseract-ocr-<lang>, or "
                f"change RAGSITE_OCR_LANGUAGES)"
            )

    def recognise(self, image) -> str:
        image = deskew(upright(image.convert("L")))
        return pytesseract.image_to_string(image, lang=self.languages, config="--psm 3")


def upright(image: Image.Image) -> Image.Image:
    """The page turned by the quarter turns Tesseract's orientation detection finds."""
    try:
        osd = pytesseract.image_to_osd(image, config="--psm 0 -c min_characters_to_try=20",
                                       output_type=pytesseract.Output.DICT)
    except pytesseract.TesseractError:  # too few characters to tell: leave it
        return image
    if osd.get("orientation_conf", 0) < 1.5 or not osd.get("rotate"):
        return image
    return image.rotate(-osd["rotate"], expand=True, fillcolor=255)


def deskew(image: Image.Image, *, max_degrees: float = 10.0, step: float = 0.5) -> Image.Image:
    """The page turned by the small angle (a skewed scan) that makes its text lines most
    horizontal: the angle whose row profile of dark pixels has the most variance."""
    small = image.copy()
    small.thumbnail((800, 800))
    ink = Image.fromarray(((np.asarray(small) < 128) * 255).astype(np.uint8))
    best, best_score = 0.0, -1.0
    for angle in np.arange(-max_degrees, max_degrees + step / 2, step):
        rows = np.asarray(ink.rotate(float(angle), resample=Image.NEAREST, expand=True)).sum(axis=1, dtype=np.float64)
        score = float(np.var(rows))
        if score > best_score:
            best, best_score = float(angle), score
    if abs(best) < step:
        return image
    return image.rotate(best, resample=Image.BICUBIC, expand=True, fillcolor=255)
