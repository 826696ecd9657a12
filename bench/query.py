"""Query latency of the hybrid search, index build time and memory per serving process, on
synthetic corpora (real-looking text, 384-d vectors) stored as chunks in a throw-away database.

    .venv/bin/python bench/query.py [--sizes 10000 100000] [--queries 60] [--rerank-queries 8]

Prints p50/p95 per stage of chunk_search (query embedding, FAISS, BM25, fusion, fetching the rows,
rerank of the top 20) and in total, and the total within a filter admitting 1% of the documents (a
collection) with the fewest results any query got; the BM25 stage with bm25s (the default) and rank-bm25 side by
side on the same queries; the rerank stage next to a bare CrossEncoder.predict on the same pairs;
the rebuild from stored vectors; and the memory a serving process spends on the index.
The reranker is a CrossEncoder built from the bundled MiniLM weights (untrained head: right
cost, meaningless order). Runs against SQLite under a temporary folder unless --database-url.
"""

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def private_mb() -> float:
    """Anonymous memory: what this process holds for itself, unlike pages of mapped files, which
    every process mapping the same file shares through the page cache."""
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines():
        if line.startswith("Anonymous:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentiles(values):
    import numpy as np

    values = np.asarray(values, dtype=float)
    return float(np.percentile(values, 50)), float(np.percentile(values, 95))


def setup_django(workdir: Path, database_url: str) -> None:
    os.environ["RAGSITE_DATA_DIR"] = str(workdir)
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["RAGSITE_LOG_LEVEL"] = "WARNING"
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    else:
        os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ragsite.settings")
    os.environ.setdefault("DEBUG", "true")  # a throw-away local run, as `make run` is: no production SECRET_KEY needed
    import django
    from django.conf import settings

    django.setup()
    # DEBUG only to start without a production SECRET_KEY: with it on, every query's SQL (vectors
    # included) would be kept in memory, GBs at a million chunks.
    settings.DEBUG = False


class Corpus:
    """Zipf-distributed pseudo-words in sentences, with identifiers sprinkled in; vectors drawn
    around topic centres so that nearest neighbours are not uniform noise."""

    def __init__(self, seed: int = 7, vocabulary: int = 40000, topics: int = 512, dimension: int = 384):
        import numpy as np

        self.rng = np.random.default_rng(seed)
        syllables = [c + v for c in "bcdfghjklmnprstvwz" for v in ("a", "e", "i", "o", "u", "ai", "ou")]
        words = set()
        while len(words) < vocabulary:
            words.add("".join(self.rng.choice(syllables, size=self.rng.integers(1, 4))))
        self.words = np.array(sorted(words))
        ranks = np.arange(1, vocabulary + 1)
        self.p = (1 / ranks**1.07) / (1 / ranks**1.07).sum()
        self.identifiers = [f"{a}.{b}" for a, b in zip(self.words[:300], self.words[300:600])] + [
            f"-d{w.upper()}" for w in self.words[600:800]
        ]
        self.centres = self.rng.normal(size=(topics, dimension)).astype("float32")
        self.dimension = dimension

    def text(self, words: int = 150) -> str:
        picked = list(self.rng.choice(self.words, size=words, p=self.p))
        for _ in range(self.rng.integers(0, 3)):
            picked.insert(int(self.rng.integers(0, len(picked))), str(self.rng.choice(self.identifiers)))
        out, i = [], 0
        while i < len(picked):
            n = int(self.rng.integers(8, 20))
            out.append(" ".join(picked[i : i + n]).capitalize() + ".")
            i += n
        return " ".join(out)

    def vectors(self, count: int):
        import numpy as np

        topics = self.rng.integers(0, len(self.centres), size=count)
        vectors = self.centres[topics] + 0.8 * self.rng.normal(size=(count, self.dimension)).astype("float32")
        return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype("<f4")


# Sentence vectors stored per chunk (RAGSITE_SENTENCE_VECTORS): the evaluation corpus's 5,792
# chunks hold 6.7 on average; the fusion reads them for every candidate.
SENTENCES_PER_CHUNK = 7


def fill(size: int, corpus: Corpus, model_name: str, per_document: int = 50) -> list[str]:
    import numpy as np

    from documents.embedding import sentence_vectors_pack
    from documents.models import Chunk, Document

    Chunk.objects.all().delete()
    Document.objects.all().delete()
    texts = []
    for first in range(0, size, 5000):
        count = min(5000, size - first)
        documents = Document.objects.bulk_create(
            Document(
                title=f"Synthetic manual {n}", file=f"documents/bench/manual-{n}.pdf",
                original_filename=f"manual-{n}.pdf", sha256=f"{n:064d}", status="ready", generation=1,
                embedding_model=model_name,
            )
            for n in range(first // per_document, (first + count + per_document - 1) // per_document)
        )
        vectors = corpus.vectors(count)
        noise = 0.5 * corpus.rng.normal(size=(count, SENTENCES_PER_CHUNK, corpus.dimension)).astype("float32")
        sentences = vectors[:, None, :] + noise
        sentences /= np.linalg.norm(sentences, axis=2, keepdims=True)
        batch = []
        for i in range(count):
            text = corpus.text()
            texts.append(text)
            n = first + i
            batch.append(
                Chunk(
                    document=documents[(n // per_document) - first // per_document], generation=1,
                    ordinal=n % per_document, page=1 + (n % per_document) // 3, text=text, char_start=0,
                    char_end=len(text), token_count=200, embedding=vectors[i].tobytes(), embedding_model=model_name,
                    sentence_embeddings=sentence_vectors_pack(sentences[i]),
                )
            )
        Chunk.objects.bulk_create(batch, batch_size=1000)
    return texts


def make_queries(texts, corpus: Corpus, count: int):
    queries = []
    for n in range(count):
        words = texts[int(corpus.rng.integers(0, len(texts)))].replace(".", "").split()
        start = int(corpus.rng.integers(0, max(1, len(words) - 6)))
        query = " ".join(words[start : start + int(corpus.rng.integers(3, 7))])
        if n % 4 == 0:
            query += " " + str(corpus.rng.choice(corpus.identifiers))
        queries.append(query)
    return queries


def probe(kind: str, path: str) -> None:
    """Run in a fresh process: the memory one serving process spends to load an index ("index":
    the whole version folder, bm25s included) or rank-bm25's keyword index alone ("rank-bm25")."""
    from documents.search.bm25 import BM25sBackend, RankBM25Backend
    from documents.search.index import load_index

    before, before_private = rss_mb(), private_mb()
    started = time.perf_counter()
    if kind == "index":
        index = load_index(Path(path), bm25=BM25sBackend())
        seconds = time.perf_counter() - started
        index.dense_top(index.dense.reconstruct(0), 50)
        index.bm25_scores(["ba", "ke"])  # touch what a query touches (mapped pages included)
    else:
        scorer = RankBM25Backend().open(Path(path))
        seconds = time.perf_counter() - started
        scorer.top(["ba", "ke"], 50)
    print(json.dumps({"rss": rss_mb() - before, "private": private_mb() - before_private, "load_s": seconds}))


def serving_memory(workdir, database_url, kind, path):
    out = subprocess.run(
        [sys.executable, __file__, "--probe", kind, str(path), "--workdir", str(workdir),
         "--database-url", database_url],
        capture_output=True, text=True, check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_size(size, args, corpus, workdir, reranker_dir):
    from django.conf import settings

    from documents.embedding import get_embedder
    from documents.models import SearchIndexState
    from documents.search.bm25 import RankBM25Backend, token_ids
    from documents.search.backends import search_backend
    from documents.search.selectors import chunk_search
    from documents.search.services import index_rebuild_request
    from documents.search.serving import current_index
    from documents.text.tokenize import tokenize

    embedder = get_embedder()
    started = time.perf_counter()
    texts = fill(size, corpus, embedder.name)
    fill_s = time.perf_counter() - started

    started = time.perf_counter()
    index_rebuild_request(in_process=True)
    rebuild_s = time.perf_counter() - started
    state = SearchIndexState.objects.get(pk=1)
    index_dir = settings.RAGSITE_INDEX_ROOT / state.current_dir
    index = current_index()

    queries = make_queries(texts, corpus, args.queries)
    for query in queries[:5]:  # warm-up: first-touch of mapped pages, code paths
        chunk_search(query=query, top_k=10, rerank=False)
    stages = {name: [] for name in ("embed", "dense", "bm25", "fusion", "fetch", "total")}
    for query in queries:
        timings = chunk_search(query=query, top_k=10, rerank=False).timings
        for name in stages:
            stages[name].append(timings[name])
    stages["retrieval (total - fetch)"] = [t - f for t, f in zip(stages["total"], stages["fetch"])]
    filtered_ms, filtered_least, _ = filtered(queries, share=0.01)
    stages["total, within 1% of the documents"] = filtered_ms

    # BM25 backends side by side, on the same tokens of the same queries.
    rank_dir = workdir / f"rank-bm25-{size}"
    ids, vocab = token_ids(tokenize(text, stems=index.stems) for text in texts)
    started = time.perf_counter()
    RankBM25Backend().build(ids, vocab, rank_dir)
    rank_scorer = RankBM25Backend().open(rank_dir)
    rank_build_s = time.perf_counter() - started
    del ids, vocab
    bm25_side = {"bm25s": [], "rank-bm25": []}
    for query in queries:
        query_tokens = tokenize(query, stems=index.stems)
        for name, scorer in (("bm25s", index.bm25), ("rank-bm25", rank_scorer)):
            mark = time.perf_counter()
            scorer.top(query_tokens, search_backend().tuning.candidates)
            bm25_side[name].append((time.perf_counter() - mark) * 1000)
    del rank_scorer

    # Rerank of the top 20 inside chunk_search, against a bare CrossEncoder.predict on the same pairs.
    rerank = {"chunk_search rerank stage": [], "bare CrossEncoder.predict": []}
    if args.rerank_queries:
        from sentence_transformers import CrossEncoder

        from documents.search.rerank import get_reranker

        settings.RAGSITE_RERANKER = {
            "BACKEND": "documents.search.rerank.CrossEncoderReranker",
            "OPTIONS": {"model": str(reranker_dir), "max_length": 256, "local_files_only": True},
        }
        assert search_backend().tuning.rerank_top_n == 20
        get_reranker()
        bare = CrossEncoder(str(reranker_dir), max_length=256)
        for n, query in enumerate(queries[: args.rerank_queries + 1]):
            # Alternate which goes first, so drifting load on a shared machine favours neither.
            pairs = [(query, result.text) for result in chunk_search(query=query, top_k=20, rerank=False).results]
            runs = []
            for first in ((True, False) if n % 2 else (False, True)):
                if first:
                    response = chunk_search(query=query, top_k=20, rerank=True)
                    assert response.reranked, response.rerank_error
                    runs.append(("stage", response.timings["rerank"]))
                else:
                    mark = time.perf_counter()
                    bare.predict(pairs, batch_size=32, show_progress_bar=False)
                    runs.append(("bare", (time.perf_counter() - mark) * 1000))
            if n:  # the first is a warm-up
                timings = dict(runs)
                rerank["chunk_search rerank stage"].append(timings["stage"])
                rerank["bare CrossEncoder.predict"].append(timings["bare"])

    memory = {
        "whole index, bm25s (default)": serving_memory(workdir, args.database_url, "index", index_dir),
        "rank-bm25 keyword index alone": serving_memory(workdir, args.database_url, "rank-bm25", rank_dir),
    }
    return {
        "size": size, "fill_s": fill_s, "rebuild_s": rebuild_s, "build_seconds_recorded": state.build_seconds,
        "filtered_least_results_of_10": filtered_least,
        "stages": stages, "bm25_side": bm25_side, "rank_bm25_load_s": rank_build_s, "rerank": rerank,
        "memory": memory, "index_mb": sum(p.stat().st_size for p in index_dir.rglob("*") if p.is_file()) / 2**20,
    }


def filtered(queries, *, share: float) -> tuple[list[float], int, dict[str, float]]:
    """chunk_search for an asker who reads one collection holding `share` of the documents
    (documents.readable; the filter is applied inside each search): its total per query, how
    many of the 10 asked for came back (a filter applied after the search returns fewer), and
    the p50 of each stage (chunk_search's timings), to say where the time goes."""
    from documents.models import Collection, Document, general_collection_id
    from documents.search.selectors import chunk_search

    ids = sorted(Document.objects.values_list("pk", flat=True))
    admitted = random.Random(7).sample(ids, max(1, int(len(ids) * share)))
    collection, _ = Collection.objects.get_or_create(
        slug="bench-filtered", defaults={"name": "A small collection", "visibility": Collection.Visibility.GROUPS})
    Document.objects.filter(collection=collection).update(collection_id=general_collection_id())  # an earlier run's
    Document.objects.filter(pk__in=admitted).update(collection=collection)
    returned, stages = [], {}
    for query in queries:
        response = chunk_search(query=query, top_k=10, rerank=False, collection_ids=[collection.pk])
        for name, ms in response.timings.items():
            stages.setdefault(name, []).append(ms)
        returned.append(len(response.results))
    return stages.pop("total"), min(returned), {name: percentiles(ms)[0] for name, ms in stages.items()}


def report(result):
    size = result["size"]
    print(f"\n=== {size:,} chunks ===")
    print(f"fill database: {result['fill_s']:.1f} s   rebuild from stored vectors: {result['rebuild_s']:.1f} s "
          f"(index on disk {result['index_mb']:.0f} MB)")
    print(f"{'stage (ms)':<28}{'p50':>9}{'p95':>9}")
    for name, values in result["stages"].items():
        p50, p95 = percentiles(values)
        print(f"{name:<28}{p50:>9.2f}{p95:>9.2f}")
    print(f"  (within 1% of the documents, the fewest results any query got: {result['filtered_least_results_of_10']} of 10)")
    print("BM25 backends, same queries (top 50):")
    for name, values in result["bm25_side"].items():
        p50, p95 = percentiles(values)
        print(f"  {name:<26}{p50:>9.2f}{p95:>9.2f}")
    print(f"  (rank-bm25 rebuilds its token lists in each process: {result['rank_bm25_load_s']:.1f} s)")
    if result["rerank"]["bare CrossEncoder.predict"]:
        print("rerank of the top 20 (ms):")
        for name, values in result["rerank"].items():
            p50, p95 = percentiles(values)
            print(f"  {name:<26}{p50:>9.1f}{p95:>9.1f}")
        stage = percentiles(result["rerank"]["chunk_search rerank stage"])[0]
        bare = percentiles(result["rerank"]["bare CrossEncoder.predict"])[0]
        ratios = [a / b for a, b in zip(result["rerank"]["chunk_search rerank stage"],
                                        result["rerank"]["bare CrossEncoder.predict"])]
        print(f"  rerank stage over bare predict: {100 * (stage / bare - 1):+.1f}% at p50, "
              f"{100 * (percentiles(ratios)[0] - 1):+.1f}% median of per-query ratios")
    print("memory a serving process spends on the index (MB; 'private' leaves out the mapped file pages")
    print("that all serving processes share through the page cache):")
    for name, probe_result in result["memory"].items():
        print(f"  {name:<30} RSS {probe_result['rss']:>6.0f}   private {probe_result['private']:>6.0f}"
              f"   (load {probe_result['load_s']:.2f} s)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10000, 100000])
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--rerank-queries", type=int, default=8)
    parser.add_argument("--database-url", default="", help="default: SQLite in a temporary folder")
    parser.add_argument("--workdir", default="")
    parser.add_argument("--output", type=Path, metavar="DIR",
                        help="also write the figures to DIR as bench-query-<date>.json and .md (docs/results/)")
    parser.add_argument("--probe", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="ragsite-bench-query-"))
    setup_django(workdir, args.database_url)
    if args.probe:
        probe(*args.probe)
        return
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    import faiss
    import torch

    from documents.embedding import packaged_minilm_path

    print(f"ragsite query benchmark: {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, "
          f"faiss {faiss.__version__}, database {'SQLite' if not args.database_url else args.database_url}")
    reranker_dir = workdir / "minilm-cross-encoder"
    if args.rerank_queries:
        from sentence_transformers import CrossEncoder

        CrossEncoder(str(packaged_minilm_path()), num_labels=1, max_length=256).save(str(reranker_dir))
    corpus = Corpus()
    results = []
    for size in args.sizes:
        results.append(run_size(size, args, corpus, workdir, reranker_dir))
        report(results[-1])
    if args.output:
        from querying.management.results import Table, results_write

        summaries = [summary(result) for result in results]
        rows = [[s["size"], group, name, p["p50"], p["p95"]] for s in summaries
                for group in ("stages", "bm25_side", "rerank") for name, p in s[group].items()]
        results_write(args.output, "bench-query", {"sizes": summaries}, [
            Table("Latency per stage (ms)", ["chunks", "group", "stage", "p50", "p95"], rows),
            Table("Build and memory", ["chunks", "fill s", "rebuild s", "index MB", "process", "RSS MB", "private MB"],
                  [[s["size"], s["fill_s"], s["rebuild_s"], s["index_mb"], name, m["rss"], m["private"]]
                   for s in summaries for name, m in s["memory"].items()]),
        ])


def summary(result: dict) -> dict:
    """A size's figures for a result file: each list of timings as its p50 and p95 (ms)."""

    def spread(values):
        if not len(values):
            return None
        p50, p95 = percentiles(values)
        return {"p50": p50, "p95": p95, "n": len(values)}

    lists = ("stages", "bm25_side", "rerank")
    out = {key: value for key, value in result.items() if key not in lists}
    for key in lists:
        out[key] = {name: spread(values) for name, values in result[key].items() if len(values)}
    return out


if __name__ == "__main__":
    main()
