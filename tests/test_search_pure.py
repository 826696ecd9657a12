"""Tokeniser, fusion and BM25 backends: pure code, no database."""

import numpy as np
import pytest

from documents.search.bm25 import BM25sBackend, RankBM25Backend, token_ids
from documents.search.fusion import reciprocal_rank_fusion
from documents.text.tokenize import tokenize


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Use read.table() to load", ["use", "read.table", "read", "table", "load"]),
        ("call gs with -dPDFX, then stop.", ["call", "gs", "-dpdfx", "dpdfx", "then", "stop"]),
        ("--output-dir", ["--output-dir", "output", "dir"]),
        ("C++ and C#!", ["c++", "c", "c#", "c"]),
        ("std::vector foo_bar", ["std::vector", "std", "vector", "foo_bar", "foo", "bar"]),
        ("version 3.14 (beta)", ["version", "3.14", "3", "14", "beta"]),
        ("The END. Of the line", ["end", "line"]),
    ],
)
def test_tokens_lowercase_without_punctuation_keeping_identifiers(text, expected):
    assert tokenize(text) == expected


def test_an_identifier_written_in_a_query_shares_tokens_with_the_passage():
    passage = set(tokenize("To make PDF/X, pass -dPDFX to Ghostscript; in R, read.table(file) reads it."))
    for query in ("-dPDFX", "dPDFX", "read.table", "PDF/X"):
        assert set(tokenize(query)) <= passage, query
    # the compound itself is a token, so an exact identifier outranks its parts appearing apart
    assert "read.table" in passage and "pdf/x" in passage


def test_scripts_without_spaces_become_character_bigrams():
    assert tokenize("東京都の人口") == ["東京", "京都", "都の", "の人", "人口"]
    assert tokenize("人") == ["人"]
    assert tokenize("ภาษาไทย") == ["ภา", "าษ", "ษา", "าไ", "ไท", "ทย"]
    # a query shares bigrams with a passage that contains it inside a longer run
    assert set(tokenize("人口")) <= set(tokenize("東京都の人口は多い"))
    # mixed Latin and CJK in one word: the Latin part stays whole
    assert tokenize("Python3中文") == ["python3", "中文"]


def test_words_with_combining_marks_and_other_scripts_stay_whole():
    assert tokenize("हिन्दी भाषा") == ["हिन्दी", "भाषा"]
    assert tokenize("Café RÉSUMÉ") == ["café", "résumé"]
    assert tokenize("Привет, мир!") == ["привет", "мир"]
    assert tokenize("ＦＵＬＬ width") == ["full", "width"]  # NFKC folds full-width forms


def test_stems_join_the_forms_of_a_word_in_its_scripts_language_and_leave_identifiers_whole():
    def stems(text):
        return tokenize(text, stems=True)

    assert stems("reaches") == stems("reach") == stems("reaching") == ["reach"]
    assert stems("tables options") == stems("table option")
    # Russian case endings: установка / установки / установку, файл / файлы / файлов / файлом
    assert stems("установки установку") == stems("установка") * 2
    assert stems("файлы файлов файлом") == stems("файл") * 3
    assert stems("Ελληνικά") == stems("ελληνικα") == ["ελλην"]  # Greek has its stemmer too
    # An identifier stays whole beside its stemmed parts; digits and bigram scripts are untouched.
    assert stems("read.tables") == ["read.tables", "read", "tabl"]
    assert stems("--no-init-files") == ["--no-init-files", "no", "init", "file"]
    assert stems("utf8 3.14 東京都") == ["utf8", "3.14", "3", "14", "東京", "京都"]
    # A script with no stemmer keeps its words; without stems nothing changes.
    assert stems("हिन्दी") == ["हिन्दी"]
    assert tokenize("reaches tables") == ["reaches", "tables"]


def test_reciprocal_rank_fusion_hand_computed():
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["c", "a", "d"]], k=60)

    assert [item.key for item in fused] == ["a", "c", "b", "d"]
    by_key = {item.key: item for item in fused}
    assert by_key["a"].score == pytest.approx(1 / 61 + 1 / 62)
    assert by_key["c"].score == pytest.approx(1 / 63 + 1 / 61)
    assert by_key["d"].score == pytest.approx(1 / 63)
    assert by_key["a"].ranks == [1, 2] and by_key["b"].ranks == [2, None] and by_key["d"].ranks == [None, 3]
    assert [item.rank for item in fused] == [1, 2, 3, 4]


def test_fusion_k_changes_how_much_the_top_places_weigh():
    rankings = [["x", "y", "z"], ["z", "w", "y"]]
    # small k: first places dominate, so z (1st and 3rd) beats y (2nd and 3rd)...
    assert [item.key for item in reciprocal_rank_fusion(rankings, k=0)][:2] == ["z", "x"]
    # ...and both lists agreeing on y matters more than x's single first place at large k
    assert [item.key for item in reciprocal_rank_fusion(rankings, k=1000)][:2] == ["z", "y"]


def test_fusion_ties_are_deterministic_and_duplicates_count_once():
    fused = reciprocal_rank_fusion([["a", "a", "b"], ["b"]], k=60)
    assert fused[0].key == "b" and fused[0].score == pytest.approx(1 / 63 + 1 / 61)
    assert fused[1].score == pytest.approx(1 / 61)  # a's repeat adds nothing
    assert [item.key for item in reciprocal_rank_fusion([["p"], ["q"]], k=60)] == ["p", "q"]
    assert reciprocal_rank_fusion([[], []]) == []


@pytest.mark.parametrize("backend", [BM25sBackend(), RankBM25Backend()], ids=["bm25s", "rank-bm25"])
def test_bm25_backends_rank_the_passage_holding_the_identifier_first(backend, tmp_path):
    passages = [
        "load a table from a file",
        "read.table reads a whitespace separated file",
        "garden tomatoes and roses",
        "the reader reads novels at the table",
        "pdf writers and printers",
    ]
    backend.build(*token_ids(tokenize(text) for text in passages), tmp_path / "bm25")
    scorer = backend.open(tmp_path / "bm25")

    positions, scores = scorer.top(tokenize("read.table"), 3)
    assert positions[0] == 1 and scores[0] > 0
    assert list(scores) == sorted(scores, reverse=True)
    assert 2 not in positions  # no shared token, no place in the list

    positions, _ = scorer.top(tokenize("read.table"), 3, np.array([True, False, True, True, True]))
    assert 1 not in positions
    assert len(scorer.top(tokenize("unknownword"), 3)[0]) == 0


def test_a_corpus_without_a_single_token_still_builds(tmp_path):
    backend = BM25sBackend()
    backend.build(*token_ids([tokenize("..."), tokenize("!!")]), tmp_path / "bm25")
    assert len(backend.open(tmp_path / "bm25").top(tokenize("anything"), 5)[0]) == 0


def test_underscores_alone_give_no_token_and_never_raise():
    # Real manuals and forms are full of them: a lone "_", form blanks "_____".
    assert tokenize("a _ b") == ["b"]
    assert tokenize("Name: ______ Date: __/__/____") == ["name", "date"]
    assert tokenize("__init__ and x_") == ["__init__", "init", "x_", "x"]
