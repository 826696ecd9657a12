"""What a deployer meets: the environment variables the settings read, each one documented, and
a retired one refused at start-up instead of silently ignored."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
READERS = re.compile(r"""\b(?:env_str|env_int|env_bool|env_list|env_choice|_rate|os\.environ\.get)\(\s*"([A-Z][A-Z0-9_]*)\"""")


def variables_read() -> set[str]:
    return set(READERS.findall((ROOT / "ragsite" / "settings.py").read_text()))


def test_at_most_35_variables_are_read_and_each_is_in_env_example():
    names = variables_read()
    assert "DATABASE_URL" in names and "RAGSITE_LLM" in names  # the pattern finds them
    assert len(names) <= 35, sorted(names)
    example = (ROOT / ".env.example").read_text()
    assert [name for name in sorted(names) if f"# {name}=" not in example] == []
    own = [name for name in names if not name.startswith("RAGSITE_")]
    assert sorted(own) == ["ALLOWED_HOSTS", "CACHE_URL", "CELERY_BROKER_URL", "CSRF_TRUSTED_ORIGINS", "DATABASE_URL",
                           "DEBUG", "SECRET_KEY"]  # Django's and the services' own names; the rest is one prefix


def test_a_retired_variable_stops_start_up_naming_it_and_where_to_look():
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    env.update(DJANGO_SETTINGS_MODULE="ragsite.settings", DEBUG="true", LLM_BACKEND="openai",
               RAGSITE_ENV_FILE="/nonexistent/.env")
    done = subprocess.run([sys.executable, "-c", "import django; django.setup()"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode != 0
    assert "ImproperlyConfigured: environment variable(s) LLM_BACKEND are no longer read" in done.stderr
    assert "docs/settings.md" in done.stderr
