"""Properties of the pure text stages of ingestion and search: the BM25 tokeniser, page text
normalisation, sentence splitting and chunking. They must hold for any string, not only for the
text we thought of; each @example is an input that once broke one of them."""

import re
import time
import unicodedata

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from documents.text.chunking import chunk_page, sentence_spans
from documents.text.normalise import normalise_text
from documents.text.tokenize import tokenize
from tests.strategies import texts

MB = 1_000_000


def whitespace_spans(text):
    """A simple deterministic tokenizer: one token per run of non-space characters."""
    return [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]


def wordpiece_like_spans(text):
    """Closer to BERT's pre-tokenizer: words, and each punctuation or symbol character alone."""
    return [(m.start(), m.end()) for m in re.finditer(r"\w+|[^\w\s]", text)]


def character_spans(text):
    """One token per non-space character (as CJK text gets)."""
    return [(i, i + 1) for i, char in enumerate(text) if not char.isspace()]


def within_seconds(seconds, function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    elapsed = time.perf_counter() - started
    assert elapsed < seconds, f"{function.__name__} took {elapsed:.1f} s"
    return result


# 1 MB inputs that punish a quadratic regular expression or loop.
HUGE = {
    "words": "Fill the kettle. " * (MB // 17),
    "spaces inside": "a" + " " * MB + "b",
    "spaces and tabs inside": "a." + " \t" * (MB // 2) + "b",
    "underscores": "_" * MB,
    "hyphens": "-" * MB,
    "dots": "a." * (MB // 2),
    "one long word": "x" * MB,
    "CJK": "東京都の人口。" * (MB // 7),
    "lone marks": "\u0301" * MB,
    "hyphenated breaks": "a-\n" * (MB // 3),
    "short lines": "Heading\n" * (MB // 8),
    "breaks before a bracket": "a." + " \n" * (MB // 2) + ")",
    "controls": "\x00\x01\x7f\x85" * (MB // 4),
    "everything": "".join(chr(c) for c in range(0x20, 0x3000) if not 0xD800 <= c < 0xE000) * (MB // 0x2FE0),
}


# --- tokenize -------------------------------------------------------------------------------


@given(texts())
@example("_")  # once raised IndexError and stopped every index rebuild (fixed in ea1e1d3)
@example("___ _ __")
def test_tokens_are_non_empty_strings_without_whitespace(text):
    tokens = tokenize(text)
    assert all(isinstance(token, str) and token for token in tokens)
    assert not any(char.isspace() for token in tokens for char in token)


@given(texts())
def test_tokens_are_pieces_of_the_folded_text_and_deterministic(text):
    folded = unicodedata.normalize("NFKC", text).casefold()
    tokens = tokenize(text)
    assert all(token in folded for token in tokens)
    assert tokenize(text) == tokens


@given(texts())
def test_stems_change_only_words_of_letters_one_for_one(text):
    """Stemming maps each token to one token: the same count, in order, and only a word of letters
    changes (to a non-empty stem); identifiers, numbers and bigrams are kept as they are."""
    whole, stemmed = tokenize(text), tokenize(text, stems=True)
    assert len(whole) == len(stemmed)
    for word, stem in zip(whole, stemmed):
        assert stem and not any(char.isspace() for char in stem)
        assert stem == word or word.isalpha()


@pytest.mark.parametrize("name", HUGE)
def test_tokenize_1mb_in_linear_time(name):
    within_seconds(5, tokenize, HUGE[name])
    within_seconds(5, lambda text: tokenize(text, stems=True), HUGE[name])


# --- normalise_text -------------------------------------------------------------------------


@given(texts())
@example("0\u20290")  # a paragraph separator became a kept line break, then a space
@example("x" * 50 + "\n" + "y" * 50 + "\nHeading")  # the heading's line, joined, grew too long
@example("a" + " " * 100 + "b\nHeading")  # a short line once its spaces are collapsed
@example("Heading one\n  Heading two\nBody")  # an indented heading after another one
@example("e\u00ad\u0301")  # without the soft hyphen, e and the accent compose
@example("0-\x1b\na0\n0")  # a kept break before a lowercase line was a hyphenated break next time
def test_normalised_text_is_a_fixed_point(text):
    normalised = normalise_text(text)
    assert normalise_text(normalised) == normalised


@given(texts())
@example("\x80")  # C1 controls were kept
@example("page\ud800text")  # and lone surrogates, which cannot be saved as UTF-8
def test_normalised_text_has_no_controls_and_collapsed_whitespace(text):
    normalised = normalise_text(text)
    assert normalised == normalised.strip()
    assert "\x00" not in normalised
    # Newline is the one control character kept (the break after a heading); no lone surrogate
    # (PostgreSQL and UTF-8 refuse them).
    assert not [c for c in normalised if unicodedata.category(c) in ("Cc", "Cs") and c != "\n"]
    assert not re.search(r"[^\S \n]|\s\s", normalised), "whitespace is one space or one newline"


@pytest.mark.parametrize("name", HUGE)
def test_normalise_1mb_in_linear_time(name):
    within_seconds(5, normalise_text, HUGE[name])


# --- sentence_spans -------------------------------------------------------------------------


@given(texts())
@example("\r")  # was one sentence made of whitespace
@example("  Leading and trailing.  ")
def test_sentence_spans_are_ordered_non_empty_and_cover_every_visible_character(text):
    spans = sentence_spans(text)
    position = 0
    covered = set()
    for start, end in spans:
        assert position <= start < end <= len(text)
        assert not text[start].isspace() and not text[end - 1].isspace(), "sentences are stripped"
        covered.update(range(start, end))
        position = end
    assert all(i in covered for i, char in enumerate(text) if not char.isspace())


@given(texts())
@example("Then (see above.) it stops. . . ) and more")
def test_no_sentence_but_the_first_starts_with_a_closing_bracket_or_punctuation(text):
    for start, _ in sentence_spans(text)[1:]:
        assert text[start] not in ")]}»”’）」』】》〉.,;:!?。，；：！？", text[start:start + 20]


@pytest.mark.parametrize("name", HUGE)
def test_sentence_spans_1mb_in_linear_time(name):
    within_seconds(5, sentence_spans, HUGE[name])


# --- chunk_page -----------------------------------------------------------------------------


def check_chunks(chunks, *, page, text, token_spans, max_tokens):
    previous_start = -1
    covered = set()
    for chunk in chunks:
        assert chunk.page == page
        assert chunk.text, "no chunk is empty"
        assert chunk.text == text[chunk.char_start : chunk.char_end].strip()
        assert 0 <= chunk.char_start < chunk.char_end <= len(text)
        assert chunk.char_start > previous_start, "chunks are in page order"
        previous_start = chunk.char_start
        assert chunk.token_count <= max_tokens
        assert len(token_spans(chunk.text)) <= max_tokens, "the model sees the whole chunk"
        covered.update(range(chunk.char_start, chunk.char_end))
    assert all(i in covered for i, char in enumerate(text) if not char.isspace())


TOKENIZERS = st.sampled_from([whitespace_spans, wordpiece_like_spans, character_spans])


@given(
    text=texts(max_size=400),
    page=st.integers(1, 5000),
    token_spans=TOKENIZERS,
    max_tokens=st.integers(8, 40),
    overlap_tokens=st.integers(-5, 40),
)
def test_chunks_fit_the_limit_and_cover_the_page_in_order(text, page, token_spans, max_tokens, overlap_tokens):
    chunks = chunk_page(page=page, text=text, token_spans=token_spans, max_tokens=max_tokens, overlap_tokens=overlap_tokens)
    check_chunks(chunks, page=page, text=text, token_spans=token_spans, max_tokens=max_tokens)


@given(text=texts(max_size=40), max_tokens=st.integers(-10, 7))
def test_chunking_refuses_a_limit_below_8_tokens_unless_there_is_nothing_to_chunk(text, max_tokens):
    if not text.strip():
        assert chunk_page(page=1, text=text, token_spans=whitespace_spans, max_tokens=max_tokens, overlap_tokens=0) == []
    else:
        with pytest.raises(ValueError):
            chunk_page(page=1, text=text, token_spans=whitespace_spans, max_tokens=max_tokens, overlap_tokens=0)


@pytest.mark.parametrize("name", HUGE)
def test_chunk_1mb_in_linear_time(name):
    chunks = within_seconds(
        10, chunk_page, page=7, text=HUGE[name], token_spans=wordpiece_like_spans, max_tokens=200, overlap_tokens=32
    )
    assert all(chunk.page == 7 and chunk.token_count <= 200 for chunk in chunks)


@pytest.fixture(scope="module")
def model_token_spans():
    from documents.embedding import get_embedder

    return get_embedder().token_spans


@given(
    text=st.lists(
        st.one_of(texts(max_size=12, surrogates=False), st.sampled_from(["unbelievable ", "東京都", "Fill the kettle. "])),
        max_size=60,
    ).map("".join),
    max_tokens=st.integers(8, 24),
    overlap_tokens=st.integers(0, 12),
)
# A piece of an over-long sentence cut inside a word ("##ble" alone is "ble") took 16 model
# tokens for a limit of 15, so the model would not have seen all of it.
@example(text="abb bb ccc 0Æa東京都aunbelievable a東京都abb abb 0:0a02", max_tokens=15, overlap_tokens=0)
def test_chunks_fit_the_embedding_models_own_token_limit(model_token_spans, text, max_tokens, overlap_tokens):
    chunks = chunk_page(page=2, text=text, token_spans=model_token_spans, max_tokens=max_tokens, overlap_tokens=overlap_tokens)
    check_chunks(chunks, page=2, text=text, token_spans=model_token_spans, max_tokens=max_tokens)


@given(texts())
def test_every_quotable_unit_has_its_own_meaning_text_in_order(text):
    # Ingest stores one vector per meaning text; the extractive answer maps them back to the
    # units that are not furniture, one for one, so the two lists must agree for any text.
    from documents.text.units import MEANING_WORDS, meaning_text, meaning_texts, units

    quotable = [unit for unit in units(text) if not unit.furniture]
    lines = meaning_texts(text)
    assert lines == [meaning_text(unit) for unit in quotable]
    assert all(line and len(line.split()) <= MEANING_WORDS and line in " ".join(text.split()) for line in lines)


@given(st.integers(min_value=0, max_value=12), st.integers(min_value=1, max_value=48), st.randoms(use_true_random=False))
def test_sentence_vectors_come_back_as_stored_or_not_at_all(count, dimension, rng):
    import numpy as np

    from documents.embedding import sentence_vectors_pack, sentence_vectors_unpack

    vectors = np.array([[rng.uniform(-1, 1) for _ in range(dimension)] for _ in range(count)], dtype=np.float32)
    data = sentence_vectors_pack(vectors)
    back = sentence_vectors_unpack(data, dimension=dimension, count=count)
    if count:
        assert back.shape == (count, dimension) and np.allclose(back, vectors, atol=1e-3)
    else:
        assert back is None
    # Stored for another passage's sentences (more or fewer), or by another model: not used.
    assert sentence_vectors_unpack(data, dimension=dimension, count=count + 1) is None
    assert sentence_vectors_unpack(data, dimension=dimension + 1, count=count) is None
    if count:  # a damaged value (not a number) makes the whole set unusable, not the search
        damaged = bytearray(data)
        damaged[2 * rng.randrange(count * dimension) + 1] |= 0x7C  # exponent all ones: inf or NaN
        assert sentence_vectors_unpack(bytes(damaged), dimension=dimension, count=count) is None


@given(texts(), texts(), texts())
def test_a_text_that_holds_the_question_mentions_every_name_it_asks_about(question, before, after):
    # The extractive answer refuses when the passages never mention a name the question asks
    # about; passages that quote the question itself, whatever it holds, must never be refused.
    from querying.extractive.names import question_names, unmentioned

    names = question_names(question)
    assert unmentioned(names, f"{before}\n{question}\n{after}") == []
    assert all(name and not name.isspace() for name in names)


@given(texts(), st.lists(texts(), max_size=4), texts())
def test_a_text_that_holds_the_question_mentions_its_names_together(question, others, after):
    # Names are refused when no one passage mentions them all; a passage that quotes the
    # question, beside any others, mentions them together.
    from querying.extractive.names import mentioned_together, question_names

    assert mentioned_together(question_names(question), [*others, f"{question}\n{after}"])


@given(texts())
def test_a_question_without_capitals_or_digits_names_nothing(question):
    # Names are told by their writing; a question typed all in lowercase is never refused for one.
    from querying.extractive.names import question_names

    folded = unicodedata.normalize("NFKC", question)
    if not any(c.isupper() or c.isdigit() for c in folded):
        assert question_names(question) == []


VALUES = {
    "money": "It cost $12.50 then.", "date": "It happened on July 4, 1863.", "number": "There were 12 of them.",
    "phone": "Call (703) 545-6700 today.",
}


@given(texts(), texts(), st.sampled_from(sorted(VALUES)))
def test_a_text_that_gives_a_value_of_the_kind_asked_for_is_never_refused_for_lacking_one(before, after, kind):
    # The extractive answer refuses a price, date or count question when what it would quote
    # gives none; a text that holds one, whatever surrounds it, gives one.
    from querying.extractive.values import gives_value

    assert gives_value(kind, f"{before} {VALUES[kind]} {after}")


@given(st.text(st.characters(categories=["Ll", "Lu", "Lo"]), min_size=1, max_size=12), texts(), st.integers(0, 10**6))
def test_a_count_next_to_the_thing_a_how_many_question_counts_answers_it(thing, before, count):
    from querying.extractive.values import counted, gives_value, question_value_kind

    question = f"How many {thing} does the manual list?"
    assert question_value_kind(question) == "number"
    counts = counted(question)
    assert gives_value("number", f"{before}. It lists {count} {thing} in all.", counts), counts


@given(st.text(st.characters(categories=["Ll", "Lu", "Lo"]), min_size=1, max_size=12), texts(), st.integers(0, 10**6))
def test_a_number_next_to_what_a_limit_question_limits_answers_it(thing, before, count):
    from querying.extractive.values import counted, gives_value, question_value_kind

    assume(len(unicodedata.normalize("NFKC", thing).split()) == 1)  # "ﷺ" is four words in NFKC
    question = f"What is the {thing} limit for a full paper?"
    assert question_value_kind(question) == "number"
    assert gives_value("number", f"{before}. Papers are limited to {count} {thing}.", counted(question))


@given(st.sampled_from(["How do I", "how can we", "How to", "Which function", "What command"]), texts())
def test_a_question_that_asks_for_a_way_expects_no_value(opening, rest):
    # "How do I find out how many arguments were passed?" is answered by nargin, not a number:
    # such a question is never refused for the lack of one.
    from querying.extractive.values import question_value_kind

    assert question_value_kind(f"{opening} {rest} how many pages and what price?") is None


@given(
    st.sampled_from(["Is", "can", "Do", "Should", "Who", "where", "Why", "Am"]),
    st.text(st.characters(exclude_characters=".?!"), max_size=40),
    st.sampled_from(["the price", "how many pages", "on what date", "the page limit"]),
)
def test_a_yes_no_who_where_or_why_question_expects_no_value(opening, rest, value):
    # "Am I allowed to shrink the margins to fit the page limit?" is not answered by a number.
    from querying.extractive.values import question_value_kind

    assert question_value_kind(f"{opening} {rest} {value}?") is None


@given(texts(surrogates=False))
@example("Что делает команда mktexlsr?")
@example("_ __ ___")
def test_vocabulary_coverage_is_a_share_that_depends_on_the_words_not_how_many(text):
    # The search weighs the dense list by it (documents.search.selectors._dense_weight): any
    # question must give a share, and saying a question twice must not make it read better. (A
    # lone surrogate never gets this far: the API refuses it, and the tokeniser cannot take it.)
    from documents.embedding import get_embedder

    coverage = get_embedder().vocabulary_coverage
    share = coverage(text)
    assert 0.0 <= share <= 1.0
    assert coverage(f"{text} {text}") == pytest.approx(share, abs=1e-9)
