"""The embedding model's two runtimes (documents.embedding.local, documents.embedding.onnx): questions and a few
lines on ONNX Runtime, batches on torch. Their vectors must be comparable with those stored at
ingest, and a process that only embeds questions must not import torch."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from documents.embedding import get_embedder
from documents.extraction import pdf_open, pdf_pages
from documents.text.chunking import chunk_page
from tests.corpus.fetch import default_cache

ROOT = Path(__file__).resolve().parent.parent


def real_passages(limit: int = 96) -> list[str]:
    """Passages of a real manual from the regression corpus (make corpus fetches it), chunked as
    ingest chunks them."""
    path = default_cache() / "r-data-manual.pdf"
    if not path.exists():
        pytest.skip(f"{path} is not fetched (make corpus)")
    embedder = get_embedder()
    passages = []
    for page in pdf_pages(pdf_open(path), start=1, stop=40):
        if page.text:
            drafts = chunk_page(page=page.number, text=page.text, token_spans=embedder.token_spans,
                                max_tokens=200, overlap_tokens=32)
            passages.extend(draft.text for draft in drafts)
    return passages[:limit]


def test_onnx_and_torch_vectors_agree_on_real_passages_and_questions():
    """Questions are embedded on ONNX Runtime and compared with passages embedded on torch at
    ingest: the two must agree closely (cosine at least 0.999, here on a real manual's passages
    and the evaluation's questions)."""
    embedder = get_embedder()
    passages = real_passages()
    questions = [json.loads(line)["question"] for line in (ROOT / "eval" / "questions.jsonl").read_text().splitlines()[:40]]
    texts = passages + questions
    on_torch = embedder.model.encode(texts, normalize_embeddings=True, batch_size=32)  # as a worker embeds
    on_onnx = np.concatenate([embedder._onnx().embed(texts[i:i + 8]) for i in range(0, len(texts), 8)])  # as a question
    cosine = (on_torch * on_onnx).sum(axis=1)
    assert len(passages) > 50 and cosine.min() >= 0.999, float(cosine.min())
    assert np.allclose(np.linalg.norm(on_onnx, axis=1), 1.0, atol=1e-5)


@hypothesis_settings(max_examples=60, deadline=None)
@given(st.text(max_size=300))
def test_token_spans_are_the_model_tokenizers_own(text):
    """Chunks are measured in the model's tokens: the spans read without torch are the ones the
    sentence-transformers tokenizer gives."""
    embedder = get_embedder()
    expected = embedder.model.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, truncation=False,
                                        verbose=False)["offset_mapping"]
    assert [tuple(span) for span in embedder.token_spans(text)] == [tuple(span) for span in expected]


def test_a_process_that_only_embeds_questions_never_imports_torch():
    get_embedder().embed_query("make sure the model is exported")  # the export, once per machine
    script = (
        "import sys, django; django.setup(); from documents.embedding import get_embedder; "
        "embedder = get_embedder(); vector = embedder.embed_query('How long is the warranty?'); "
        "embedder.vocabulary_coverage('Что делает команда mktexlsr?'); "
        "print(len(vector), 'torch' in sys.modules)"
    )
    assert printed_by_a_fresh_process(script)[-2:] == ["384", "False"]


def test_a_process_that_embeds_batches_keeps_one_copy_of_the_model():
    """A worker or `manage.py ingest` loads torch for its batches; the few texts it embeds (a
    document's last sentences) go through torch too, never through a second copy of the model on
    ONNX Runtime."""
    get_embedder().embed_query("make sure the model is exported")  # the export, once per machine
    script = (
        "import sys, django; django.setup(); from documents.embedding import get_embedder; "
        "embedder = get_embedder(); embedder.embed(['a passage of a manual'] * 40); "
        "vectors = embedder.embed(['one short line', 'and another']); "
        "print(vectors.shape[0], 'torch' in sys.modules, 'onnxruntime' in sys.modules)"
    )
    assert printed_by_a_fresh_process(script)[-3:] == ["2", "True", "False"]


def printed_by_a_fresh_process(script: str) -> list[str]:
    """The words a new Python process running script prints, Django set up as a web process's."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    env.update(DJANGO_SETTINGS_MODULE="ragsite.settings", DEBUG="true")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()
