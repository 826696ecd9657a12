"""Split a page's text into overlapping chunks that fit the embedding model's token limit.

Pure code: the tokenizer comes in as a function returning the character span of each token,
so chunk sizes are measured in the model's own tokens without this module loading a model.
"""

import re
from bisect import bisect_left
from dataclasses import dataclass
from typing import Callable, Sequence

TokenSpans = Callable[[str], Sequence[tuple[int, int]]]

# A sentence ends at . ! ? ; : (or the Arabic, Devanagari and Greek marks) followed by space,
# or right after a CJK full stop, which takes no space; a kept line break (after a heading) too.
# Not when what follows is a closing bracket or quote, or more punctuation: a sentence starts with
# neither, and manuals write an elided argument list as "fzero (. . . )", whose pieces would
# otherwise become sentences of their own and cut the function's name off its description.
# A line break is looked for only from the start of a run of whitespace, and no run is matched
# twice (possessive quantifiers): tried from every position inside a long run, `\s*\n` took
# quadratic time (minutes for a page of 1 MB).
_NO_SENTENCE_START = r")\]}»”’）」』】》〉.,;:!?。，；：！？"
_SENTENCE_END = re.compile(
    rf"(?<=[.!?;:\u061f\u06d4\u0964\u0965\u037e])\s++(?=[^\s{_NO_SENTENCE_START}])"
    rf"|(?<=[\u3002\uff01\uff1f\uff1b])\s*+(?=[^\s{_NO_SENTENCE_START}])"
    rf"|(?<!\s)[^\S\n]*+\n\s*+(?=[^\s{_NO_SENTENCE_START}])"
)
# Nor after an abbreviation on the same line: dotted initials ("U.S. Code", "e.g. the", "P.O.B.
# 1723"), a title or "vs."/"cf.", and a numbering word before its number ("No. 166, Sec. 2",
# "Fig. 3", "pp. 12"), which a form's address or a paper's reference would otherwise lose.
_ABBREVIATION = re.compile(
    r"(?<![\w.])(?:(?P<initials>(?:[^\W\d_]\.)+[^\W\d_])|(?P<title>Mrs?|Ms|Dr|Prof|St|vs|cf|approx)"
    r"|(?P<numbering>(?i:nos?|nr|figs?|vols?|secs?|eqs?|refs?|pp?|ch|art|tab)))\.\Z"
)


@dataclass(frozen=True)
class ChunkDraft:
    page: int
    text: str
    char_start: int
    char_end: int
    token_count: int


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences in text; each starts and ends with a character that is
    not whitespace (whitespace between, before and after them is left out)."""
    spans, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        if text[match.start() - 1] == "." and "\n" not in match.group() and _abbreviated(text, match):
            continue
        spans.append((start, match.start()))
        start = match.end()
    spans.append((start, len(text)))
    return [_stripped(text, start, end) for start, end in spans if text[start:end].strip()]


def _abbreviated(text: str, match: re.Match) -> bool:
    """Whether the full stop before match ends an abbreviation rather than a sentence."""
    # An abbreviation here is a dozen characters at most; the look-behind sees the text before them.
    found = _ABBREVIATION.search(text, max(0, match.start() - 12), match.start())
    if found is None:
        return False
    return not found.group("numbering") or text[match.end()].isdigit()


def _stripped(text: str, start: int, end: int) -> tuple[int, int]:
    sentence = text[start:end]
    return start + len(sentence) - len(sentence.lstrip()), start + len(sentence.rstrip())


def _sentence_pieces(text, start, end, *, starts, token_spans, max_tokens) -> list[tuple[int, int, int]]:
    """An over-long sentence cut at token boundaries into pieces of at most max_tokens tokens each.

    A piece is counted again on its own: one that starts inside a word tokenizes differently
    from the same characters in the sentence (WordPiece's "##able" is "able", or more pieces), and
    the model must see all of it."""
    pieces = []
    first, last = bisect_left(starts, start), bisect_left(starts, end)
    while first < last:
        stop = min(first + max_tokens, last)
        while True:
            piece_end = starts[stop] if stop < last else end
            count = len(token_spans(text[start:piece_end]))
            if count <= max_tokens or stop == first + 1:
                break
            stop -= 1
        pieces.append((start, piece_end, count))
        first, start = stop, piece_end
    return pieces


def chunk_page(
    *, page: int, text: str, token_spans: TokenSpans, max_tokens: int, overlap_tokens: int
) -> list[ChunkDraft]:
    """Chunks of one page: whole sentences packed up to max_tokens, the last few sentences of a
    chunk (up to overlap_tokens) repeated at the start of the next. A sentence longer than
    max_tokens is cut at token boundaries."""
    if not text.strip():
        return []
    if max_tokens < 8:
        raise ValueError("max_tokens must be at least 8")
    overlap_tokens = max(0, min(overlap_tokens, max_tokens // 2))
    starts = [start for start, _ in token_spans(text)]

    def tokens_between(start: int, end: int) -> int:
        return bisect_left(starts, end) - bisect_left(starts, start)

    units = []  # (char_start, char_end, tokens): sentences, or pieces of over-long sentences
    for s_start, s_end in sentence_spans(text):
        count = tokens_between(s_start, s_end)
        if count <= max_tokens:
            units.append((s_start, s_end, count))
            continue
        units.extend(_sentence_pieces(text, s_start, s_end, starts=starts, token_spans=token_spans, max_tokens=max_tokens))

    chunks: list[ChunkDraft] = []
    current: list[tuple[int, int, int]] = []
    current_tokens = 0

    def emit():
        start, end = current[0][0], current[-1][1]
        chunks.append(
            ChunkDraft(page=page, text=text[start:end].strip(), char_start=start, char_end=end, token_count=current_tokens)
        )

    for unit in units:
        if current and current_tokens + unit[2] > max_tokens:
            emit()
            carried, carried_tokens = [], 0
            for previous in reversed(current):
                if carried_tokens + previous[2] > overlap_tokens or carried_tokens + previous[2] + unit[2] > max_tokens:
                    break
                carried.insert(0, previous)
                carried_tokens += previous[2]
            current, current_tokens = carried, carried_tokens
        current.append(unit)
        current_tokens += unit[2]
    if current and (not chunks or current[-1][1] > chunks[-1].char_end):
        emit()
    return chunks
