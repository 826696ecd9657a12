"""Production defaults: settings read from the environment and a .env file, refusing what is
unsafe; the system checks an operator runs. Settings are read in a fresh interpreter, as a
server or a worker starting up reads them."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.checks import run_checks

ROOT = Path(__file__).resolve().parent.parent
READ = (
    "import json, django; from django.conf import settings; django.setup(); "
    "print(json.dumps({name: str(getattr(settings, name)) for name in %r}))"
)


def read_settings(names, *, env_file: Path | None = None, **env):
    """The named settings as a fresh process reads them from `env` (and the .env file given)."""
    clean = {key: value for key, value in os.environ.items() if key not in {"SECRET_KEY", "DEBUG", "PYTEST_ADDOPTS"}}
    clean.update(DJANGO_SETTINGS_MODULE="ragsite.settings", RAGSITE_ENV_FILE=str(env_file or "/nonexistent/.env"), **env)
    done = subprocess.run(
        [sys.executable, "-c", READ % (list(names),)], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode:
        return None, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def test_debug_is_off_unless_set():
    values, _ = read_settings(["DEBUG"], SECRET_KEY="x" * 50)
    assert values == {"DEBUG": "False"}
    values, _ = read_settings(["DEBUG"], DEBUG="true")
    assert values == {"DEBUG": "True"}


def test_the_development_key_is_refused_when_debug_is_off():
    values, errors = read_settings(["SECRET_KEY"])
    assert values is None
    assert "ImproperlyConfigured: SECRET_KEY is not set and DEBUG is off" in errors
    assert "get_random_secret_key" in errors  # says how to make one


def test_a_misspelt_boolean_or_number_names_its_variable():
    _, errors = read_settings(["DEBUG"], DEBUG="ture")
    assert "environment variable DEBUG must be true or false, got 'ture'" in errors
    _, errors = read_settings(["RAGSITE_MAX_PAGES"], DEBUG="true", RAGSITE_MAX_PAGES="lots")
    assert "environment variable RAGSITE_MAX_PAGES must be an integer, got 'lots'" in errors


def test_the_env_file_takes_inline_comments_and_quotes_and_the_environment_wins(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text(
        "DEBUG=true   # on my laptop\n"
        "RAGSITE_LLM=openai\n"
        "RAGSITE_LLM_BASE_URL=http://127.0.0.1:11434/v1   # Ollama\n"
        'RAGSITE_LLM_MODEL="llama3 # not a comment inside quotes"\n'
        "RAGSITE_MAX_PAGES=10\n"
    )
    values, errors = read_settings(["DEBUG", "RAGSITE_LLM", "RAGSITE_MAX_PAGES"], env_file=env_file, RAGSITE_MAX_PAGES="20")
    assert values is not None, errors
    assert values["DEBUG"] == "True"
    assert "'base_url': 'http://127.0.0.1:11434/v1'" in values["RAGSITE_LLM"]
    assert "'model': 'llama3 # not a comment inside quotes'" in values["RAGSITE_LLM"]
    assert values["RAGSITE_MAX_PAGES"] == "20"


@pytest.mark.django_db
def test_a_check_warns_while_the_demo_admin_keeps_its_demo_password(django_user_model):
    def warned(**options):
        return [m.id for m in run_checks(**options) if m.id == "access.W001"]

    admin = django_user_model.objects.create_superuser("admin", "admin@localhost", "admin")
    assert warned(databases=["default"]) == ["access.W001"]  # what migrate runs
    assert warned(include_deployment_checks=True) == ["access.W001"]  # check --deploy
    assert warned(include_deployment_checks=True, databases=["default"]) == ["access.W001"]  # once
    assert warned() == []  # ordinary commands do not touch the database

    admin.set_password("a long passphrase nobody guesses")
    admin.save()
    assert warned(databases=["default"]) == [] and warned(include_deployment_checks=True) == []


# The production environment of README.md's "The production path", a generated key in place of
# the command that makes one.
PRODUCTION = {
    "DEBUG": "false", "ALLOWED_HOSTS": "rag.example.com", "CSRF_TRUSTED_ORIGINS": "https://rag.example.com",
    "RAGSITE_HTTPS": "true", "RAGSITE_ANONYMOUS_QUERIES": "false", "RAGSITE_FILES_SENDFILE": "X-Accel-Redirect",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0", "CACHE_URL": "redis://127.0.0.1:6379/1",
}


def test_check_deploy_with_the_documented_production_environment_leaves_only_the_warning_the_readme_explains(tmp_path):
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## The production path")
    production_block = readme[start:readme.index("\n## ", start)]
    for name, value in PRODUCTION.items():
        # The README's Redis URLs name a HOST; here Redis is local.
        assert f"{name}={value.replace('127.0.0.1', 'HOST')}" in production_block, name
    assert "get_random_secret_key" in production_block

    from django.core.management.utils import get_random_secret_key

    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTEST", "RAG_"))}
    env.update(
        PRODUCTION, SECRET_KEY=get_random_secret_key(), RAGSITE_ENV_FILE="/nonexistent/.env",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", RAGSITE_DATA_DIR=str(tmp_path / "var"),
    )
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=300, check=False,
    )
    output = done.stdout + done.stderr
    assert "System check identified 1 issue (0 silenced)." in output, output
    assert "(security.W021) You have not set the SECURE_HSTS_PRELOAD setting to True." in output
    assert "security.W021" in readme
