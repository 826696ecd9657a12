"""Fusing the dense and keyword rankings: by score (the default) or by Reciprocal Rank Fusion. Pure code."""

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field


@dataclass
class Fused:
    key: Hashable
    score: float
    rank: int  # 1-based place in the fused list
    ranks: list[int | None] = field(default_factory=list)  # 1-based place in each input list, None if absent


def reciprocal_rank_fusion(rankings: Sequence[Sequence[Hashable]], *, k: int = 60) -> list[Fused]:
    """Fuse ranked lists (best first) by RRF: score(d) = sum over lists of 1 / (k + rank of d).

    Ties are broken by the best single rank, then by the order of the lists and positions,
    so the result is deterministic. A key repeated within one list counts at its first place."""
    if k < 0:
        raise ValueError("k must be >= 0")
    table: dict[Hashable, list] = {}  # key -> [score, ranks, first seen]
    seen = 0
    for list_index, ranking in enumerate(rankings):
        for position, key in enumerate(ranking, start=1):
            entry = table.get(key)
            if entry is None:
                entry = table[key] = [0.0, [None] * len(rankings), seen]
                seen += 1
            if entry[1][list_index] is None:
                entry[1][list_index] = position
                entry[0] += 1.0 / (k + position)
    ordered = sorted(
        table.items(),
        key=lambda item: (-item[1][0], min(r for r in item[1][1] if r is not None), item[1][2]),
    )
    return [
        Fused(key=key, score=score, rank=rank, ranks=ranks) for rank, (key, (score, ranks, _)) in enumerate(ordered, 1)
    ]


def _standardised(scores: Sequence[float]) -> list[float]:
    count = len(scores)
    mean = sum(scores) / count
    spread = (sum((s - mean) ** 2 for s in scores) / count) ** 0.5
    if not spread > 1e-12:  # every candidate scored alike: this list tells them apart not at all
        return [0.0] * count
    return [(s - mean) / spread for s in scores]


def score_fusion(
    candidates: Sequence[Hashable],
    dense: Sequence[float],
    keyword: Sequence[float],
    *,
    dense_weight: float = 0.5,
    ranks: Sequence[Sequence[int | None]] | None = None,
    sentence: Sequence[float] | None = None,
    sentence_share: float = 0.0,
) -> list[Fused]:
    """Fuse by score: each candidate's dense score (cosine) and keyword score (BM25), both scored
    for every candidate, are standardised over the candidates (z-scores) and mixed,
    dense_weight * z_dense + (1 - dense_weight) * z_keyword.

    Unlike RRF, a list that barely tells the candidates apart moves them little, and a strong lead
    in one list is kept. Standardising puts a cosine and an unbounded BM25 score on one scale, and
    a list whose scores are all equal (no keyword matched) counts for nothing. Ties break on the
    dense score, then on candidate order. `ranks`, when given, is each candidate's 1-based place in
    each input list (None when absent), carried into Fused.ranks.

    `sentence`, when given, is each candidate's best sentence's cosine with the query: the meaning
    part is then (1 - sentence_share) * z_dense + sentence_share * z_sentence, so a passage with
    one sentence that answers is not drowned by the rest of its text."""
    if not 0.0 <= dense_weight <= 1.0:
        raise ValueError("dense_weight must be between 0 and 1")
    if not 0.0 <= sentence_share <= 1.0:
        raise ValueError("sentence_share must be between 0 and 1")
    if not len(candidates) == len(dense) == len(keyword) or (sentence is not None and len(sentence) != len(dense)):
        raise ValueError("candidates, dense, keyword and sentence scores must have the same length")
    if len(set(candidates)) != len(candidates):
        raise ValueError("candidates must be distinct")
    if not candidates:
        return []
    z_dense, z_keyword = _standardised(dense), _standardised(keyword)
    if sentence is not None and sentence_share:
        z_dense = [(1.0 - sentence_share) * d + sentence_share * z for d, z in zip(z_dense, _standardised(sentence))]
    mixed = [dense_weight * d + (1.0 - dense_weight) * k for d, k in zip(z_dense, z_keyword)]
    order = sorted(range(len(candidates)), key=lambda i: (-mixed[i], -dense[i], -keyword[i], i))
    return [
        Fused(key=candidates[i], score=mixed[i], rank=place, ranks=list(ranks[i]) if ranks else [])
        for place, i in enumerate(order, start=1)
    ]


def spread_pages(fused: Sequence[Fused], page_of: Callable[[Hashable], Hashable]) -> list[Fused]:
    """The same items with each page's best first: an item whose page (page_of(key)) an earlier
    item already holds moves after the first item of every page, keeping its order among those
    moved. Overlapping chunks of one page then stop filling the top places, and the passages
    shown cover more pages. Ranks are renumbered 1..n."""
    seen: set = set()
    first, repeats = [], []
    for item in fused:
        page = page_of(item.key)
        (repeats if page in seen else first).append(item)
        seen.add(page)
    return [Fused(item.key, item.score, place, item.ranks) for place, item in enumerate(first + repeats, start=1)]
