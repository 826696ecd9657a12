"""The rules that refuse a question the passages cannot answer, however close they look.

Each rule reads a Draft (the question, the passages found for it and what the answer would
quote) and gives a refusal, a sentence that says what is missing, or None to let the answer
through. The answer applies its rules in order; the first refusal is the answer. What would be
quoted is worked out only when a rule asks for it.

- names_mentioned: no passage (its title included) mentions a name the question asks about
  (querying.extractive.names): the passages are about something else.
- names_together: the question names several things, and no one passage mentions them all.
- value_given: the question asks for an amount of money, a date, a number or a telephone number
  (querying.extractive.values), and what would be quoted gives none.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Callable

from querying.extractive.names import mentioned_together, question_names, unmentioned
from querying.extractive.quoting import Quote
from querying.extractive.values import counted, gives_value, question_value_kind, value_name
from querying.extractive.weights import WEIGHTS, Weights
from querying.prompts import NOT_FOUND, Passage


@dataclass
class Draft:
    """An answer in the making, as the rules read it."""

    question: str
    passages: list[Passage]
    # What the answer would quote (None: nothing relevant enough), worked out when first asked.
    quote_of: Callable[[], Quote | None]
    weights: Weights = WEIGHTS

    @cached_property
    def quote(self) -> Quote | None:
        return self.quote_of()

    @cached_property
    def names(self) -> list[str]:
        return question_names(self.question, self.weights)

    @cached_property
    def texts(self) -> list[str]:
        """Each passage's title and text."""
        return [f"{passage.title}\n{passage.text}" for passage in self.passages]


Rule = Callable[[Draft], "str | None"]


def _quoted(names: list[str]) -> list[str]:
    return [f"“{name}”" for name in names]


def names_mentioned(draft: Draft) -> str | None:
    """Refuses, naming them, when no passage mentions some of the names the question asks about."""
    if not draft.passages:
        return None
    missing = unmentioned(draft.names, "\n".join(draft.texts), draft.weights)
    if not missing:
        return None
    return f"{NOT_FOUND} None of the passages found mentions {', '.join(_quoted(missing))}."


def names_together(draft: Draft) -> str | None:
    """Refuses, naming them, when no one passage mentions all the names the question asks about."""
    if not draft.passages or mentioned_together(draft.names, draft.texts, draft.weights):
        return None
    *others, last = _quoted(draft.names)
    return f"{NOT_FOUND} None of the passages found mentions {', '.join(others)} and {last} together."


def value_given(draft: Draft) -> str | None:
    """Refuses when the question asks for a kind of value and the quoted words (their citations
    left out) give none: they are about the right thing, but the documents do not say."""
    kind = question_value_kind(draft.question)
    if kind is None or draft.quote is None:
        return None
    counts = counted(draft.question, draft.weights) if kind == "number" else []
    if gives_value(kind, "\n".join(draft.quote.texts), counts, draft.weights):
        return None
    return f"{NOT_FOUND} The passages closest to it give no {value_name(kind, counts)}."


NAME_RULES: tuple[Rule, ...] = (names_mentioned, names_together)
VALUE_RULES: tuple[Rule, ...] = (value_given,)


def refusal(rules: tuple[Rule, ...], draft: Draft) -> str | None:
    """The first refusal of the rules, in order, or None when every rule lets the answer through."""
    for rule in rules:
        refused = rule(draft)
        if refused is not None:
            return refused
    return None
