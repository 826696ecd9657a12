"""The two search backends side by side as the corpus grows: the embedded FAISS + bm25s index and
PostgreSQL (pgvector HNSW + full-text search), on synthetic corpora stored as chunks in one
PostgreSQL 16 + pgvector database (the pgserver wheel, started by tests/pgvector_server.py).

    .venv/bin/python bench/scale.py [--sizes 20000 100000] [--queries 100] [--database-url URL]

For each size: the cost of adding one 100-page document (300 chunks) once the corpus holds that
many chunks (the embedded index rebuilds from every stored vector; PostgreSQL writes the 300 rows
in the swap transaction), query latency before rerank (chunk_search with rerank=False: query
embedding with the real model, search, fusion, fetch), the memory one web process spends on
search (a fresh process: after its first 20 queries, less the embedding model), the disk each
backend's own structures take (the chunk table they share is reported once), and the HNSW
dense top-10 recall against an exact scan for a few ef_search values.

Corpus: bench/query.py's synthetic one (Zipf pseudo-words with identifiers; unit vectors drawn
around 512 topic centres), generated, not embedded. The texts and vectors are not from one model,
so the figures are costs, not search quality (that is `manage.py evaluate`, docs/search.md).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.query import Corpus, fill, filtered, make_queries, percentiles, private_mb, rss_mb, setup_django  # noqa: E402

EMBEDDED = {"BACKEND": "documents.search.embedded.EmbeddedIndexBackend", "OPTIONS": {}}
PAGES, CHUNKS_PER_PAGE = 100, 3


def postgres_config(args) -> dict:
    return {"BACKEND": "documents.search.postgres.PostgresBackend",
            "OPTIONS": {"m": args.m, "ef_construction": args.ef_construction, "ef_search": args.ef_search,
                        "build_memory": args.build_memory}}


def say(size: int, line: str) -> None:
    """Each figure as soon as it is measured: a run of an hour that is stopped keeps what it had."""
    print(f"[{size:,}] {line}", flush=True)


def add_document(corpus: Corpus, model_name: str, n: int) -> float:
    """Write one 100-page document's chunks under a new generation, then time what makes them
    searchable: the swap transaction and, for a backend that rebuilds, the rebuild."""
    from django.db import transaction

    from documents.models import Chunk, Document
    from documents.search.services import index_chunks, index_rebuild_request

    document = Document.objects.create(
        title=f"Added manual {n}", file=f"documents/bench/added-{n}.pdf", original_filename=f"added-{n}.pdf",
        sha256=f"added{n:059d}", status="ready", generation=0, last_generation=1, embedding_model=model_name,
    )
    count = PAGES * CHUNKS_PER_PAGE
    vectors = corpus.vectors(count)
    Chunk.objects.bulk_create(
        Chunk(document=document, generation=1, ordinal=i, page=1 + i // CHUNKS_PER_PAGE, text=(text := corpus.text()),
              char_start=0, char_end=len(text), token_count=200, embedding=vectors[i].tobytes(), embedding_model=model_name)
        for i in range(count)
    )
    started = time.perf_counter()
    with transaction.atomic():  # as documents.ingest swaps a generation in
        index_chunks(chunk_ids=Chunk.objects.filter(document=document, generation=1).values_list("pk", flat=True),
                     document_id=document.pk, generation=1)
        Document.objects.filter(pk=document.pk).update(generation=1)
    index_rebuild_request(in_process=True)
    return time.perf_counter() - started


def query_latency(queries) -> dict:
    from documents.search.selectors import chunk_search

    for query in queries[:5]:
        chunk_search(query=query, top_k=10, rerank=False)
    totals, search = [], []
    for query in queries:
        timings = chunk_search(query=query, top_k=10, rerank=False).timings
        totals.append(timings["total"])
        search.append(timings["dense"] + timings["bm25"] + timings["fusion"])
    within, least, stages = filtered(queries, share=0.01)
    return {"total": percentiles(totals), "search": percentiles(search), "filtered": percentiles(within),
            "filtered_least": least, "filtered_stages_p50": stages}


def probe(workdir: Path, backend: dict) -> None:
    """In a fresh process: the memory the backend costs a web process over its first 20 queries."""
    from django.conf import settings

    from documents.embedding import get_embedder

    settings.RAGSITE_SEARCH_BACKEND = backend
    from documents.models import Chunk
    from documents.search.selectors import chunk_search

    get_embedder().embed_query("warm up the model")
    queries = [" ".join(text.split()[:5]) for text in Chunk.objects.order_by("?").values_list("text", flat=True)[:20]]
    before, before_private = rss_mb(), private_mb()
    for query in queries:
        chunk_search(query=query, top_k=10, rerank=False)
    print(json.dumps({"rss": rss_mb() - before, "private": private_mb() - before_private}))


def process_memory(workdir: Path, database_url: str, backend: dict) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--probe", json.dumps(backend), "--workdir", str(workdir), "--database-url", database_url],
        capture_output=True, text=True, check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def dense_recall(corpus: Corpus, args, queries: int = 30) -> dict:
    """Dense top-10 of the HNSW scan against an exact scan, for query vectors near the corpus's."""
    from django.db import connection

    from documents.search.postgres import TABLE, vector_text

    vectors = corpus.vectors(queries)
    out = {}
    with connection.cursor() as cursor:
        exact = []
        for vector in vectors:
            cursor.execute(f"SELECT chunk_id FROM {TABLE} ORDER BY (embedding <#> %s::vector) + 0 LIMIT 10",
                           [vector_text(vector)])
            exact.append({pk for (pk,) in cursor.fetchall()})
        for ef_search in sorted({40, 100, args.ef_search}):
            cursor.execute(f"SET hnsw.ef_search = {ef_search}")
            hits, took = 0, []
            for vector, truth in zip(vectors, exact):
                mark = time.perf_counter()
                cursor.execute(f"SELECT chunk_id FROM {TABLE} ORDER BY embedding <#> %s::vector LIMIT 10",
                               [vector_text(vector)])
                took.append((time.perf_counter() - mark) * 1000)
                hits += len(truth & {pk for (pk,) in cursor.fetchall()})
            out[ef_search] = {"recall@10": hits / (10 * len(vectors)), "p50_ms": percentiles(took)[0]}
    return out


