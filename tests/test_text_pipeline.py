"""Normalisation and chunking: pure code, no database."""

import re

import pytest

from documents.text.chunking import chunk_page, sentence_spans
from documents.text.normalise import normalise_text


def word_spans(text):
    """A stand-in tokenizer: one token per word or punctuation mark, with character spans."""
    return [match.span() for match in re.finditer(r"\w+|[^\w\s]", text)]


def test_ligatures_become_letters_and_hyphenated_breaks_join():
    raw = "The \ufb01rst of\ufb02ine con-\nfiguration  is\n\n e\ufb03cient.\x00"
    assert normalise_text(raw) == "The first offline configuration is efficient."


def test_hyphen_before_a_capital_is_kept():
    # "Wi-\nFi": the next word starts with a capital, so it is a real hyphen, not a line-break one.
    assert normalise_text("Wi-\nFi") == "Wi- Fi"


def test_sentence_spans_cover_latin_and_cjk():
    text = "First one. Second one! 第一句。第二句。"
    pieces = [text[a:b] for a, b in sentence_spans(text)]
    assert pieces == ["First one.", "Second one!", "第一句。", "第二句。"]


def test_chunks_follow_sentences_fit_the_limit_and_overlap():
    sentences = [f"Sentence number {i} talks about topic {i}." for i in range(60)]
    text = " ".join(sentences)
    chunks = chunk_page(page=7, text=text, token_spans=word_spans, max_tokens=40, overlap_tokens=10)
    assert len(chunks) > 5
    for chunk in chunks:
        assert chunk.page == 7
        assert len(word_spans(chunk.text)) <= 40
        assert chunk.text == text[chunk.char_start : chunk.char_end]
        assert chunk.text.startswith("Sentence") and chunk.text.endswith(".")
    for previous, following in zip(chunks, chunks[1:]):
        # The last sentence of one chunk starts the next: a little overlap, never a gap.
        assert following.char_start < previous.char_end
    assert chunks[0].char_start == 0 and chunks[-1].char_end == len(text)


def test_an_over_long_sentence_is_cut_at_token_boundaries():
    text = " ".join(f"w{i}" for i in range(250))  # one sentence, 250 tokens
    chunks = chunk_page(page=1, text=text, token_spans=word_spans, max_tokens=100, overlap_tokens=0)
    assert [len(word_spans(c.text)) for c in chunks] == [100, 100, 50]
    assert " ".join(c.text for c in chunks) == text


def test_empty_page_gives_no_chunks():
    assert chunk_page(page=1, text="  ", token_spans=word_spans, max_tokens=50, overlap_tokens=5) == []


def test_chunks_measured_in_the_models_own_tokens():
    from documents.embedding import get_embedder

    embedder = get_embedder()
    text = "Antidisestablishmentarianism notwithstanding, tokenisation differs from words. " * 40
    chunks = chunk_page(page=1, text=text, token_spans=embedder.token_spans, max_tokens=64, overlap_tokens=8)
    for chunk in chunks:
        assert len(embedder.token_spans(chunk.text)) <= 64
    # Far fewer words than tokens fit: the limit is not counted in words.
    assert max(len(c.text.split()) for c in chunks) < 64


def test_max_tokens_must_be_sane():
    with pytest.raises(ValueError):
        chunk_page(page=1, text="a b c", token_spans=word_spans, max_tokens=2, overlap_tokens=0)


def test_a_heading_keeps_its_line_break_and_is_a_sentence_of_its_own():
    text = normalise_text("Care and Warranty\nClean the funnel every three months. Wipe\nthe panel.")
    assert text == "Care and Warranty\nClean the funnel every three months. Wipe the panel."
    assert [text[a:b] for a, b in sentence_spans(text)] == [
        "Care and Warranty", "Clean the funnel every three months.", "Wipe the panel."
    ]


def test_an_elided_argument_list_stays_in_its_sentence():
    # As the Octave manual prints a function's signatures, then what the function does.
    text = "x = fzero (fun, x0) [x, fval] = fzero (. . . ) Find a zero of a univariate function. It starts at x0."
    assert [text[a:b] for a, b in sentence_spans(text)] == [
        "x = fzero (fun, x0) [x, fval] = fzero (. . . ) Find a zero of a univariate function.", "It starts at x0."
    ]
    wrapped = "fminsearch (fun, x0, options,\n. . . )\nFind a value of x which minimizes fun."
    assert [wrapped[a:b] for a, b in sentence_spans(wrapped)] == [
        "fminsearch (fun, x0, options,\n. . . )", "Find a value of x which minimizes fun."
    ]


def test_no_sentence_starts_with_a_closing_bracket_or_quote():
    text = "Then (see the note above.) it stops. 他说：“好。”然后走了。"
    pieces = [text[a:b] for a, b in sentence_spans(text)]
    assert pieces == ["Then (see the note above.) it stops.", "他说：“好。”然后走了。"]


def test_an_abbreviation_does_not_end_a_sentence():
    # An address block of a real form (tests/corpus: indirect-rotation-scan.pdf), a code citation,
    # and the numbering and dotted abbreviations of papers and manuals.
    text = (
        "Evergreen Building\nNo. 166, Sec. 2, Minsheng East Road\nTaipei, Taiwan\n"
        "Reviewed under Title 10, U.S. Code, Section 1553. See Fig. 3 and pp. 12-14, e.g. the table. "
        "Is it kept? No. The count is not."
    )
    assert [text[a:b] for a, b in sentence_spans(text)] == [
        "Evergreen Building", "No. 166, Sec. 2, Minsheng East Road", "Taipei, Taiwan",
        "Reviewed under Title 10, U.S. Code, Section 1553.", "See Fig. 3 and pp. 12-14, e.g. the table.",
        "Is it kept?", "No.", "The count is not.",
    ]
