"""The search index on disk: one folder per version, written aside and renamed into place.

    <RAGSITE_INDEX_ROOT>/v000007-1a2b3c4d/
        manifest.json      version, embedding model and dimension, chunk count, build time
        dense.faiss        FAISS IndexFlatIP over the L2-normalised chunk vectors
        chunk_ids.npy      chunk primary key of each row, in row order
        document_ids.npy   document primary key of each row
        bm25/              the keyword backend's files

No ORM here: documents.search.rebuild reads the chunks and calls build_index_dir.
"""

import json
import os
import re
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from documents.search.backends import Candidates
from documents.search.bm25 import BM25Backend, BM25Scorer, top_positions

FORMAT = 1
_VERSION_DIR = re.compile(r"^v(\d{6,})-[0-9a-f]{8}$")


class IndexLoadError(Exception):
    pass


def _faiss():
    import faiss

    # One query at a time uses one thread: measured faster than two here, and a web process
    # answers many queries side by side.
    faiss.omp_set_num_threads(1)
    return faiss


def version_dir_name(version: int) -> str:
    return f"v{version:06d}-{uuid.uuid4().hex[:8]}"


def build_index_dir(
    *,
    root: Path,
    version: int,
    chunk_ids: np.ndarray,
    document_ids: np.ndarray,
    vectors: np.ndarray,
    corpus_ids: list[list[int]],
    vocab: dict[str, int],
    bm25: BM25Backend,
    manifest: dict,
) -> str:
    """Write a complete index folder and move it into place; returns the folder's name.

    Everything is written under a temporary name first: a reader never sees a half-written
    version, whatever happens to this process."""
    root.mkdir(parents=True, exist_ok=True)
    name = version_dir_name(version)
    staging = root / f".staging-{name}-{os.getpid()}"
    staging.mkdir()
    try:
        count = len(chunk_ids)
        if count:
            faiss = _faiss()
            vectors = np.ascontiguousarray(vectors, dtype=np.float32)
            faiss.normalize_L2(vectors)
            dense = faiss.IndexFlatIP(vectors.shape[1])
            dense.add(vectors)
            faiss.write_index(dense, str(staging / "dense.faiss"))
            bm25.build(corpus_ids, vocab, staging / "bm25")
        np.save(staging / "chunk_ids.npy", np.asarray(chunk_ids, dtype=np.int64))
        np.save(staging / "document_ids.npy", np.asarray(document_ids, dtype=np.int64))
        manifest = {**manifest, "format": FORMAT, "version": version, "chunk_count": count, "bm25_backend": bm25.name}
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
        os.rename(staging, root / name)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return name


