"""Hypothesis strategies for text nobody on the team would think of writing: every Unicode
category (surrogates included, as a JSON string can carry them), and fragments that broke or
could break text code (lone marks, controls, right-to-left text, ZWJ emoji, CJK, underscores)."""

import re

from hypothesis import strategies as st

# Any code point, surrogates and unassigned ones included.
any_char = st.characters(codec=None, exclude_categories=())
# Any code point a UTF-8 document can hold (no lone surrogates).
text_char = st.characters(codec="utf-8", exclude_categories=())

FRAGMENTS = [
    # lone combining marks (Mn, Mc, Me), before a word, after a space, alone
    "\u0301", "\u0300\u0301", "\u093e", "\u20dd", "\u0e31", "e\u0301", " \u0308",
    # control and format characters, line and paragraph separators
    "\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x1f", "\x7f", "\x85", "\x9f",
    "\u200b", "\u200c", "\u200d", "\u200e", "\u202e", "\u2066", "\ufeff", "\ufffe", "\uffff",
    "\u2028", "\u2029", "\r", "\r\n", "\n", "\n\n", "\t", " ", "   ", "\u00a0", "\u3000", "\u00ad",
    # right-to-left scripts
    "مرحبا بالعالم", "؟", "۔", "שָׁלוֹם עוֹלָם", "\u05be",
    # emoji: ZWJ sequences, skin tones, flags, keycaps, tags
    "👩\u200d💻", "👨\u200d👩\u200d👧\u200d👦", "👍🏽", "🇫🇷", "1\ufe0f\u20e3", "🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f",
    # scripts written without spaces, and full-width forms
    "東京都の人口", "。", "！", "한국어", "ภาษาไทย", "ＦＵＬＬ", "ﬁ", "㍿",
    # underscores, hyphens and punctuation runs, identifiers
    "_", "__", "____", "_a_", "-", "--", "---", "-_-", ".", "...", "?!", ";:", "::", "@", "'", "++", "#",
    "C++", "C#", "read.table", "-dPDFX", "std::vector", "a_b", "3.14", "x/y", "user@host",
    # words and sentences
    "a", "the", "Word", "word ", "The end. ", "Heading\n", "A sentence here. Another one! ", "hyphen-\nated",
    # lone surrogates (JSON may carry them; a PDF text layer should not)
    "\ud800", "\udfff", "\ud83d",
]
_SURROGATE = re.compile("[\ud800-\udfff]")


def texts(*, max_size: int = 200, surrogates: bool = True) -> st.SearchStrategy[str]:
    """Strings from every Unicode category, or strung together from the fragments above."""
    fragments = FRAGMENTS if surrogates else [f for f in FRAGMENTS if not _SURROGATE.search(f)]
    chars = any_char if surrogates else text_char
    pieces = st.one_of(st.sampled_from(fragments), st.text(chars, min_size=1, max_size=4))
    return st.one_of(
        st.text(chars, max_size=max_size),
        st.lists(pieces, max_size=max_size // 4).map("".join),
    )
