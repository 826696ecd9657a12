"""The names a question asks about, and whether a text mentions them. Pure code.

A question that names something is not answered by passages that never mention it, however
close they are in meaning: they are about something else. A question that names several things
asks about them together: passages that mention each only apart do not answer it either
(querying.extractive.guards refuses then, and says which).

A name is a word written as one: capitalised where a sentence does not start (not in a language
that capitalises every noun), all capitals, mixed case or letters with digits; a few capitals
alone are a common noun as often as a name and do not count. A lowercase question names nothing,
and nothing is refused for it: this only ever errs towards answering. A text mentions a name
when it holds it (case and Unicode forms aside), its parts (a possessive, the words of a name of
several), a spelling a letter or two away (OCR, older spellings) or, for an acronym, capitalised
words whose initials spell it.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

from querying.extractive import lexicon
from querying.extractive.weights import WEIGHTS, Weights

# A word, with the inner punctuation of a name ("X-15", "C++", "O'Reilly", "node.js").
_WORD = re.compile(r"[^\W_](?:[\w.+#'’-]*[\w+#])?")
_SENTENCE_END = re.compile(r"(?<=[.?!;:。？！])\s+|[(\[\"“«]")
_POSSESSIVE = re.compile(r"['’]s$")
_LETTERS = re.compile(r"[^\W\d_]+")
# In a question holding one of these words, capitals mark every noun: only capitals, mixed case
# and digits make a name.
_NOUNS_CAPITALISED = lexicon.words("names", "capitalised_nouns")
_ACRONYM_SKIPS = lexicon.words("names", "acronym_skips")


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def question_names(question: str, weights: Weights = WEIGHTS) -> list[str]:
    """The names a question asks about, in order, each once; words of a name written one after
    the other are one name."""
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
                _add(names, run, weights)
                run = [word]
            else:
                _add(names, run, weights)
                run = []
            last_end = match.end()
        _add(names, run, weights)
    return names


@cache
def _abbreviation(capitals: int) -> re.Pattern:
    # Within a longer name ("ESA HDF5") a few capitals stay.
    return re.compile(rf"[A-Z]{{2,{capitals}}}s?")


def _add(names: list[str], run: list[str], weights: Weights) -> None:
    name = " ".join(run)
    if name and name not in names and not _abbreviation(weights.abbreviation_capitals).fullmatch(name):
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
    """Whether consecutive capitalised words (passing over the acronym skip words) have the
    acronym's letters as initials."""
    letters = acronym.casefold()
    kept = [word for word in words if word.casefold() not in _ACRONYM_SKIPS]
    for start in range(len(kept) - len(letters) + 1):
        run = kept[start:start + len(letters)]
        if all(word[0].isupper() for word in run) and "".join(word[0] for word in run).casefold() == letters:
            return True
    return False


def unmentioned(names: list[str], text: str, weights: Weights = WEIGHTS) -> list[str]:
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
        limit = 1 if len(key) <= weights.spelling_one_letter_up_to else 2
        if len(key) >= weights.spelling_min_letters and any(
            _within(key, word, limit) for word in words if abs(len(word) - len(key)) <= limit
        ):
            return True
        if name.isupper() and name.isalpha():
            if not letter_words:
                letter_words.extend(_LETTERS.findall(unicodedata.normalize("NFKC", text)))
            return _spells_acronym(name, letter_words)
        return False

    return [name for name in names if not (_fold(name) in folded or all(mentioned(word) for word in name.split(" ")))]


def mentioned_together(names: list[str], texts: list[str], weights: Weights = WEIGHTS) -> bool:
    """Whether one of the texts mentions every name (as `unmentioned` counts a mention); true for
    fewer than two names."""
    return len(names) < 2 or any(not unmentioned(names, text, weights) for text in texts)
