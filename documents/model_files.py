"""The models the site runs, as folders on this machine: where a configured name is found, and how
an operator fetches one once (`manage.py models fetch`) into RAGSITE_MODELS_DIR.

A name is a local folder, a folder under RAGSITE_MODELS_DIR named like the hub repository
("cross-encoder/ms-marco-MiniLM-L-6-v2" is RAGSITE_MODELS_DIR/cross-encoder/ms-marco-MiniLM-L-6-v2),
or a hub repository nothing on this machine holds yet. Fetching speaks the Hugging Face hub's
plain HTTP interface (its endpoint: HF_ENDPOINT, as the hub's own tools read it): the list of a
repository's files, then each file; each is written aside, then moved into place, and its
SHA-256 is reported."""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from django.conf import settings

DEFAULT_ENDPOINT = "https://huggingface.co"
# What a model folder needs to run; other files of a repository (other frameworks' weights,
# ONNX and OpenVINO exports, images) are left on the hub.
WANTED = (".json", ".txt", ".safetensors", ".model")
SKIPPED_DIRS = ("onnx/", "openvino/", "coreml/", "tf/", "flax/")


class FetchError(Exception):
    """A model could not be fetched; the message names what was tried."""


@dataclass(frozen=True)
class Fetched:
    name: str  # the file, relative to the model's folder
    size: int
    sha256: str


def models_dir() -> Path:
    return Path(settings.RAGSITE_MODELS_DIR)


def model_folder(name: str) -> Path | None:
    """The folder on this machine that holds the model `name`, or None."""
    for candidate in (Path(name), models_dir() / name):
        if name and candidate.is_dir() and (candidate / "config.json").is_file():
            return candidate
    return None


def model_fetch(name: str, *, endpoint: str = "", progress: Callable[[str, int, int], None] | None = None,
                timeout: float = 30.0) -> list[Fetched]:
    """Download the hub repository `name`'s model files into models_dir()/name, each written aside
    and moved into place whole. `progress(file, done, total)` is called as bytes arrive. Raises
    FetchError at once when the endpoint cannot be reached or holds no such repository."""
    import httpx

    base = (endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
    listing = f"{base}/api/models/{name}/revision/main"
    try:
        with httpx.Client(timeout=timeout, follow_redirects=True) as client:
            reply = client.get(listing)
            if reply.status_code != 200:
                raise FetchError(f"{listing} answered {reply.status_code}: no model {name!r} there")
            info = reply.json()
            files = sorted(f["rfilename"] for f in info.get("siblings", []) if _wanted(f.get("rfilename", "")))
            if not files:
                raise FetchError(f"{listing} lists no model files for {name!r}")
            target = models_dir() / name
            return [_download(client, f"{base}/{name}/resolve/{info.get('sha') or 'main'}/{file}", target / file, file,
                              progress) for file in files]
    except httpx.HTTPError as exc:
        raise FetchError(f"cannot fetch {name!r} from {listing}: {exc.__class__.__name__}: {exc}") from exc


def _wanted(file: str) -> bool:
    return file.endswith(WANTED) and not file.startswith(SKIPPED_DIRS)


def _download(client, url: str, path: Path, name: str, progress) -> Fetched:
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.part")
    digest, size = hashlib.sha256(), 0
    with client.stream("GET", url) as reply:
        if reply.status_code != 200:
            raise FetchError(f"{url} answered {reply.status_code}")
        total = int(reply.headers.get("content-length") or 0)
        with staging.open("wb") as out:
            for block in reply.iter_bytes(1 << 20):
                out.write(block)
                digest.update(block)
                size += len(block)
                if progress is not None:
                    progress(name, size, total)
    if total and size != total:
        staging.unlink(missing_ok=True)
        raise FetchError(f"{url} ended after {size} of {total} bytes")
    shutil.move(staging, path)
    return Fetched(name, size, digest.hexdigest())