def run_size(size: int, args, corpus: Corpus, workdir: Path) -> dict:
    from django.db import connection

    from documents.embedding import get_embedder
    from documents.search.postgres import TABLE

    model = get_embedder().name
    result = {"size": size}
    if args.reuse:
        texts = reused(size)
    else:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {TABLE}")
        started = time.perf_counter()
        texts = fill(size, corpus, model)
        result["fill_chunks_s"] = time.perf_counter() - started
        say(size, f"chunks written in {result['fill_chunks_s']:.0f} s")
        with connection.cursor() as cursor:  # the rows of the previous size are dead, not gone
            cursor.execute("VACUUM ANALYZE documents_chunk")
    queries = make_queries(texts, corpus, args.queries)
    del texts

    if "embedded" in args.backends:
        result["embedded"] = run_embedded(size, args, corpus, workdir, queries)
    if "postgres" in args.backends:
        result["postgres"] = run_postgres(size, args, corpus, workdir, queries)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_total_relation_size('documents_chunk')")
        result["chunk_table_mb"] = cursor.fetchone()[0] / 2**20
    return result


def reused(size: int) -> list[str]:
    """The texts queries are drawn from, on the chunks an earlier run of this size left (--reuse):
    the same queries on every such run, so that two versions of the query path compare."""
    from documents.models import Chunk

    texts = list(Chunk.objects.order_by("pk").values_list("text", flat=True)[:20000])
    if Chunk.objects.count() < size:
        raise SystemExit(f"--reuse: the database holds fewer than {size:,} chunks; run once without --reuse")
    return texts


