"""A sentence-transformers model run by ONNX Runtime instead of torch.

The model's transformer is exported once to an .onnx file (with torch: by a worker that has it
loaded, or by a child process, `python -m documents.embedding.onnx`, for one that has not), then
run here: tokenised with `tokenizers` (the model's own tokenizer.json), mean-pooled over the
attention mask and normalised, as sentence-transformers does for models like all-MiniLM-L6-v2. A process that only embeds questions (a web process) then
never imports torch: hundreds of MB less (docs/benchmarks.md), and one C call per question that
holds no Python lock while it runs.

Only models this describes exactly are taken (modules Transformer, Pooling by mean, optionally
Normalize); any other runs on torch alone."""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

MODULES = "sentence_transformers.models."


def _modules(folder: Path) -> list[dict]:
    return json.loads((folder / "modules.json").read_text())


def onnx_unusable(folder: Path) -> str:
    """Why the model in `folder` cannot run here ("" when it can)."""
    try:
        modules = [module["type"].removeprefix(MODULES) for module in _modules(folder)]
        pooling_dir = next(m["path"] for m in _modules(folder) if m["type"].endswith("Pooling"))
        pooling = json.loads((folder / pooling_dir / "config.json").read_text())
    except (OSError, ValueError, KeyError, StopIteration) as exc:
        return f"no sentence-transformers model folder with a pooling module ({exc})"
    if modules not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        return f"modules {modules} (only Transformer, Pooling and Normalize are run without torch)"
    modes = {key for key, value in pooling.items() if key.startswith("pooling_mode") and value}
    if modes != {"pooling_mode_mean_tokens"} or not (folder / "tokenizer.json").is_file():
        return f"pooling {sorted(modes)} or no tokenizer.json (only mean pooling is run without torch)"
    return ""


def onnx_max_tokens(folder: Path) -> int:
    """The longest input the model reads, special tokens included (sentence_bert_config.json)."""
    try:
        return int(json.loads((folder / "sentence_bert_config.json").read_text())["max_seq_length"])
    except (OSError, ValueError, KeyError):
        return int(json.loads((folder / "config.json").read_text())["max_position_embeddings"])


class OnnxModel:
    """The exported model, loaded: embed() is safe to call from many threads at once."""

    def __init__(self, folder: Path, onnx_path: Path, *, threads: int):
        import onnxruntime
        from tokenizers import Tokenizer

        self.normalise = any(module["type"].endswith("Normalize") for module in _modules(folder))
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(onnx_max_tokens(folder))
        self.tokenizer.enable_padding(pad_id=self.tokenizer.token_to_id("[PAD]") or 0)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        self.inputs = {item.name for item in self.session.get_inputs()}

    def embed(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        tokens = self.session.run(None, {name: value for name, value in feeds.items() if name in self.inputs})[0]
        weights = mask[..., None].astype(np.float32)
        vectors = (tokens * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        if self.normalise:
            vectors /= np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)
        return vectors.astype(np.float32)


_export_lock = threading.Lock()
# Texts the export is checked on: vectors from the exported file must match torch's.
CHECK_TEXTS = [
    "How long is the warranty?",
    "The radio range is up to 150 metres in open country; walls and metal shelves shorten it.",
    "read.table reads a file in table format and creates a data frame from it.",
]


def onnx_export(folder: Path, target: Path, *, reference) -> None:
    """Export the model in `folder` to `target` (written aside, then renamed into place) with
    torch, and check it: its vectors must have cosine at least 0.9999 with `reference(texts)`
    (the sentence-transformers model's own) on CHECK_TEXTS. Raises what went wrong."""
    import torch
    from transformers import AutoModel

    class LastHiddenState(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state

    with _export_lock:
        if target.exists():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        model = AutoModel.from_pretrained(str(folder)).eval()
        example = torch.ones((1, 8), dtype=torch.int64)
        axes = {0: "batch", 1: "tokens"}
        with torch.no_grad():
            torch.onnx.export(
                LastHiddenState(model), (example, example, torch.zeros_like(example)), str(staging),
                input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["last_hidden_state"],
                dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes, "last_hidden_state": axes},
                opset_version=17, dynamo=False,
            )
        try:
            exported, expected = OnnxModel(folder, staging, threads=1).embed(CHECK_TEXTS), reference(CHECK_TEXTS)
            exported /= np.linalg.norm(exported, axis=1, keepdims=True)
            expected /= np.linalg.norm(expected, axis=1, keepdims=True)
            cosine = float((exported * expected).sum(axis=1).min())
            if cosine < 0.9999:
                raise ValueError(f"the exported model's vectors differ from torch's (cosine {cosine:.5f})")
            os.replace(staging, target)
        finally:
            staging.unlink(missing_ok=True)
    logger.info("embedding model exported to %s for ONNX Runtime", target)


def _main(folder: str, target: str) -> None:
    """`python -m documents.embedding.onnx FOLDER TARGET`: export the model for a process that
    keeps torch out of its own memory (documents.embedding.local)."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(folder, device="cpu")
    onnx_export(Path(folder), Path(target), reference=lambda texts: model.encode(texts, normalize_embeddings=False))


if __name__ == "__main__":
    import sys

    logging.basicConfig(level=logging.INFO)
    _main(*sys.argv[1:3])
