"""Properties of the pure stages of answering: SSE framing, prompt building and the extractive
answerer. Any question and any passage text: a lone surrogate from a JSON request, newlines and
carriage returns, right-to-left text, 1 MB of it."""

import json
import re

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from querying.llm.extractive import ExtractiveProvider
from querying.prompts import (
    NOT_FOUND,
    SYSTEM_TEMPLATE,
    Passage,
    Prompt,
    estimate_tokens,
    prompt_build,
)
from querying.sse import HEARTBEAT, PING, EventFormatter, sse_comment, sse_event
from tests.strategies import texts

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | texts(max_size=60),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(texts(max_size=10), children, max_size=4),
    max_leaves=12,
)


def passages_of(texts_):
    return [
        Passage(number=0, chunk_id=i, document_id=1, title=f"Doc {i}", page=i + 1, text=text, score=1 / (i + 1))
        for i, text in enumerate(texts_)
    ]


# --- SSE ------------------------------------------------------------------------------------


@given(st.dictionaries(texts(max_size=10), json_values, max_size=4), st.integers(1, 10**9))
@example({"token": "\ud800"}, 1)  # a lone surrogate raised UnicodeEncodeError mid-stream
@example({"token": "line\r\nbreak\rand\n\ndata: x"}, 2)
def test_an_event_is_one_data_line_that_parses_back(data, event_id):
    event = sse_event(data, event_id=event_id)
    text = event.decode("utf-8")  # valid UTF-8
    assert text.endswith("\n\n")
    lines = text[:-2].split("\n")
    assert lines[0] == f"id: {event_id}" and lines[1].startswith("data: ") and len(lines) == 2
    assert "\r" not in text
    assert json.loads(lines[1][len("data: ") :]) == json.loads(json.dumps(data))


@given(texts())
@example("\ud800")
def test_a_comment_is_only_comment_lines(text):
    comment = sse_comment(text).decode("utf-8")
    assert comment.endswith("\n\n") and "\r" not in comment
    assert all(line.startswith(":") for line in comment[:-2].split("\n"))


@given(st.lists(st.one_of(st.just(HEARTBEAT), st.dictionaries(texts(max_size=5), texts(max_size=20), max_size=2))))
def test_formatter_numbers_events_and_pings_on_heartbeats(items):
    formatter = EventFormatter()
    ids = []
    for item in items:
        frame = formatter(item)
        if item is HEARTBEAT:
            assert frame == PING
        else:
            ids.append(int(frame.split(b"\n", 1)[0].removeprefix(b"id: ")))
    assert ids == list(range(1, len(ids) + 1))


# --- prompt_build ---------------------------------------------------------------------------


@given(
    question=texts(max_size=200),
    passage_texts=st.lists(texts(max_size=3000), max_size=5),
    token_budget=st.integers(0, 4000),
)
# The best passage, cut to the room left by its share of characters, overflowed the budget by 70%
# when its script changed along the way (1000 CJK characters then Latin words).
@example(question="q", passage_texts=["東" * 1000 + " " + "a " * 1000], token_budget=900)
def test_prompt_stays_within_its_budget(question, passage_texts, token_budget):
    passages = passages_of(passage_texts)
    prompt = prompt_build(question=question, passages=passages, token_budget=token_budget)
    assert prompt.messages[-1] == {"role": "user", "content": question}
    assert [p.number for p in prompt.passages] == list(range(1, len(prompt.passages) + 1))
    assert [p.chunk_id for p in prompt.passages] == [p.chunk_id for p in passages[: len(prompt.passages)]]
    if passages:
        assert prompt.passages, "there is always something to answer from"
    # Each passage stays inside its own <source> tags, whatever it holds.
    assert prompt.system.count("</source>") == len(prompt.passages)
    fixed = estimate_tokens(SYSTEM_TEMPLATE.format(not_found=NOT_FOUND, sources="")) + estimate_tokens(question)
    if token_budget - fixed >= 300:  # room for more than the few words the best passage always keeps
        assert estimate_tokens(prompt.system) + estimate_tokens(question) <= token_budget


def test_prompt_of_1mb_passages_in_linear_time():
    import time

    started = time.perf_counter()
    prompt_build(question="q " * 2000, passages=passages_of(["東京 word " * 100_000] * 5), token_budget=3000)
    assert time.perf_counter() - started < 5


# --- the extractive answerer ----------------------------------------------------------------


@pytest.fixture(scope="module")
def extractive():
    """With semantic scoring: the embedding model is loaded once for the module."""
    provider = ExtractiveProvider(semantic=True)
    provider.answer("warm up", passages_of(["The model is loaded once. It is then reused."]))
    return provider


@given(question=texts(max_size=200), passage_texts=st.lists(texts(max_size=600), max_size=4))
@example(question="_", passage_texts=["_ _ _. ___"])
@example(question="\ud800", passage_texts=["\ud800 is not text. It is half of a pair."])
def test_extractive_answers_any_question_from_any_passages(extractive, question, passage_texts):
    passages = passages_of(passage_texts)
    for number, passage in enumerate(passages, start=1):
        passage.number = number
    answer = extractive.answer(question, passages)
    assert isinstance(answer, str) and answer
    cited = {int(n) for n in re.findall(r"\[(\d+)\]$", answer) + re.findall(r"\[(\d+)\] ", answer)}
    assert answer == NOT_FOUND or cited <= set(range(1, len(passages) + 1))
    prompt = Prompt(system="", messages=[{"role": "user", "content": question}], passages=passages)
    streamed = extractive.generate(prompt, {})  # what stream() yields, joined
    assert streamed == answer


