"""Follow-up questions made searchable on their own. Pure code: no ORM, no settings.

A follow-up ("and on Windows?", "what does the second one cost?") searched as it stands finds
nothing useful: its subject is in the turns before it. Two ways to write the standalone query:

- `rewrite_heuristic` (the extractive mode, and the fallback when a model fails): the question
  as asked, plus the distinctive terms of the previous turn's search query that the question does
  not already hold. The previous *search query*, not the previous question: a chain of follow-ups
  keeps its subject, and the carried terms are bounded (`CARRY_TERMS`), so the query never grows.
  A question that names its own subject (three or more distinctive terms and no word that points
  back, or eight or more) is left alone: it is searched as asked.
- `rewrite_prompt` / `rewrite_clean`: the messages that ask a language model for the standalone
  query, and the reading of its reply (one line, bounded; an empty or runaway reply is refused).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from documents.text.tokenize import tokenize

# At most this many terms are carried over from the previous turn.
CARRY_TERMS = 6
# A question with at least this many distinctive terms and no word pointing back stands alone...
STANDALONE_TERMS = 3
# ...and so does one with this many, whatever its pronouns: "it" in "How do I fetch a file over
# HTTPS and save it to disk?" points inside the question. (Measured on eval/questions.jsonl, each
# question after the one before it: 32 of 119 were rewritten with 4 and no such limit, recall@5
# 0.891 -> 0.840; 21 with these two, 0.866. Follow-ups in eval/conversations.jsonl: 0.667 both.)
REFERRING_MAX_TERMS = 8
# A model's rewrite longer than this (characters) is no search query: it is refused.
MAX_REWRITE_CHARS = 300

# Words that ask, not words that say what about: never carried, and not counted as a subject.
QUESTION_WORDS = frozenset(
    "what whats which who whom whose when where why how does do did can could should would may might must "
    "shall is are was were be been being am i me my we our you your about tell explain describe please "
    "also too else more other another same then so there here any some all each not no yes if than "
    "one ones get got use used using need needs make made say says said mean means kind type way "
    "work works happen happens".split()
)
# Words that point back at an earlier turn: a question holding one is a follow-up.
REFERRING_WORDS = frozenset(
    "it its it's itself this that these those they them their theirs he she him her his hers "
    "former latter above previous earlier mentioned same one ones second third first last other "
    "also too else".split()
)
_OPENERS = re.compile(r"^\s*(and|but|so|or|also|what about|how about|and what about|then)\b", re.IGNORECASE)


@dataclass
class Turn:
    """One earlier question and answer of a conversation, as a rewrite reads it."""

    question: str
    answer: str = ""
    search_query: str = ""  # the standalone query it was searched with ("" = the question)
    document_ids: list[int] = field(default_factory=list)  # documents its answer drew on


def distinctive_terms(text: str) -> list[str]:
    """Search's tokens of text, without the words that only ask, first occurrence order."""
    return [t for t in dict.fromkeys(tokenize(text)) if t not in QUESTION_WORDS and len(t) > 1]


def is_follow_up(question: str) -> bool:
    """Whether a question leans on the turns before it: it opens as a continuation ("and ...",
    "what about ..."), points back ("it", "the second one") while naming fewer than
    REFERRING_MAX_TERMS terms of its own, or names too little to stand alone."""
    if _OPENERS.match(question):
        return True
    words = set(re.findall(r"[\w']+", question.casefold()))
    own = len(distinctive_terms(question))
    return own < STANDALONE_TERMS or bool(words & REFERRING_WORDS and own < REFERRING_MAX_TERMS)


def rewrite_heuristic(question: str, turns: list[Turn]) -> str:
    """The standalone search query for `question` after `turns` (oldest first): the question,
    then up to CARRY_TERMS distinctive terms of the last turn's search query that the question
    lacks. The question itself when there is no earlier turn or it stands alone."""
    if not turns or not is_follow_up(question):
        return question
    last = turns[-1]
    own = set(tokenize(question))
    carried = [t for t in distinctive_terms(last.search_query or last.question) if t not in own][:CARRY_TERMS]
    if not carried:
        return question
    return f"{question.strip()} {' '.join(carried)}"


REWRITE_SYSTEM = (
    "You rewrite the user's last question into one standalone search query for a document search engine. "
    "Use the conversation to resolve what words like 'it', 'they', 'that' or 'the second one' refer to. "
    "Keep the names, numbers and technical terms. Do not answer the question. "
    "Reply with the query only, on one line, no quotes.\n\n"
    "Example:\nUser: How do I install the circulation pump?\nLast question: And how long is its warranty?\n"
    "Standalone search query: circulation pump warranty period"
)


def rewrite_prompt(question: str, turns: list[Turn], *, answer_chars: int = 300) -> tuple[str, list[dict]]:
    """(system prompt, messages) that ask a model for the standalone query: the turns as a short
    transcript (each answer cut to answer_chars), then the question."""
    lines = []
    for turn in turns:
        lines.append(f"User: {turn.question.strip()}")
        if turn.answer:
            answer = " ".join(turn.answer.split())
            lines.append(f"Assistant: {answer[:answer_chars]}{'…' if len(answer) > answer_chars else ''}")
    transcript = "\n".join(lines)
    user = f"Conversation:\n{transcript}\n\nLast question: {question.strip()}\n\nStandalone search query:"
    return REWRITE_SYSTEM, [{"role": "user", "content": user}]


def rewrite_clean(reply: str) -> str:
    """The query in a model's reply: its first non-empty line, without a "Query:" (or "User:")
    label or quotes;
    "" when there is none or it is too long to be a query."""
    for line in reply.splitlines():
        line = re.sub(r"^\s*(?:user|assistant|(?:standalone\s+)?(?:search\s+)?query)\s*:\s*", "", line.strip(), flags=re.IGNORECASE)
        line = line.strip().strip("\"'`“”‘’").strip()
        if line:
            return line if len(line) <= MAX_REWRITE_CHARS else ""
    return ""
