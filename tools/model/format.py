"""The one place that defines the model's input string.

The TypeScript side must build exactly the same string (see models/kvcache-t5-faq/README.md):

    question: <user question> context: [1] <faq question 1> => <faq answer 1> [2] <faq question 2> => <faq answer 2> ...

* Every piece of text is whitespace-normalised first: runs of whitespace (spaces, tabs, newlines)
  become one space and the ends are trimmed.
* Entries are numbered from 1, in the order given (the retriever's order; in training the order is random).
* One space separates the parts; there is no trailing space.
* The target (make_data.py) is "[n]", the number of the entry that answers ("[0]" = none), or with
  --target answer the right entry's answer, whitespace-normalised, copied verbatim.
"""

import re

_WS = re.compile(r"\s+")

MAX_INPUT_TOKENS = 384  # inputs are truncated here (the TypeScript side must keep the context within it)
MAX_TARGET_TOKENS = 128


def norm(text: str) -> str:
    return _WS.sub(" ", text).strip()


def build_input(question: str, entries) -> str:
    """entries: sequence of (faq_question, faq_answer) pairs."""
    parts = ["question:", norm(question), "context:"]
    for i, (q, a) in enumerate(entries, start=1):
        parts.append(f"[{i}] {norm(q)} => {norm(a)}")
    return " ".join(parts)
