"""Rerankers. settings.RAGSITE_RERANKER picks one; get_reranker() builds it once per process.

When the configured model cannot be loaded (no trained cross-encoder can be downloaded on an
offline machine), search keeps working on the fused order: the reason is logged once, returned
with every response ("reranked": false) and shown by the status endpoint.
"""

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from django.conf import settings

from documents.backends import backend, backend_from_settings
from documents.model_files import model_folder

logger = logging.getLogger(__name__)


class RerankerUnavailable(Exception):
    def __init__(self, message: str, *, intended: bool = False):
        super().__init__(message)
        self.intended = intended  # turned off on purpose: worth an info line, not a warning


class Reranker:
    name: str

    def score(self, query: str, passages: Sequence[str]) -> np.ndarray:
        """One relevance score per passage, higher is better."""
        raise NotImplementedError


class DisabledReranker(Reranker):
    """No reranking: search returns the fused order."""

    def __init__(self, **_):
        raise RerankerUnavailable("reranking is turned off (settings.RAGSITE_RERANKER)", intended=True)


class CrossEncoderReranker(Reranker):
    """A sentence-transformers CrossEncoder scoring (query, passage) pairs.

    local_files_only keeps a hub name from being fetched at run time (off line the hub client
    retries for about a minute before it gives up): the model must be a local folder, fetched
    into RAGSITE_MODELS_DIR (`manage.py models fetch`), or already in the Hugging Face cache."""

    def __init__(
        self,
        model: str = "cross-encoder/ms-marco-MiniLM-L-6-v2",
        max_length: int = 256,
        device: str = "",
        batch_size: int = 32,
        local_files_only: bool = True,
    ):
        self.name = model
        self.batch_size = batch_size
        location = str(model_folder(model) or model)
        if local_files_only and not _on_this_machine(location):
            # Said before sentence-transformers (and torch) is imported for nothing.
            raise RerankerUnavailable(
                f"cannot load cross-encoder {model!r}: it is not on this machine (no such folder, not in "
                "RAGSITE_MODELS_DIR, not in the Hugging Face cache): `python manage.py models fetch` downloads it"
            )
        from sentence_transformers import CrossEncoder

        try:
            self.model = CrossEncoder(
                location, max_length=max_length, device=device or None, local_files_only=local_files_only
            )
        except Exception as exc:
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RerankerUnavailable(f"cannot load cross-encoder {model!r}: {first_line}") from exc
        self._lock = threading.Lock()  # one forward pass at a time in a process

    def score(self, query, passages):
        if not passages:
            return np.zeros(0, dtype=np.float32)
        with self._lock:
            scores = self.model.predict(
                [(query, passage) for passage in passages],
                batch_size=self.batch_size,
                show_progress_bar=False,
                convert_to_numpy=True,
            )
        return np.asarray(scores, dtype=np.float32).reshape(len(passages))


def _on_this_machine(model: str) -> bool:
    """Whether the model is a folder here or in the Hugging Face cache (looked up without
    reaching for the hub)."""
    if Path(model).is_dir():
        return True
    from huggingface_hub import try_to_load_from_cache

    try:
        return isinstance(try_to_load_from_cache(model, "config.json"), str)
    except Exception:  # not a repository name at all
        return False


@dataclass(frozen=True)
class RerankerState:
    model: str  # what settings name
    reranker: Reranker | None
    error: str  # why it is not available; "" when it is
    intended: bool = False  # turned off on purpose (no warning for staff)

    @property
    def loaded(self) -> bool:
        return self.reranker is not None


def configured_model() -> str:
    config = getattr(settings, "RAGSITE_RERANKER", None) or {}
    return str((config.get("OPTIONS") or {}).get("model", "")) or str(config.get("BACKEND", ""))


def _load() -> RerankerState:
    try:
        reranker = backend_from_settings("RAGSITE_RERANKER")
    except RerankerUnavailable as exc:
        state = RerankerState(configured_model(), None, str(exc), exc.intended)
    except Exception as exc:
        state = RerankerState(configured_model(), None, f"cannot build the reranker: {exc}")
    else:
        state = RerankerState(getattr(reranker, "name", configured_model()), reranker, "")
    if state.error and state.intended:
        logger.info("search results will not be reranked: %s", state.error)
    elif state.error:
        logger.warning("search results will not be reranked: %s", state.error)
    else:
        logger.info("reranker %s loaded", state.model)
    return state


def get_reranker() -> RerankerState:
    """The configured reranker, or why there is none: loaded once per process, a failure
    included (logged once, shown with every response and by the status endpoint), and tried
    again when the setting changes."""
    return backend("RAGSITE_RERANKER", build=_load)