def run_embedded(size: int, args, corpus: Corpus, workdir: Path, queries: list[str]) -> dict:
    from django.conf import settings
    from django.core.management import call_command
    from django.test import override_settings

    from documents.embedding import get_embedder

    with override_settings(RAGSITE_SEARCH_BACKEND=EMBEDDED):
        started = time.perf_counter()
        call_command("search_fill", stdout=open(os.devnull, "w"))
        embedded = {"fill_s": time.perf_counter() - started}
        say(size, f"embedded: search_fill {embedded['fill_s']:.1f} s")
        if args.reuse:
            embedded["queries"] = query_latency(queries)
            say(size, f"embedded: queries {embedded['queries']}")
            return embedded
        embedded["add_document_s"] = [add_document(corpus, get_embedder().name, size)]
        say(size, f"embedded: add one 100-page document {embedded['add_document_s'][0]:.2f} s")
        embedded["queries"] = query_latency(queries)
        say(size, f"embedded: queries {embedded['queries']}")
        index_root = Path(settings.RAGSITE_INDEX_ROOT)
        current = max(index_root.glob("v*"))
        embedded["disk_mb"] = sum(p.stat().st_size for p in current.rglob("*") if p.is_file()) / 2**20
    embedded["memory"] = process_memory(workdir, args.database_url, EMBEDDED)
    say(size, f"embedded: memory {embedded['memory']}, disk {embedded['disk_mb']:.0f} MB")
    return embedded


def run_postgres(size: int, args, corpus: Corpus, workdir: Path, queries: list[str]) -> dict:
    from django.core.management import call_command
    from django.db import connection
    from django.test import override_settings

    from documents.embedding import get_embedder
    from documents.search.postgres import TABLE

    with override_settings(RAGSITE_SEARCH_BACKEND=postgres_config(args)):
        started = time.perf_counter()  # with --reuse, adds what is missing: the whole table, if dropped
        call_command("search_fill", stdout=open(os.devnull, "w"))
        postgres = {"fill_s": time.perf_counter() - started}
        say(size, f"postgres: search_fill {postgres['fill_s']:.1f} s")
        if args.reuse:
            postgres["queries"] = query_latency(queries)
            say(size, f"postgres: queries {postgres['queries']}")
            return postgres
        postgres["add_document_s"] = [add_document(corpus, get_embedder().name, size + 1 + n) for n in range(3)]
        say(size, f"postgres: add one 100-page document {postgres['add_document_s']} s")
        postgres["queries"] = query_latency(queries)
        say(size, f"postgres: queries {postgres['queries']}")
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT pg_total_relation_size('{TABLE}'), pg_relation_size('{TABLE}_embedding'), "
                           f"pg_relation_size('{TABLE}_tsv')")
            total, hnsw, gin = cursor.fetchone()
        postgres["disk_mb"] = total / 2**20
        postgres["hnsw_mb"], postgres["gin_mb"] = hnsw / 2**20, gin / 2**20
        say(size, f"postgres: disk {postgres['disk_mb']:.0f} MB (HNSW {postgres['hnsw_mb']:.0f}, GIN {postgres['gin_mb']:.0f})")
        postgres["recall"] = dense_recall(corpus, args)
        say(size, f"postgres: HNSW recall {postgres['recall']}")
    postgres["memory"] = process_memory(workdir, args.database_url, postgres_config(args))
    return postgres


