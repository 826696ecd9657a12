"""Reciprocal Rank Fusion. Pure code."""

from collections.abc import Hashable, Sequence
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
