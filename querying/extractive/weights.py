"""Every number the extractive answer judges by, in one place.

Each was chosen on the development questions of eval/questions.jsonl (`manage.py evaluate
eval/questions.jsonl --split dev --answers`), the held-out split measured once after; the
figures quoted are answers that hold the fact out of the dev answerable questions at the time
(79, then 115 with the blind questions), as the README's "Search quality" records them. A number
with no such figure was set with its rule and never swept on its own: it says so.

The first seven are the provider's OPTIONS (querying.llm.extractive), whose defaults they are.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Weights:
    # At most this many places quoted; 4 answered 81/115 dev against 82 (and longer answers).
    max_sentences: int = 3
    # Relevance (0..1) below which nothing is quoted; 0.25 / 0.35 answered 81 / 80 of 115 dev against 82.
    min_relevance: float = 0.3
    # Candidates (the best by words) weighed for meaning too; 12, 16 or every one: 80-81 of 115 dev against 82.
    shortlist: int = 8
    # Lines of the first-ranked passage weighed for meaning besides, whatever their words; dev +2 (58/79), 12 same, 16 -1.
    first_passage: int = 8
    # A unit of passage n counts 1 / (1 + rank_prior * (n - 1)); 0.05 / 0.1 / 0.2 / 0.3: 60 / 59 / 58 / 56 of 79 dev.
    rank_prior: float = 0.05
    # Added to the relevance of a line that opens with an identifier the question names (its definition); dev +1/79.
    definition_boost: float = 0.2
    # A quoted sentence reads on through this many next sentences that refer back; 1: 61/79 dev, 2 and 3: 62.
    next_sentences: int = 2

    # The share of meaning (against words) in a shortlisted unit's relevance; 0.4 / 0.6: 57/79 dev each, 0.5: 58.
    meaning_share: float = 0.5
    # What a fragment (heading, table or code line) counts against a sentence; set 2026-11-25, never swept.
    fragment_weight: float = 0.85
    # Share of the words' relevance added to the score, breaking ties towards shared words; set 2026-11-24, never swept.
    words_tiebreak: float = 0.02
    # A further place is quoted only at this share of the best score or more; 0.5 / 0.6 / 0.7: 59 / 59 / 56 of 79 dev.
    cut_share_of_best: float = 0.6
    # BM25 k1 over the candidate sentences (search's is 0.9 over passages); set 2026-11-24, never swept.
    keyword_k1: float = 1.2
    # BM25 b over the candidate sentences (search's is 0.4 over passages); set 2026-11-24, never swept.
    keyword_b: float = 0.5
    # all-MiniLM-L6-v2 puts unrelated sentences at cosine 0.1-0.2: this counts as no meaning. Another model needs its own.
    cosine_floor: float = 0.15
    # Cosine above the floor that counts as a full match (answering sentences sit at 0.5 or more); read off that model.
    cosine_span: float = 0.4
    # Lines embedded per forward pass when none are stored; answer() p50, 40 dev questions: 4 169 ms, 2 172, 8 173, all 225.
    lines_per_batch: int = 4
    # A fragment of at most this many words, not ended like a sentence, names what follows (heading, signature); never swept.
    heading_words: int = 12
    # A next line ending with ":" that has this many words is a sentence introducing more, and comes; no dev score moved.
    introduction_words: int = 5

    # Two capitals up to this many, alone ("API", "IDs"), are a common noun as often as a name; from blind dev misses.
    abbreviation_capitals: int = 3
    # A name shorter than this is mentioned only as written (case and Unicode forms aside); never swept.
    spelling_min_letters: int = 4
    # A name up to this many letters long may be written one letter otherwise, a longer one two (OCR); never swept.
    spelling_one_letter_up_to: int = 5
    # A number within this many words of what a "how many" asks answers it; dev refusals 3 -> 8 of 11, no answer lost.
    count_window: int = 4
    # What a question counts is compared by its first letters ("channel", "channels"); set with the rule above.
    count_stem_letters: int = 5
    # At most this many words after "how many" are what it counts; set with the rule above, never swept.
    counted_words: int = 3
    # A telephone number has this many digits in a row or more; dev refusals 18 -> 20 of 28, answers unchanged.
    phone_min_digits: int = 7


WEIGHTS = Weights()
