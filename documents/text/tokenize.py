"""The one tokeniser BM25 uses, at build time and at query time. Pure code.

- Text is NFKC-normalised and case-folded; punctuation separates tokens.
- Identifiers keep their inner punctuation as one extra token beside their parts, so
  `read.table` gives `read.table`, `read`, `table`; `-dPDFX` gives `-dpdfx` and `dpdfx`;
  `C++` gives `c++` and `c`. A query written either way finds the passage.
- Scripts written without spaces (Han, kana, Hangul, Thai, Lao, Khmer, Myanmar) become overlapping
  character bigrams (a lone character stays a unigram), the usual answer when no word segmenter
  is at hand. Combining marks stay inside their word (Devanagari, Arabic, accented Latin).
- A short list of English function words is dropped, unless they are part of an identifier.
- With `stems`, a word of letters only is cut to its stem by the Snowball stemmer of its script's
  main language (Latin: English, Cyrillic: Russian, Greek, Arabic), so "reaches" finds "reach"
  and "установка" finds "установить". Identifiers stay whole beside their stemmed parts.
"""

import re
import threading
import unicodedata

import Stemmer


def _mark_ranges() -> str:
    """A character-class body with the Unicode combining marks (categories Mn, Mc, Me) of the
    Basic Multilingual Plane. The few marks beyond it (historic scripts) are left out: a class
    that reaches past U+FFFF is no longer a bitmap and makes the tokeniser twice as slow."""
    ranges, start, previous = [], None, None
    for code in range(0x10000):
        if unicodedata.category(chr(code))[0] == "M":
            if start is None:
                start = code
            previous = code
        elif start is not None:
            ranges.append((start, previous))
            start = None
    if start is not None:
        ranges.append((start, previous))
    return "".join(f"\\U{a:08x}-\\U{b:08x}" if a != b else f"\\U{a:08x}" for a, b in ranges)


_WORD = rf"[\w{_mark_ranges()}]"


def _token_pattern(word: str) -> re.Pattern:
    # A word; words joined by single connector characters form one identifier (read.table,
    # a-b, x/y, user@host, 3.14, std::vector); an optional leading '-' or '--' (command-line
    # options) and a trailing '++', '+' or '#' (C++, C#).
    return re.compile(rf"-{{0,2}}{word}+(?:(?:[.\-/@']|::){word}+)*(?:\+\+|#|\+)?")


_TOKEN = _token_pattern(_WORD)
_PART = re.compile(rf"(?:(?!_){_WORD})+")  # underscores split parts too

# Scripts written without spaces between words.
_NO_SPACE_SCRIPTS = (
    "\u0e00-\u0eff"  # Thai, Lao
    "\u1000-\u109f"  # Myanmar
    "\u1780-\u17ff"  # Khmer
    "\u1100-\u11ff\u3130-\u318f\uac00-\ud7af"  # Hangul
    "\u3040-\u30ff\u31f0-\u31ff"  # Hiragana, Katakana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # Han
    "\U00020000-\U0003134f"  # Han, extensions
)
_NO_SPACE_RUN = re.compile(f"[{_NO_SPACE_SCRIPTS}]+")

ENGLISH_STOPWORDS = frozenset(
    "a an and are as at be but by for from has have in is it its of on or that the their there these "
    "this to was were which will with".split()
)


# The Snowball stemmer of a script's main language, by the range of the word's first letter.
_STEMMED_SCRIPTS = (
    (0x0000, 0x024F, "english"),  # Latin, with its supplement and extensions
    (0x0370, 0x03FF, "greek"),
    (0x0400, 0x052F, "russian"),  # Cyrillic and its supplement
    (0x0600, 0x06FF, "arabic"),
)


_per_thread = threading.local()


def _stemmer(language: str):
    """This thread's stemmer for language: a Snowball stemmer keeps state while it works and must
    not be called from two threads at once (the retrieval threads and the stream's pools tokenise
    concurrently)."""
    stemmers = _per_thread.__dict__.setdefault("stemmers", {})
    found = stemmers.get(language)
    if found is None:
        found = stemmers[language] = Stemmer.Stemmer(language)
    return found


def stem(word: str) -> str:
    """The stem of a word of letters (casefolded) in its script's main language; the word itself
    where its script has no stemmer."""
    first = ord(word[0])
    for low, high, language in _STEMMED_SCRIPTS:
        if low <= first <= high:
            return _stemmer(language).stemWord(word) or word
    return word


def _bigrams(run: str) -> list[str]:
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


def _word_tokens(word: str, out: list[str], stems: bool) -> None:
    """A run of word characters: bigrams for its no-space-script stretches, the rest as is
    (stemmed when stems and it is letters only)."""
    position = 0
    for match in _NO_SPACE_RUN.finditer(word):
        if match.start() > position:
            out.append(word[position : match.start()])
        out.extend(_bigrams(match.group()))
        position = match.end()
    if position == 0:
        out.append(stem(word) if stems and word.isalpha() else word)
    elif position < len(word):
        out.append(word[position:])


def tokenize(text: str, *, stopwords: frozenset[str] = ENGLISH_STOPWORDS, stems: bool = False) -> list[str]:
    """BM25 tokens of text, in order (a compound identifier comes before its parts); words cut to
    their stems with `stems`."""
    text = unicodedata.normalize("NFKC", text).casefold()
    tokens: list[str] = []
    append = tokens.append
    for token in _TOKEN.findall(text):
        # Fast path, most tokens: one plain word (letters and digits only, no bigram script).
        if token.isalnum() and (token.isascii() or not _NO_SPACE_RUN.search(token)):
            if token not in stopwords:
                append(stem(token) if stems and token.isalpha() else token)
            continue
        parts = _PART.findall(token)
        if not parts:  # underscores alone (form blanks "____", a lone "_"): nothing to search for
            continue
        if len(parts) > 1 or token != parts[0]:
            if not _NO_SPACE_RUN.search(token):
                append(token)
        for part in parts:
            if part in stopwords and len(parts) == 1:
                continue
            _word_tokens(part, tokens, stems)
    return tokens
