"""Ranking metrics for the evaluation command. Pure code.

Relevance is binary and counted once per relevant item: when several retrieved passages lie on
the same answer page, the first counts and the others are worth nothing (they add no new
answer). A question "is recalled at k" when one of its answer items is in its first k results,
the usual reading of recall@k for question answering where any one answer page suffices.
"""

import math
from collections.abc import Hashable, Iterable, Sequence


def _gains(ranked: Sequence[Hashable], relevant: set) -> list[int]:
    seen, gains = set(), []
    for item in ranked:
        hit = item in relevant and item not in seen
        gains.append(1 if hit else 0)
        if hit:
            seen.add(item)
    return gains


def recall_at(ranked: Sequence[Hashable], relevant: Iterable[Hashable], k: int) -> float:
    relevant = set(relevant)
    return 1.0 if any(_gains(ranked[:k], relevant)) else 0.0


def reciprocal_rank_at(ranked: Sequence[Hashable], relevant: Iterable[Hashable], k: int = 10) -> float:
    relevant = set(relevant)
    for position, item in enumerate(ranked[:k], start=1):
        if item in relevant:
            return 1.0 / position
    return 0.0


def ndcg_at(ranked: Sequence[Hashable], relevant: Iterable[Hashable], k: int = 10) -> float:
    relevant = set(relevant)
    if not relevant:
        return 0.0
    dcg = sum(gain / math.log2(position + 1) for position, gain in enumerate(_gains(ranked[:k], relevant), 1))
    ideal = sum(1.0 / math.log2(position + 1) for position in range(1, min(len(relevant), k) + 1))
    return dcg / ideal


def evaluate_rankings(
    runs: Sequence[tuple[Sequence[Hashable], Iterable[Hashable]]], *, recall_ks: Sequence[int] = (1, 5, 10), k: int = 10
) -> dict[str, float]:
    """Mean recall@each of recall_ks, MRR@k and nDCG@k over (ranked, relevant) pairs."""
    runs = [(list(ranked), set(relevant)) for ranked, relevant in runs]
    if not runs:
        return {**{f"recall@{n}": 0.0 for n in recall_ks}, f"mrr@{k}": 0.0, f"ndcg@{k}": 0.0}
    count = len(runs)
    scores = {f"recall@{n}": sum(recall_at(r, rel, n) for r, rel in runs) / count for n in recall_ks}
    scores[f"mrr@{k}"] = sum(reciprocal_rank_at(r, rel, k) for r, rel in runs) / count
    scores[f"ndcg@{k}"] = sum(ndcg_at(r, rel, k) for r, rel in runs) / count
    return scores
