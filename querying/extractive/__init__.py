"""The extractive answer: no language model. It answers with the sentences and lines of the
retrieved passages that best match the question, each cited [n], and says plainly when none does
or when the passages cannot answer.

- scoring: each quotable unit of the passages (documents.text.units) scored by the question's
  words (BM25 over the units) and, for a shortlist, by meaning (the embedding model, from the
  vectors stored at ingest when there are), with a prior for the passage's place in the search.
- quoting: the best units while close enough to the best, each with the line that names what it
  describes, the lines it leads to or the sentences that refer back to it, in reading order.
- guards: small rules that refuse when the passages never mention a name the question asks
  about, mention its names only apart, or give no value of the kind it asks for.
- weights: every number the answer judges by, named, with how it was measured; data/: each
  language's words and phrases.

querying.llm.extractive serves it as an answer provider."""

from querying.extractive.engine import Extractor
from querying.extractive.quoting import sentences
from querying.extractive.weights import WEIGHTS, Weights

__all__ = ["WEIGHTS", "Extractor", "Weights", "sentences"]
