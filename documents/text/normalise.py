"""What a page's raw text becomes before it is chunked. Pure code."""

import re
import unicodedata

_HYPHEN_BREAK = re.compile(r"(\w)[-\u00ad\u2010]\s*\n\s*(?=[a-z\u00df-\u00ff])")
_SOFT_HYPHEN = re.compile("\u00ad")
# Control characters, C0 and C1 (PostgreSQL refuses NUL in text), and lone surrogates (they have
# no UTF-8 form: saving or encoding the text would fail); tab and newlines become spaces below.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_WHITESPACE = re.compile(r"\s+")


# A short line that starts with a capital or a digit, has no closing punctuation and comes before
# a line that starts with one too is a heading (or a list item): the line breaks around it are
# kept, as sentence boundaries. Lines are measured with their spaces collapsed, as in the result.
_CAPITAL = "A-Z0-9\u0391-\u03a9\u0410-\u042f"
_HEADING_BREAK = re.compile(rf"(?m)^ ?([{_CAPITAL}][^\n]{{0,79}}[^\s.,;:!?\-]) ?\n(?=\s*[{_CAPITAL}])")
_SPACES = re.compile(r"[^\S\n]+")
_LINES = re.compile(r"\s*\n\s*")


def normalise_text(raw: str) -> str:
    """NFKC (ligatures become letters), hyphenated line breaks joined, whitespace collapsed, control
    characters dropped; the line breaks around a heading are kept (as "\n") so that it does not
    run into the sentences beside it. Normalised text is left as it is by normalising it again."""
    text = unicodedata.normalize("NFKC", raw)
    text = _HYPHEN_BREAK.sub(r"\1", text)
    # Dropping a soft hyphen or joining a broken word can put a letter beside a mark: compose again.
    text = unicodedata.normalize("NFKC", _SOFT_HYPHEN.sub("", text))
    text = _CONTROL.sub(" ", text).replace("\r\n", "\n").replace("\r", "\n")
    # NUL (no longer in the text) marks the kept breaks while all other whitespace collapses.
    text = _HEADING_BREAK.sub("\x00\\1\x00", _SPACES.sub(" ", text))
    text = _WHITESPACE.sub(" ", text).replace("\x00", "\n")
    return _LINES.sub("\n", text).strip()
