"""The docs a deployer reads say what the code does: every environment variable the settings
read is documented, every retired one says what replaced it, and no page tells anyone to set a
variable that would now stop start-up."""

import re
from pathlib import Path

from django.conf import settings

from ragsite.settings import RETIRED_VARIABLES
from tests.test_settings_surface import variables_read

ROOT = Path(__file__).resolve().parent.parent
SETTINGS_DOC = ROOT / "docs" / "settings.md"


def _table_names(text: str) -> list[str]:
    """The `NAME`s that open a table row."""
    return re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \|", text, re.MULTILINE)


def _sections(text: str) -> tuple[str, str]:
    """docs/settings.md before its "Retired variables" section, and that section."""
    before, _, retired = text.partition("\n## Retired variables\n")
    return before, retired


def test_every_variable_read_is_in_a_table_of_docs_settings():
    before, _ = _sections(SETTINGS_DOC.read_text())
    environment = before.partition("\n## Environment variables\n")[2].partition("\n## ")[0]
    documented = set(_table_names(environment))
    assert sorted(variables_read() - documented) == []
    assert sorted(documented - variables_read()) == []  # and nothing documented that is not read


def test_every_retired_variable_says_what_replaced_it():
    _, retired = _sections(SETTINGS_DOC.read_text())
    rows = dict(re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \| (.+) \|$", retired, re.MULTILINE))
    assert sorted(set(RETIRED_VARIABLES) - set(rows)) == []
    assert all(replacement.strip() for replacement in rows.values())


def test_no_page_names_a_retired_variable_outside_that_table():
    # A retired name that is still a setting (RAGSITE_CHUNK_TOKENS, MEDIA_ROOT) may be named as one.
    gone = [name for name in RETIRED_VARIABLES if not hasattr(settings, name)]
    pattern = re.compile(r"(?<![A-Z0-9_])(" + "|".join(gone) + r")(?![A-Z0-9_])")
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    found = {}
    for page in pages:
        text = page.read_text()
        if page == SETTINGS_DOC:
            text = _sections(text)[0]
        names = sorted(set(pattern.findall(text)))
        if names:
            found[str(page.relative_to(ROOT))] = names
    assert found == {}


def test_the_readme_stays_a_front_door():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    assert "make run" in readme and "make test" in readme
    for page in ("settings", "api", "search", "architecture", "benchmarks", "deployment"):
        assert f"(docs/{page}.md)" in readme, page


def test_the_readme_s_first_screen_says_answers_are_quoted_and_how_to_plug_each_model_in():
    """Issue 35: a newcomer reads the first screen (~40 lines): the default mode and the one line
    per provider that changes it must be there, not 60 lines down."""
    from querying.page import LLM_SETUP
    from tests.test_page_view import PLUG_IN

    first_screen = "\n".join((ROOT / "README.md").read_text().splitlines()[:40])
    assert "**quotes**" in first_screen and "sentences" in first_screen
    for line in PLUG_IN:
        assert line in first_screen, line
    for _, line in LLM_SETUP:  # the ask page tells staff the same lines
        assert line in first_screen, line
    for provider in ("OpenAI", "Anthropic", "Groq"):
        assert f"| {provider} |" in first_screen, provider
