"""A passage as the asker sees it beside an answer: one shape (SourceSerializer) for POST /query's
`sources`, the stream's sources event and a conversation's messages, and which of the answer's
[n] marks are citations (the page links only those)."""

from __future__ import annotations

import re
import unicodedata

from rest_framework import serializers

from documents.search.api import PassageSerializer
from documents.text.tokenize import tokenize
from querying.prompts import Passage, citation_marks


class SourceSerializer(PassageSerializer):
    n = serializers.IntegerField(help_text="the [n] that cites this passage in the answer")
    page = serializers.IntegerField(allow_null=True, help_text="the PDF's page; null for a passage of another format")
    highlights = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField(), min_length=2, max_length=2),
        help_text="[start, end) character spans of `text` that hold the question's search terms",
    )
    cited = serializers.BooleanField(help_text="whether the answer cites this passage as [n]")


CITATIONS_HELP = (
    "which of the answer's [n] marks are its citations, by their place among the marks (0 the first): a mark the "
    "answer copied from a document with its text (a footnote mark) is not one"
)


def sources_payload(passages: list[Passage], *, searched: str, answer: str) -> tuple[list[dict], list[int]]:
    """The passages an answer was given, as SourceSerializer shows them, each marked with whether
    the answer cites it; and the places of the answer's marks that are citations."""
    marks = citation_marks(answer, [passage.text for passage in passages])
    cited = {n for numbers in marks for n in numbers}
    tokens = set(tokenize(searched, stems=True))
    sources = [source_payload(passage, tokens, cited) for passage in passages]
    return sources, [place for place, numbers in enumerate(marks) if numbers]


def stored_citations(answer: str, sources: list[dict]) -> list[int]:
    """The citations of an answer stored with its sources (a conversation's message), as they
    were when it was given."""
    texts = [str(source.get("text") or "") for source in sources]  # numbered 1..n in order
    return [place for place, numbers in enumerate(citation_marks(answer, texts)) if numbers]


def source_payload(passage: Passage, tokens: set[str], cited: set[int] = frozenset()) -> dict:
    """One passage as SourceSerializer shows it; `tokens` (search's stems) are highlighted."""
    return SourceSerializer({
        "n": passage.number,
        "chunk_id": passage.chunk_id,
        "document_id": passage.document_id,
        "title": passage.title,
        "page": passage.page if passage.section is None else None,
        "section": passage.section or "",
        "anchor": passage.anchor,
        "text": passage.text,
        "score": round(passage.score, 6),
        "url": passage.url,
        "ocr": passage.ocr,
        "highlights": highlight_spans(passage.text, tokens),
        "cited": passage.number in cited,
    }).data


def highlight_spans(text: str, tokens: set[str]) -> list[list[int]]:
    """[start, end] of each word of text that holds one of tokens (stems) as search's tokeniser reads it,
    punctuation around it left out: the page marks what keyword search matched, with no word
    list of its own."""
    spans = []
    for word in re.finditer(r"\S+", text):
        if tokens.intersection(tokenize(word.group(), stems=True)):
            start, end = word.span()
            while start < end - 1 and unicodedata.category(text[start])[0] in "PS":
                start += 1
            while end > start + 1 and unicodedata.category(text[end - 1])[0] in "PS":
                end -= 1
            spans.append([start, end])
    return spans
