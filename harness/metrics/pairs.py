"""BUCC 2018 bitext mining F1 over sets of (source id, target id) pairs, as XTREME's `bucc_f1`."""

from __future__ import annotations

from collections.abc import Iterable


def bucc_f1(
    gold: Iterable[tuple[str, str]], pred: Iterable[tuple[str, str]], language: str = ""
) -> dict[str, float]:
    """F1, precision and recall in percent; duplicates count once; all three are 0 with no correct pair."""
    true = {tuple(p) for p in gold}
    found = {tuple(p) for p in pred}
    correct = len(true & found)
    if correct == 0:
        return {"f1": 0.0, "precision": 0.0, "recall": 0.0}
    precision = correct / len(found)
    recall = correct / len(true)
    f1 = 2 * precision * recall / (precision + recall)
    return {"f1": 100.0 * f1, "precision": 100.0 * precision, "recall": 100.0 * recall}
