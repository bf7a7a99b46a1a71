"""Accuracy, as XTREME's scorer computes it (exact string match per line, in percent)."""

from __future__ import annotations


def accuracy(gold: list[str], pred: list[str], language: str = "") -> dict[str, float]:
    """Percentage of positions where the prediction equals the gold label."""
    if len(gold) != len(pred):
        raise ValueError(f"{len(pred)} predictions for {len(gold)} gold labels")
    if not gold:
        return {"accuracy": 0.0}
    correct = sum(int(p == g) for p, g in zip(pred, gold))
    return {"accuracy": 100.0 * correct / len(gold)}