def test_extractive_answers_from_1mb_of_passages(extractive):
    import time

    words = ExtractiveProvider(semantic=False)
    started = time.perf_counter()
    # A long run of spaces without a line break made sentence splitting quadratic (minutes).
    text = "The warranty lasts two years. x" + " " * 500_000 + "y\n" + "Keep the receipt.\n" * 20_000
    assert isinstance(words.answer("How long is the warranty?", passages_of([text])), str)
    assert time.perf_counter() - started < 10


# --- the extractive answer's guards, weights and word lists ---------------------------------


def _no_quote():
    raise AssertionError("the quote was worked out though no rule asked for it")


@given(
    question=st.one_of(
        texts(max_size=200).map(str.lower),
        st.sampled_from(["how do i", "which function", "is there", "where is"]).flatmap(
            lambda opening: texts(max_size=60).map(lambda rest: f"{opening} {rest.lower()} the price?")
        ),
    ),
    passage_texts=st.lists(texts(max_size=300), max_size=4),
)
def test_the_guards_never_refuse_a_question_that_names_nothing_and_asks_for_no_value(question, passage_texts):
    from querying.extractive.guards import NAME_RULES, VALUE_RULES, Draft, refusal
    from querying.extractive.names import question_names
    from querying.extractive.values import question_value_kind

    assume(not question_names(question) and question_value_kind(question) is None)
    # Nor do they work out the quote, which costs the scoring, for such a question.
    assert refusal(NAME_RULES + VALUE_RULES, Draft(question, passages_of(passage_texts), _no_quote)) is None



@given(question=texts(max_size=200))
def test_no_passages_is_never_an_answer_nor_a_refusal_that_names_something(question):
    # Nothing found: the plain NOT_FOUND, not "None of the passages found mentions ...".
    assert ExtractiveProvider(semantic=False).answer(question, []) == NOT_FOUND

@given(
    question=texts(max_size=200),
    titles=st.lists(texts(max_size=30), min_size=1, max_size=4),
    others=st.lists(texts(max_size=300), max_size=3),
)
def test_passages_one_of_which_quotes_the_question_pass_the_name_guards(question, titles, others):
    from querying.extractive.guards import NAME_RULES, Draft, refusal

    passages = passages_of([*others, question])
    for passage, title in zip(passages, titles):
        passage.title = title
    assert refusal(NAME_RULES, Draft(question, passages, _no_quote)) is None


VALUE_QUESTIONS = {
    "money": ("What is the price of a ticket?", "It cost $12.50 then."),
    "date": ("On what date did the office open?", "It happened on July 4, 1863."),
    "number": ("How many were there?", "There were 12 of them."),
    "phone": ("What is the telephone number of the office?", "Call (703) 545-6700 today."),
}


@given(kind=st.sampled_from(sorted(VALUE_QUESTIONS)), before=texts(max_size=100), after=texts(max_size=100))
def test_the_value_guard_refuses_exactly_the_quotes_that_give_no_value_of_the_kind_asked_for(kind, before, after):
    from querying.extractive.guards import Draft, value_given
    from querying.extractive.quoting import Quote
    from querying.extractive.values import gives_value

    question, value = VALUE_QUESTIONS[kind]
    giving = Quote([(1, before), (2, f"{value} {after}")])
    assert value_given(Draft(question, passages_of([before]), lambda: giving)) is None
    refused = value_given(Draft(question, passages_of([before]), lambda: Quote([(1, before), (2, after)])))
    if gives_value(kind, f"{before}\n{after}"):  # the quoted words, one place a line
        assert refused is None
    else:
        name = {"money": "amount of money", "date": "date", "number": "number", "phone": "telephone number"}[kind]
        assert refused == f"{NOT_FOUND} The passages closest to it give no {name}."
    # Nothing quoted: nothing to judge (the answer says NOT_FOUND).
    assert value_given(Draft(question, passages_of([before]), lambda: None)) is None


@given(
    options=st.fixed_dictionaries({}, optional={
        "max_sentences": st.integers(0, 8), "min_relevance": st.floats(0, 1), "shortlist": st.integers(0, 20),
        "first_passage": st.integers(0, 20), "rank_prior": st.floats(0, 1), "definition_boost": st.floats(0, 1),
        "next_sentences": st.integers(0, 4),
    }),
    require_names=st.booleans(),
    require_value=st.booleans(),
)
def test_the_provider_options_reach_the_frozen_weights_and_choose_the_guards(options, require_names, require_value):
    import dataclasses

    from querying.extractive import WEIGHTS
    from querying.extractive.guards import NAME_RULES, VALUE_RULES

    provider = ExtractiveProvider(**options, require_names=require_names, require_value=require_value)
    weights = provider.extractor.weights
    assert weights == dataclasses.replace(WEIGHTS, **options)
    # In order: the names before the value, whose check works out the quote.
    assert provider.extractor.rules == (NAME_RULES if require_names else ()) + (VALUE_RULES if require_value else ())
    with pytest.raises(dataclasses.FrozenInstanceError):
        weights.min_relevance = 0.0


def test_every_listed_word_is_written_as_the_words_it_is_compared_with_are():
    # The rules compare case-folded NFKC words with these lists: a word listed otherwise
    # ("Der", "für" decomposed) would never match. Every pattern compiles, its names resolved.
    import unicodedata

    from querying.extractive import lexicon

    assert lexicon.languages()
    for code in lexicon.languages():
        for section, entries in lexicon.language(code).items():
            for name, value in entries.items():
                if isinstance(value, list):
                    assert value and len(set(value)) == len(value), (code, section, name)
                    assert all(word == unicodedata.normalize("NFKC", word).casefold().strip() for word in value), name
                else:
                    assert lexicon.pattern(code, section, name).pattern, (code, section, name)
