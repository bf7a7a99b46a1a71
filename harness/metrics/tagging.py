"""Tagging metrics: seqeval 0.0.x chunking, as XTREME's 2020 scorer, plus token accuracy (LinCE's POS score).

XTREME's `evaluate.py` scores UD-POS and PAN-X with `seqeval` 0.0.12 chunk F1 (micro). The rule,
re-implemented here so that no installed seqeval version can change the numbers:

- The sentences of gold and prediction are each flattened into one sequence, with an "O" after every
  sentence, and one more "O" closes the sequence.
- For each tag, its *prefix* is the first character and its *type* the text after the last "-", which is
  the whole tag when it has no "-" (so "NOUN" has prefix "N", type "NOUN"; "B-PER" has "B", "PER").
- A chunk ends before position i when the previous prefix is E or S; or previous B/I and current B, S or
  O; or the previous prefix is neither "O" nor "." and the type changes.
- A chunk starts at i when the current prefix is B or S; or (previous, current) prefixes are
  (E, E), (E, I), (S, E), (S, I), (O, E), (O, I); or the current prefix is neither "O" nor "." and the
  type changes.
- Chunks are (type, start, end) over the flattened sequence; precision, recall and F1 compare the sets.

Applied to raw UPOS tags this is the known quirk of XTREME's POS score: a run of equal tags is one chunk
("NOUN NOUN" is one NOUN chunk), and tags whose first letter is B, I, E or S act as prefixes ("INTJ" acts
like I-INTJ, "SCONJ"/"SYM" like S-, which always close a chunk). seqeval 1.x gives other numbers.
"""

from __future__ import annotations

TAGGING_RULE = "seqeval-0.0.12-chunks-on-raw-tags"

Chunk = tuple[str, int, int]


def _ends(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    if prev_tag in ("E", "S"):
        return True
    if prev_tag in ("B", "I") and tag in ("B", "S", "O"):
        return True
    return prev_tag not in ("O", ".") and prev_type != type_


def _starts(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    if tag in ("B", "S"):
        return True
    if prev_tag in ("E", "S", "O") and tag in ("E", "I"):
        return True
    return tag not in ("O", ".") and prev_type != type_


def chunks(sentences: list[list[str]]) -> set[Chunk]:
    """The set of (type, start, end) chunks of the sentences, flattened as seqeval 0.0.12 does."""
    flat = [tag for sentence in sentences for tag in [*sentence, "O"]]
    found: set[Chunk] = set()
    prev_tag, prev_type, begin = "O", "", 0
    for i, label in enumerate([*flat, "O"]):
        tag, type_ = label[0], label.split("-")[-1]
        if _ends(prev_tag, tag, prev_type, type_):
            found.add((prev_type, begin, i - 1))
        if _starts(prev_tag, tag, prev_type, type_):
            begin = i
        prev_tag, prev_type = tag, type_
    return found


def seqeval_2020(
    gold: list[list[str]], pred: list[list[str]], language: str = ""
) -> dict[str, float]:
    """Chunk F1, precision and recall (seqeval 0.0.12 rule) and token accuracy, in percent."""
    if len(gold) != len(pred):
        raise ValueError(f"{len(pred)} predicted sentences for {len(gold)} gold sentences")
    for n, (g, p) in enumerate(zip(gold, pred, strict=True)):
        if len(g) != len(p):
            raise ValueError(f"sentence {n + 1}: {len(p)} predicted tags for {len(g)} gold tags")
    true, found = chunks(gold), chunks(pred)
    correct = len(true & found)
    precision = correct / len(found) if found else 0.0
    recall = correct / len(true) if true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    tokens = sum(len(g) for g in gold)
    right = sum(int(a == b) for g, p in zip(gold, pred, strict=True) for a, b in zip(g, p, strict=True))
    return {
        "f1": 100.0 * f1,
        "precision": 100.0 * precision,
        "recall": 100.0 * recall,
        "token_accuracy": 100.0 * right / tokens if tokens else 0.0,
    }


def token_accuracy(gold: list[list[str]], pred: list[list[str]], language: str = "") -> dict[str, float]:
    """Share of tokens, over all sentences, whose predicted tag equals the gold tag, in percent."""
    if len(gold) != len(pred):
        raise ValueError(f"{len(pred)} predicted sentences for {len(gold)} gold sentences")
    right = tokens = 0
    for n, (g, p) in enumerate(zip(gold, pred, strict=True)):
        if len(g) != len(p):
            raise ValueError(f"sentence {n + 1}: {len(p)} predicted tags for {len(g)} gold tags")
        tokens += len(g)
        right += sum(int(a == b) for a, b in zip(g, p, strict=True))
    return {"accuracy": 100.0 * right / tokens if tokens else 0.0}