def report(result: dict) -> None:
    written = f"written in {result['fill_chunks_s']:.0f} s" if "fill_chunks_s" in result else "reused"
    print(f"\n=== {result['size']:,} chunks (chunk table, shared: {result['chunk_table_mb']:.0f} MB; {written}) ===")
    print(f"{'':<60}{'embedded':>20}{'postgres':>26}")
    for _, label, embedded, postgres in side_by_side(result):
        print(f"{label:<60}{embedded:>20}{postgres:>26}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[20000, 100000])
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--backends", nargs="+", choices=["embedded", "postgres"], default=["embedded", "postgres"],
                        help="which backends to measure (default both; at 1M chunks the embedded one takes a while)")
    parser.add_argument("--m", type=int, default=16)
    parser.add_argument("--ef-construction", type=int, default=64)
    parser.add_argument("--ef-search", type=int, default=200)
    parser.add_argument("--build-memory", default="1GB", help="maintenance_work_mem for the HNSW build (4GB at 1M chunks)")
    parser.add_argument("--database-url", default="", help="default: the pgserver database of tests/pgvector_server.py")
    parser.add_argument("--reuse", action="store_true",
                        help="measure only search_fill (which adds what is missing) and the queries, on the chunks an "
                             "earlier run of the same size left in the database: a change to the query path or to "
                             "the search table, before and after")
    parser.add_argument("--workdir", default="")
    parser.add_argument("--json", default="", help="also write the figures here")
    parser.add_argument("--output", type=Path, metavar="DIR",
                        help="also write the figures to DIR as bench-scale-<date>.json and .md (docs/results/)")
    parser.add_argument("--probe", default="", help=argparse.SUPPRESS)  # the backend setting, as JSON
    args = parser.parse_args()
    if not args.database_url:
        base = subprocess.run([sys.executable, str(ROOT / "tests" / "pgvector_server.py")], capture_output=True,
                              text=True, check=True).stdout.strip()
        args.database_url = f"{base}/ragsite_bench_scale"
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="ragsite-bench-scale-"))
    setup_django(workdir, args.database_url)
    if args.probe:
        probe(workdir, json.loads(args.probe))
        return
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor == "postgresql":
        name = connection.settings_dict["NAME"]
        with connection._nodb_cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if cursor.fetchone() is None:
                cursor.execute(f'CREATE DATABASE "{name}"')
    call_command("migrate", verbosity=0)
    print(f"ragsite scale benchmark: {os.cpu_count()} CPUs, database {args.database_url}, HNSW m={args.m} "
          f"ef_construction={args.ef_construction} ef_search={args.ef_search}")
    corpus = Corpus()
    results = []
    for size in args.sizes:
        results.append(run_size(size, args, corpus, workdir))
        report(results[-1])
        sys.stdout.flush()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    if args.output:
        from querying.management.results import Table, results_write

        results_write(args.output, "bench-scale", {"m": args.m, "ef_construction": args.ef_construction,
                                                   "ef_search": args.ef_search, "sizes": results},
                      [Table("Embedded index against PostgreSQL", ["chunks", "figure", "embedded", "postgres"],
                             [row for result in results for row in side_by_side(result)])])


def side_by_side(result: dict) -> list[list]:
    """The rows of a size, as report() prints them and a result file's table holds them: [size,
    figure, embedded, postgres], "-" for a backend not run (--backends)."""
    size = result["size"]

    def row(label, figure, backends=("embedded", "postgres")):
        return [size, label, *(measured(figure, result[b]) if b in result and b in backends else "-"
                               for b in ("embedded", "postgres"))]

    def measured(figure, backend):  # "-" for a figure a --reuse run does not measure
        try:
            return figure(backend)
        except KeyError:
            return "-"

    def pair(values):
        return "{:.1f} / {:.1f}".format(*values)

    rows = [
        row("search_fill from stored chunks, s", lambda b: f"{b['fill_s']:.1f}"),
        row("add one 100-page document, s", lambda b: ", ".join(f"{s:.2f}" for s in b["add_document_s"])),
        row("query: search + fusion p50 / p95, ms", lambda b: pair(b["queries"]["search"])),
        row("query: chunk_search total p50 / p95, ms", lambda b: pair(b["queries"]["total"])),
        row("within a collection of 1% of the documents, ms", lambda b: pair(b["queries"]["filtered"])),
        row("  fewest results any filtered query got, of 10", lambda b: str(b["queries"]["filtered_least"])),
        row("  its stages' p50: dense, keyword, fetch, fusion, ms", lambda b: " / ".join(
            f"{b['queries']['filtered_stages_p50'][name]:.1f}" for name in ("dense", "bm25", "fetch", "fusion"))),
        row("web process memory RSS / private, MB", lambda b: f"{b['memory']['rss']:.0f} / {b['memory']['private']:.0f}"),
        row("disk of the search structures, MB", lambda b: f"{b['disk_mb']:.0f}" + (
            f" (HNSW {b['hnsw_mb']:.0f}, GIN {b['gin_mb']:.0f})" if "hnsw_mb" in b else "")),
    ]
    if "recall" in result.get("postgres", {}):
        rows += [row(f"HNSW dense top-10 recall at ef_search {ef}", lambda b, r=r: f"{r['recall@10']:.3f} ({r['p50_ms']:.1f} ms)",
                     backends=("postgres",)) for ef, r in result["postgres"]["recall"].items()]
    return rows


if __name__ == "__main__":
    main()
