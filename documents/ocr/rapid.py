"""RapidOCR (rapidocr-onnxruntime): PP-OCRv4 detection and recognition and a line direction
classifier, all shipped as ONNX files inside the wheel, so it works offline from pip alone.
Its recogniser is the Chinese+English one: Latin accents are mostly kept, some are dropped."""

import cv2
import numpy as np

from documents.ocr import OcrBackend


class RapidOcrBackend(OcrBackend):
    name = "rapidocr"

    def __init__(self, *, threads: int = 0, **options):
        super().__init__(threads=threads, **options)
        self.threads = threads
        self._engine = None

    def prepare(self) -> None:
        from rapidocr_onnxruntime import RapidOCR  # noqa: PLC0415 - loaded in the child process only

        kwargs = {"intra_op_num_threads": self.threads} if self.threads else {}
        self._engine = RapidOCR(**kwargs)

    def recognise(self, image) -> str:
        if self._engine is None:
            self.prepare()
        pixels = np.ascontiguousarray(np.stack([np.asarray(image.convert("L"))] * 3, axis=-1))
        pixels = self._upright(pixels)
        result, _ = self._engine(pixels)
        return "\n".join(reading_order([(np.asarray(box, dtype=float), text) for box, text, _ in result or []]))

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
