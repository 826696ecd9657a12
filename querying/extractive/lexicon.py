"""The extractive answer's per-language words and phrases: data/<language>.toml, each file read
once. A list a rule reads from every language (the words an acronym passes over) is the union
of what each file gives; a pattern (a regular expression over a language's words) is that
language's."""

from __future__ import annotations

import re
import tomllib
from functools import cache
from pathlib import Path

DATA = Path(__file__).with_name("data")
# "{name}" in a pattern: a list or a pattern of the same section. A quantifier ("{1,2}") is no name.
_PLACE = re.compile(r"\{([a-z_]+)\}")


@cache
def language(code: str) -> dict:
    """The words and phrases of one language, as its file gives them."""
    with open(DATA / f"{code}.toml", "rb") as file:
        return tomllib.load(file)


def languages() -> list[str]:
    return sorted(path.stem for path in DATA.glob("*.toml"))


def words(section: str, name: str) -> frozenset[str]:
    """The words every language lists under section.name, together."""
    return frozenset(word for code in languages() for word in language(code).get(section, {}).get(name, []))


def pattern(code: str, section: str, name: str) -> re.Pattern:
    """A language's pattern section.name, compiled (case ignored), each {name} in it replaced by
    that list as alternatives or by that pattern."""
    return re.compile(_expand(language(code)[section], name), re.IGNORECASE)


def _expand(section: dict, name: str) -> str:
    value = section[name]
    if isinstance(value, list):
        return "|".join(re.escape(word) for word in value)
    return _PLACE.sub(lambda place: _expand(section, place.group(1)), value)
