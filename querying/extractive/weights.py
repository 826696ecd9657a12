"""Every number the extractive answer judges by, in one place.

Each was chosen on the development questions of eval/questions.jsonl (`manage.py evaluate
eval/questions.jsonl --split dev --answers`), the held-out split measured once after; the
figures quoted are answers that hold the fact out of the dev answerable questions at the time
(79, then 115 with the blind questions), as the README's "Search quality" records them. A number
with no such figure was set with its rule and never swept on its own: it says so.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Weights:
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
