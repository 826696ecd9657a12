"""Properties of the PostgreSQL backend's pure choices (no database needed)."""

from hypothesis import given
from hypothesis import strategies as st

from documents.search.postgres import matched_tokens

shares = st.dictionaries(st.text(min_size=1, max_size=6), st.floats(0, 1), min_size=0, max_size=12)


@given(shares=shares, passages=st.floats(0, 1e8), budget=st.integers(0, 10**7))
def test_matched_tokens_keep_the_rarest_and_stay_within_the_row_budget(shares, passages, budget):
    tokens = list(shares)
    kept = matched_tokens(tokens, shares, passages, budget)
    assert kept == [token for token in tokens if token in set(kept)], "a subset, in the order given"
    if not tokens:
        assert kept == []
        return
    rarest = min(shares[token] for token in tokens)
    assert any(shares[token] == rarest for token in kept), "the rarest token always matches"
    if len(kept) > 1:
        assert sum(shares[token] * passages for token in kept) <= budget * (1 + 1e-9)
    # No token left out is rarer than one kept (rarest first).
    left_out = [shares[token] for token in tokens if token not in kept]
    assert not left_out or min(left_out) >= max(shares[token] for token in kept)


def test_a_small_corpus_matches_every_selective_token():
    # 5,800 passages (the evaluation's): 5% of them is 290 rows a token, far below the budget.
    shares = {f"t{i}": 0.05 for i in range(30)}
    assert matched_tokens(list(shares), shares, 5800, 10000) == list(shares)
