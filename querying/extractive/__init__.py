"""The extractive answer (served by querying.llm.extractive), in parts: the guards' reading of
questions and passages (names, values), every number it judges by (weights) and each language's
words and phrases (data/, read by lexicon)."""
