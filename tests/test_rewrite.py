"""Properties of the pure conversation code: the heuristic rewrite of follow-ups, the reading of
a model's rewrite, and the history given to a model (querying.rewrite, querying.prompts)."""

from hypothesis import given
from hypothesis import strategies as st

from documents.text.tokenize import tokenize
from querying.prompts import estimate_tokens, history_messages, prompt_build
from querying.rewrite import (
    CARRY_TERMS, MAX_REWRITE_CHARS, Turn, is_follow_up, rewrite_clean, rewrite_heuristic, rewrite_prompt,
)
from tests.strategies import texts

turns = st.lists(st.builds(Turn, question=texts(max_size=120, surrogates=False), answer=texts(max_size=200, surrogates=False),
                           search_query=texts(max_size=200, surrogates=False)), max_size=4)


@given(texts(max_size=200, surrogates=False), turns)
def test_a_rewrite_keeps_the_question_and_adds_at_most_a_few_terms(question, earlier):
    rewritten = rewrite_heuristic(question, earlier)
    assert rewritten == question or rewritten.startswith(question.strip())
    added = rewritten[len(question.strip()):].split() if rewritten != question else []
    assert len(added) <= CARRY_TERMS
    assert not set(added) & set(tokenize(question))  # nothing the question already says


@given(texts(max_size=200, surrogates=False))
def test_a_first_question_is_searched_as_asked(question):
    assert rewrite_heuristic(question, []) == question


@given(st.lists(texts(max_size=80, surrogates=False), min_size=1, max_size=12))
def test_a_chain_of_follow_ups_never_grows_its_query(questions):
    """Each turn carries terms of the previous turn's *search query*: bounded, however long the chain."""
    earlier: list[Turn] = []
    for question in questions:
        query = rewrite_heuristic(question, earlier)
        assert len(query.split()) <= len(question.split()) + CARRY_TERMS
        earlier.append(Turn(question=question, search_query=query))


def test_follow_ups_and_standalone_questions_are_told_apart():
    earlier = [Turn(question="What is the warranty period of the K-200 kettle?")]
    for follow_up in ["How long is it?", "And the toaster?", "what about the second one", "Does that include repairs?"]:
        assert is_follow_up(follow_up), follow_up
        assert "warranty" in rewrite_heuristic(follow_up, earlier)
    standalone = "How do I descale the espresso machine boiler with citric acid?"
    assert not is_follow_up(standalone) and rewrite_heuristic(standalone, earlier) == standalone


@given(st.text(max_size=600))
def test_a_models_rewrite_is_one_bounded_line_or_nothing(reply):
    query = rewrite_clean(reply)
    assert "\n" not in query and "\r" not in query and len(query) <= MAX_REWRITE_CHARS
    assert query == query.strip()


def test_a_models_rewrite_loses_its_label_and_quotes():
    assert rewrite_clean('\n  Query: "kettle warranty period"\nThe kettle...') == "kettle warranty period"
    assert rewrite_clean("User: How do I remove ~/mycode from the load path?") == "How do I remove ~/mycode from the load path?"
    assert rewrite_clean("x" * (MAX_REWRITE_CHARS + 1)) == ""
    assert rewrite_clean("  \n ") == ""


@given(turns, texts(max_size=50, surrogates=False))
def test_the_rewrite_prompt_holds_every_question_and_the_last_one(earlier, question):
    _, messages = rewrite_prompt(question, earlier)
    assert question.strip() in messages[-1]["content"]
    assert all(turn.question.strip() in messages[-1]["content"] for turn in earlier)


pairs = st.lists(st.tuples(texts(max_size=300, surrogates=False), texts(max_size=600, surrogates=False)), max_size=10)


@given(pairs, st.integers(min_value=0, max_value=2000))
def test_history_is_the_newest_turns_that_fit_the_budget_in_order(history, budget):
    messages = history_messages(history, budget)
    kept = len(messages) // 2
    assert [(m["content"], n["content"]) for m, n in zip(messages[::2], messages[1::2])] == history[len(history) - kept:]
    assert [m["role"] for m in messages] == ["user", "assistant"] * kept
    assert sum(estimate_tokens(m["content"]) for m in messages) <= budget
    if kept < len(history):  # the next older turn did not fit
        question, answer = history[len(history) - kept - 1]
        used = sum(estimate_tokens(m["content"]) + 1 for m in messages)
        assert used + estimate_tokens(question) + estimate_tokens(answer) + 2 > budget


def test_the_prompt_puts_the_history_before_the_question():
    history = history_messages([("first?", "one [1]."), ("second?", "two [1].")], 1000)
    prompt = prompt_build(question="third?", passages=[], token_budget=500, history=history)
    assert [m["content"] for m in prompt.messages] == ["first?", "one [1].", "second?", "two [1].", "third?"]
    assert prompt.question == "third?"
