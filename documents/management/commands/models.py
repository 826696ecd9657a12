"""manage.py models fetch | check: the models this site runs, fetched once and checked.

    python manage.py models fetch     # the configured models not on this machine, into RAGSITE_MODELS_DIR
    python manage.py models check     # what is configured, whether each loads, what each costs in memory
"""

import json
import os
import subprocess
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from documents.embedding import get_embedder
from documents.model_files import FetchError, model_fetch, model_folder, models_dir

# Loads one model in a fresh interpreter and prints what it cost: a figure of its own, not of
# this process with everything else it has loaded.
PROBE = """
import json, sys, django
def peak():  # VmHWM: this process's own peak (ru_maxrss would carry the parent's across exec)
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
django.setup()
before = peak()
kind = sys.argv[1]
if kind == "embedder":
    from documents.embedding import get_embedder
    get_embedder().embed_query("how much memory does this take?")
    detail = ""
else:
    from documents.search.rerank import get_reranker
    state = get_reranker()
    if state.reranker is None:
        print(json.dumps({"loads": False, "detail": state.error})); sys.exit()
    state.reranker.score("a question", ["a passage"])
    detail = ""
after = peak()
print(json.dumps({"loads": True, "mb": round((after - before) / 1024), "torch": "torch" in sys.modules, "detail": detail}))
"""


def configured() -> list[tuple[str, str]]:
    """(role, model name) of the models the settings name; the packaged embedding model ("")
    comes with its PyPI package and needs no fetching."""
    models = []
    embedding = settings.RAGSITE_EMBEDDER.get("OPTIONS", {}).get("model", "")
    if embedding:
        models.append(("embedding", embedding))
    reranker = settings.RAGSITE_RERANKER.get("OPTIONS", {}).get("model", "")
    if reranker and settings.RAGSITE_RERANKER["BACKEND"].endswith("CrossEncoderReranker"):
        models.append(("reranker", reranker))
    return models


class Command(BaseCommand):
    help = "Fetch the configured models into RAGSITE_MODELS_DIR (fetch), or say what is configured and what it costs (check)."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["fetch", "check"])
        parser.add_argument("--endpoint", default="", help="the model hub to fetch from (default: $HF_ENDPOINT or huggingface.co)")

    def handle(self, *args, action, endpoint, **options):
        if action == "fetch":
            self.fetch_models(endpoint)
        else:
            self.check_models()

    def fetch_models(self, endpoint: str) -> None:
        wanted = [(role, name) for role, name in configured() if model_folder(name) is None]
        if not wanted:
            self.stdout.write(f"Every configured model is on this machine (models folder: {models_dir()}).")
            return
        for role, name in wanted:
            self.stdout.write(f"Fetching the {role} model {name} into {models_dir() / name}")
            bars = {}

            def progress(file, done, total):
                bar = bars.get(file) or bars.setdefault(file, tqdm(total=total or None, desc=file, unit="B",
                                                                   unit_scale=True, file=sys.stderr, leave=False))
                bar.update(done - bar.n)

            try:
                fetched = model_fetch(name, endpoint=endpoint, progress=progress)
            except FetchError as exc:
                raise CommandError(f"the {role} model was not fetched: {exc}") from exc
            finally:
                for bar in bars.values():
                    bar.close()
            for file in fetched:
                self.stdout.write(f"  {file.sha256}  {file.size:>12,}  {file.name}")
        self.stdout.write(self.style.SUCCESS("Fetched. Restart the web processes and the worker to load them."))

    def check_models(self) -> None:  # not check(): BaseCommand.check runs the system checks
        # The embedding model's ONNX export is made once per machine (with torch, here): a web
        # process then loads it without torch, which is what the figure below is of.
        get_embedder().embed_query("make sure the model is exported")
        embedding = settings.RAGSITE_EMBEDDER["OPTIONS"].get("model", "")
        reranker = dict(configured()).get("reranker", "")
        # The probes read the settings as this process has them (a test's or a settings module's).
        env = {**os.environ, "RAGSITE_EMBEDDING_MODEL": embedding, "RAGSITE_RERANKER_MODEL": reranker or "off",
               "RAGSITE_MODELS_DIR": str(models_dir())}
        rows = [("embedding", embedding or "all-MiniLM-L6-v2 (package)", "embedder"), ("reranker", reranker or "off", "reranker")]
        for role, name, kind in rows:
            probe = subprocess.run([sys.executable, "-c", PROBE, kind], capture_output=True, text=True, timeout=600, env=env)
            try:
                result = json.loads(probe.stdout.strip().splitlines()[-1])
            except (IndexError, ValueError):
                result = {"loads": False, "detail": (probe.stderr.strip().splitlines() or ["it did not start"])[-1]}
            where = model_folder(name)
            if result["loads"]:
                runtime = "torch" if result.get("torch") else "ONNX Runtime, no torch"
                self.stdout.write(f"{role}: {name} loads ({runtime}), about {result['mb']} MB"
                                  + (f", from {where}" if where else ""))
            else:
                self.stdout.write(f"{role}: {name} does not load: {result['detail']}")
        self.stdout.write(f"answers: {settings.RAGSITE_LLM['BACKEND'].rsplit('.', 1)[-1]} "
                          f"{settings.RAGSITE_LLM.get('OPTIONS', {}).get('model', '')}".rstrip())
