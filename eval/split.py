"""Assign each question of eval/questions.jsonl to the "dev" or the "heldout" split, in place.

Stratified systematic sampling with a fixed seed: questions are grouped by (kind, document), each
group is shuffled with a generator seeded by SEED and the group's name, the groups are laid end to
end in sorted order, and every third question from a seeded offset is held out. Every kind and every
document thus gives about a third of its questions to "heldout", and the result never changes
unless the questions do. Tune on "dev" only; report "heldout" untouched.

A question that already has a split keeps it: questions added later (written blind, without
seeing how the answers fare) are split among themselves by the same rule, so that a question once
held out is never tuned on, and one tuned on never counts as held out.

    python eval/split.py [eval/questions.jsonl]
"""

import json
import random
import sys
from collections import defaultdict
from pathlib import Path

SEED = 20261125
HELDOUT_EVERY = 3


def split_assign(questions: list[dict]) -> None:
    """Give each question without a "split" one, in place."""
    groups = defaultdict(list)
    for question in questions:
        if question.get("split") not in ("dev", "heldout"):
            groups[(question["kind"], question["doc"])].append(question)
    ordered = []
    for key in sorted(groups):
        members = sorted(groups[key], key=lambda q: q["id"])
        random.Random(f"{SEED}:{key[0]}:{key[1]}").shuffle(members)
        ordered.extend(members)
    offset = random.Random(SEED).randrange(HELDOUT_EVERY)
    for position, question in enumerate(ordered):
        question["split"] = "heldout" if position % HELDOUT_EVERY == offset else "dev"


def main() -> None:
    path = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).with_name("questions.jsonl"))
    questions = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    split_assign(questions)
    path.write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in questions), encoding="utf-8")
    counts = defaultdict(int)
    for question in questions:
        counts[(question["split"], question["kind"])] += 1
    for key in sorted(counts):
        print(*key, counts[key])


if __name__ == "__main__":
    main()