@dataclass
class LoadedIndex:
    """One version, loaded. Immutable once built, so any number of threads may search it; a
    process swaps in a new LoadedIndex and queries holding the old one finish on it."""

    version: int
    directory: Path
    manifest: dict
    chunk_ids: np.ndarray
    document_ids: np.ndarray
    dense: object  # faiss.IndexFlatIP, or None when the corpus is empty
    bm25: BM25Scorer | None

    @property
    def embedding_model(self) -> str:
        return self.manifest.get("embedding_model", "")

    @property
    def stems(self) -> bool:
        """Whether its keyword index holds word stems (tokenize(stems=True)); an index built
        before stemming holds whole words, and a query is tokenised to match until it is rebuilt."""
        return bool(self.manifest.get("keyword_stems", False))

    @property
    def chunk_count(self) -> int:
        return len(self.chunk_ids)

    @property
    def empty(self) -> bool:
        return self.chunk_count == 0

    def mask_for_documents(self, document_ids) -> np.ndarray:
        return np.isin(self.document_ids, np.asarray(list(document_ids), dtype=np.int64))

    def dense_top(
        self, vector: np.ndarray, k: int, mask: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Row positions of the k nearest vectors by inner product, best first, and their scores."""
        empty = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        if self.dense is None or k <= 0:
            return empty
        faiss = _faiss()
        query = np.ascontiguousarray(vector, dtype=np.float32).reshape(1, -1)
        params = bits = None
        if mask is not None:
            if not mask.any():
                return empty
            # A bitmap over the rows, one bit each: built and tested in constant time a row, whatever
            # share of the rows it admits (a batch of ids is hashed, which costs more the more it admits).
            # FAISS reads `bits` during the search: the name keeps it alive until then.
            bits = np.packbits(np.asarray(mask, dtype=bool), bitorder="little")
            params = faiss.SearchParameters(sel=faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bits)))
        scores, positions = self.dense.search(query, min(k, self.chunk_count), params=params)
        del bits
        keep = positions[0] >= 0
        return positions[0][keep], scores[0][keep]

    def dense_scores(self, vector: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """The inner product of vector with the stored vectors at these row positions."""
        if self.dense is None or len(positions) == 0:
            return np.zeros(len(positions), dtype=np.float32)
        stored = self.dense.reconstruct_batch(np.asarray(positions, dtype=np.int64))
        return stored @ np.asarray(vector, dtype=np.float32).reshape(-1)

    def bm25_scores(self, tokens: list[str]) -> np.ndarray:
        """The BM25 score of every row for the query's tokens (0 where none matches)."""
        if self.bm25 is None or not tokens:
            return np.zeros(self.chunk_count, dtype=np.float32)
        return self.bm25.scores(tokens)

    def candidates(self, vector: np.ndarray, tokens: list[str], *, k: int, document_ids, lap):
        """The dense and the BM25 top k (within document_ids when given: the filter is applied
        inside both searches, so a selective one still gets its full k), every candidate scored
        by both: a passage one list did not rank still has a cosine and a BM25 score."""
        mask = None
        if document_ids is not None:
            mask = self.mask_for_documents(document_ids)
            if not mask.any():
                return Candidates([], [], [], [], [])
        dense_positions, _ = self.dense_top(vector, k, mask)
        lap("dense")
        keyword = self.bm25_scores(tokens)
        bm25_positions, _ = top_positions(keyword, k, mask)
        lap("bm25")
        positions = np.array(list(dict.fromkeys([*dense_positions.tolist(), *bm25_positions.tolist()])), dtype=np.int64)
        return Candidates(
            keys=self.chunk_ids[positions].tolist(),
            dense=self.dense_scores(vector, positions).tolist(),
            keyword=keyword[positions].tolist(),
            dense_ranked=self.chunk_ids[dense_positions].tolist(),
            keyword_ranked=self.chunk_ids[bm25_positions].tolist(),
        )


def _read_dense(path: Path):
    faiss = _faiss()
    flag = getattr(faiss, "IO_FLAG_MMAP_IFC", None)
    if flag is not None:
        try:
            return faiss.read_index(str(path), flag)
        except RuntimeError:
            pass
    return faiss.read_index(str(path))


def load_index(directory: Path, *, bm25: BM25Backend) -> LoadedIndex:
    """Load one version folder. The vectors and the bm25s matrix are memory-mapped: the web
    processes and the worker share one copy in the page cache, and a mapped file stays readable
    after a newer build deletes its folder (POSIX keeps an unlinked file while it is mapped)."""
    try:
        manifest = json.loads((directory / "manifest.json").read_text())
        if manifest.get("format") != FORMAT:
            raise IndexLoadError(f"{directory} has index format {manifest.get('format')}, expected {FORMAT}")
        if manifest.get("bm25_backend") != bm25.name:
            raise IndexLoadError(
                f"{directory} was built with the {manifest.get('bm25_backend')!r} keyword backend but "
                f"settings.RAGSITE_BM25 names {bm25.name!r}: rebuild the index"
            )
        chunk_ids = np.load(directory / "chunk_ids.npy")
        document_ids = np.load(directory / "document_ids.npy")
        dense = scorer = None
        if len(chunk_ids):
            dense = _read_dense(directory / "dense.faiss")
            scorer = bm25.open(directory / "bm25")
    except IndexLoadError:
        raise
    except Exception as exc:
        raise IndexLoadError(f"cannot load search index from {directory}: {exc}") from exc
    return LoadedIndex(
        version=int(manifest["version"]),
        directory=directory,
        manifest=manifest,
        chunk_ids=chunk_ids,
        document_ids=document_ids,
        dense=dense,
        bm25=scorer,
    )


def prune_versions(root: Path, *, keep: int, current: str) -> list[str]:
    """Delete all but the `keep` newest version folders (never `current`), and staging folders
    left by builders that died. Returns the names deleted."""
    if not root.is_dir():
        return []
    versions = []
    deleted = []
    now = time.time()
    for entry in root.iterdir():
        match = _VERSION_DIR.match(entry.name)
        if match:
            versions.append((int(match.group(1)), entry))
        elif entry.name.startswith(".staging-") and now - entry.stat().st_mtime > 3600:
            shutil.rmtree(entry, ignore_errors=True)
            deleted.append(entry.name)
    versions.sort(reverse=True)
    for _, entry in versions[max(keep, 1) :]:
        if entry.name == current:
            continue
        shutil.rmtree(entry, ignore_errors=True)
        deleted.append(entry.name)
    return deleted
