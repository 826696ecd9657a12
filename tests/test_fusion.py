"""Score fusion and page spreading: pure code, examples and properties (Hypothesis)."""

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from documents.search.fusion import reciprocal_rank_fusion, score_fusion, spread_pages


def keys(fused):
    return [item.key for item in fused]


def test_a_passage_far_ahead_in_one_list_stays_first_although_the_other_missed_it():
    # The dense model is sure of "sure"; the keywords found the others about equally and missed it.
    # RRF ranks "sure" below every passage both lists hold; by score it stays first.
    candidates = ["sure", "a", "b", "c", "d"]
    dense = [0.85, 0.30, 0.32, 0.28, 0.31]
    keyword = [0.0, 1.0, 1.2, 1.1, 0.9]
    assert keys(score_fusion(candidates, dense, keyword, dense_weight=0.6))[0] == "sure"
    assert keys(reciprocal_rank_fusion([["sure", "b", "d", "a", "c"], ["b", "c", "a", "d"]]))[0] != "sure"


def test_a_list_that_tells_nothing_apart_leaves_the_other_in_charge():
    candidates = ["a", "b", "c"]
    assert keys(score_fusion(candidates, [0.2, 0.9, 0.5], [3.0, 3.0, 3.0])) == ["b", "c", "a"]
    assert keys(score_fusion(candidates, [0.4, 0.4, 0.4], [0.0, 7.0, 2.0])) == ["b", "c", "a"]


def test_the_weight_picks_one_list_at_its_ends():
    candidates = ["a", "b", "c", "d"]
    dense, keyword = [0.9, 0.1, 0.5, 0.3], [0.0, 8.0, 1.0, 4.0]
    assert keys(score_fusion(candidates, dense, keyword, dense_weight=1.0)) == ["a", "c", "d", "b"]
    assert keys(score_fusion(candidates, dense, keyword, dense_weight=0.0)) == ["b", "d", "c", "a"]


def test_a_passage_with_one_sentence_that_answers_is_raised_by_that_sentence():
    # "rain" holds "The radio range is up to 150 metres" among paragraphs about the rain gauge; its
    # whole text is less like the question than "signal" (all about signal icons), its best
    # sentence far more. The keywords tell them apart not at all.
    candidates = ["signal", "rain", "other"]
    dense, keyword, sentence = [0.55, 0.50, 0.20], [2.0, 2.0, 2.0], [0.50, 0.80, 0.25]
    assert keys(score_fusion(candidates, dense, keyword))[0] == "signal"
    assert keys(score_fusion(candidates, dense, keyword, sentence=sentence, sentence_share=0.4))[0] == "rain"
    assert keys(score_fusion(candidates, dense, keyword, sentence=sentence, sentence_share=0.0))[0] == "signal"


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        score_fusion(["a"], [0.1], [0.1], dense_weight=1.5)
    with pytest.raises(ValueError):
        score_fusion(["a", "b"], [0.1], [0.1, 0.2])
    with pytest.raises(ValueError):
        score_fusion(["a", "a"], [0.1, 0.2], [0.1, 0.2])
    with pytest.raises(ValueError):
        score_fusion(["a", "b"], [0.1, 0.2], [0.1, 0.2], sentence=[0.3], sentence_share=0.4)
    with pytest.raises(ValueError):
        score_fusion(["a"], [0.1], [0.1], sentence=[0.3], sentence_share=-0.1)
    assert score_fusion([], [], []) == []


scores = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@st.composite
def scored(draw):
    count = draw(st.integers(min_value=0, max_value=30))
    return (
        list(range(count)),
        draw(st.lists(scores, min_size=count, max_size=count)),
        draw(st.lists(scores, min_size=count, max_size=count)),
        draw(st.floats(min_value=0.0, max_value=1.0)),
    )


@given(scored())
@example(([0, 1], [1e-300, 0.0], [5e-324, 0.0], 0.5))
def test_fusion_is_a_deterministic_ranking_of_the_candidates(case):
    candidates, dense, keyword, weight = case
    fused = score_fusion(candidates, dense, keyword, dense_weight=weight)
    assert sorted(keys(fused)) == candidates
    assert [item.rank for item in fused] == list(range(1, len(candidates) + 1))
    assert all(a.score >= b.score for a, b in zip(fused, fused[1:]))
    assert keys(score_fusion(candidates, dense, keyword, dense_weight=weight)) == keys(fused)


@given(scored())
def test_a_candidate_better_in_both_lists_ranks_higher(case):
    candidates, dense, keyword, weight = case
    place = {item.key: item.rank for item in score_fusion(candidates, dense, keyword, dense_weight=weight)}
    for i in candidates:
        for j in candidates:
            if dense[i] > dense[j] and keyword[i] > keyword[j]:
                assert place[i] < place[j]


@given(st.lists(st.integers(min_value=0, max_value=6), max_size=40))
def test_spreading_pages_puts_each_page_first_once_and_keeps_every_item(pages):
    fused = score_fusion(list(range(len(pages))), [float(-i) for i in range(len(pages))], [0.0] * len(pages))
    spread = spread_pages(fused, lambda key: pages[key])
    assert sorted(keys(spread)) == sorted(keys(fused))
    distinct = len(set(pages))
    head = [pages[key] for key in keys(spread)[:distinct]]
    assert len(set(head)) == distinct  # every page once before any page twice
    assert [item.rank for item in spread] == list(range(1, len(pages) + 1))
    # within the first places and within the repeats, the fused order is kept
    for part in (keys(spread)[:distinct], keys(spread)[distinct:]):
        assert part == sorted(part)


@given(scored(), st.floats(min_value=0.0, max_value=1.0))
def test_sentence_scores_equal_to_the_passages_change_no_score(case, share):
    # A corpus stored without sentence vectors counts each passage's own cosine as its best
    # sentence's: the fusion is then the one without sentences, whatever their share.
    candidates, dense, keyword, weight = case
    plain = {item.key: item.score for item in score_fusion(candidates, dense, keyword, dense_weight=weight)}
    mixed = score_fusion(candidates, dense, keyword, dense_weight=weight, sentence=dense, sentence_share=share)
    assert all(abs(item.score - plain[item.key]) <= 1e-9 * (1 + abs(plain[item.key])) for item in mixed)
