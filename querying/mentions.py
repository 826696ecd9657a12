"""Which of the names a question asks about a text never mentions. Pure code.

A question that names something ("How do I read a Parquet file into R?", "... a Simulink block
diagram?") is not answered by passages that never mention it, however close they are in meaning:
they are about something else. The extractive answer (querying.llm.extractive) refuses then, and
says which name it did not find.

A name is a word written as one: capitalised where a sentence does not start (not in German,
which capitalises every noun), all capitals, mixed case ("TeX", "LinnSequencer") or letters with
digits ("SF-424"); two or three capitals alone ("API", "IDs") are a common noun as often as a
name and do not count. A lowercase question names nothing, and nothing is refused for it: this only
ever errs towards answering. A text mentions a name when it holds it (case and Unicode forms aside), its parts ("NASA's" in "NASA"), a spelling
one or two letters away ("Cannister", an OCR'd "Schenkel"), or, for an acronym, capitalised words
whose initials spell it ("ICCO": "International Council of Containership Operators").

A question that names several things ("How do I connect Octave to a PostgreSQL database?") asks
about them together: passages that mention each only apart (PostgreSQL in a manual about R) do not
answer it either.
"""

from __future__ import annotations

import re
import unicodedata

# A word, with the inner punctuation of a name ("SF-424", "C++", "O'Reilly", "node.js").
_WORD = re.compile(r"[^\W_](?:[\w.+#'’-]*[\w+#])?")
_SENTENCE_END = re.compile(r"(?<=[.?!;:。？！])\s+|[(\[\"“«]")
_POSSESSIVE = re.compile(r"['’]s$")
_LETTERS = re.compile(r"[^\W\d_]+")
# German capitalises every noun: in a question with one of these words (none of them English), a
# capital letter says nothing, and only capitals, mixed case and digits make a name.
_NOUNS_CAPITALISED = frozenset(
    "der das und ist wie ein eine einen einem nicht mit für auf dem ich kann wird werden welche "
    "welcher welches warum wann wo sich oder auch zum zur vom gibt muss".split()
)
# Words an acronym skips ("Council of Containership Operators").
_ACRONYM_SKIPS = frozenset("of and the for on in to de du des la le et für und der die das".split())


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def question_names(question: str) -> list[str]:
    """The names a question asks about, in order, each once; words of a name written one after
    the other are one name ("Mona Lisa", "Google Home")."""
    names: list[str] = []
    question = unicodedata.normalize("NFKC", question)
    capitals_name = not any(word.casefold() in _NOUNS_CAPITALISED for word in _WORD.findall(question))
    for sentence in _SENTENCE_END.split(question):
        run: list[str] = []
        last_end = -1
        for place, match in enumerate(_WORD.finditer(sentence)):
            word = _POSSESSIVE.sub("", match.group(0))
            is_name = len(word) >= 2 and any(c.isalpha() for c in word) and (
                (capitals_name and word[0].isupper() and place > 0)  # capitalised, not opening the sentence
                or any(c.isupper() for c in word[1:])  # all capitals, mixed case
                or any(c.isdigit() for c in word)
            )
            if is_name and run and sentence[last_end:match.start()].isspace():
                run.append(word)
            elif is_name:
                _add(names, run)
                run = [word]
            else:
                _add(names, run)
                run = []
            last_end = match.end()
        _add(names, run)
    return names


# Two or three capitals alone ("API", "IDs", "PDF") are as often a common noun as a name: a
# question's "web API" or "two lists of IDs" is not what it asks about. Within a longer name
# ("NASA HDF5") they stay.
_ABBREVIATION = re.compile(r"[A-Z]{2,3}s?")


def _add(names: list[str], run: list[str]) -> None:
    name = " ".join(run)
    if name and name not in names and not _ABBREVIATION.fullmatch(name):
        names.append(name)


def _within(a: str, b: str, limit: int) -> bool:
    """Whether a and b are at most `limit` insertions, deletions or substitutions apart."""
    if abs(len(a) - len(b)) > limit:
        return False
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        if min(current) > limit:
            return False
        previous = current
    return previous[-1] <= limit


def _spells_acronym(acronym: str, words: list[str]) -> bool:
    """Whether consecutive capitalised words (skipping "of", "and" ...) have the acronym's letters
    as initials."""
    letters = acronym.casefold()
    kept = [word for word in words if word.casefold() not in _ACRONYM_SKIPS]
    for start in range(len(kept) - len(letters) + 1):
        run = kept[start:start + len(letters)]
        if all(word[0].isupper() for word in run) and "".join(word[0] for word in run).casefold() == letters:
            return True
    return False


def unmentioned(names: list[str], text: str) -> list[str]:
    """The names that text never mentions, in the order given (a name of several words is
    mentioned when each of its words is)."""
    if not names:
        return []
    folded = _fold(text)
    words = set(re.findall(r"\w+", folded))
    letter_words: list[str] = []

    def mentioned(name: str) -> bool:
        key = _fold(name)
        if key in folded:
            return True
        parts = [part for part in re.split(r"[\W_]+", key) if len(part) > 1]
        if len(parts) > 1 and all(part in words for part in parts):
            return True
        limit = 1 if len(key) <= 5 else 2
        if len(key) >= 4 and any(_within(key, word, limit) for word in words if abs(len(word) - len(key)) <= limit):
            return True
        if name.isupper() and name.isalpha():
            if not letter_words:
                letter_words.extend(_LETTERS.findall(unicodedata.normalize("NFKC", text)))
            return _spells_acronym(name, letter_words)
        return False

    return [name for name in names if not (_fold(name) in folded or all(mentioned(word) for word in name.split(" ")))]


def mentioned_together(names: list[str], texts: list[str]) -> bool:
    """Whether one of the texts mentions every name (as `unmentioned` counts a mention); true for
    fewer than two names."""
    return len(names) < 2 or any(not unmentioned(names, text) for text in texts)
