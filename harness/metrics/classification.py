"""Accuracy, as XTREME's scorer computes it (exact string match per line, in percent), and F1 variants."""

from __future__ import annotations


def accuracy(gold: list[str], pred: list[str], language: str = "") -> dict[str, float]:
    """Percentage of positions where the prediction equals the gold label."""
    if len(gold) != len(pred):
        raise ValueError(f"{len(pred)} predictions for {len(gold)} gold labels")
    if not gold:
        return {"accuracy": 0.0}
    correct = sum(int(p == g) for p, g in zip(pred, gold, strict=True))
    return {"accuracy": 100.0 * correct / len(gold)}


def accuracy_f1(gold: list[str], pred: list[str], language: str = "") -> dict[str, float]:
    """Accuracy and F1 of the positive class, which binary tasks name "1" (GLUE's QQP/MRPC score)."""
    out = accuracy(gold, pred, language)
    tp = sum(int(p == g == "1") for p, g in zip(pred, gold, strict=True))
    predicted, actual = sum(p == "1" for p in pred), sum(g == "1" for g in gold)
    out["f1"] = 100.0 * 2 * tp / (predicted + actual) if predicted + actual else 0.0
    return out


def weighted_f1(gold: list[str], pred: list[str], language: str = "") -> dict[str, float]:
    """Support-weighted mean of the per-class F1 over the gold classes (sklearn's average="weighted"; a class
    never predicted has F1 0, a class only predicted has no support and no weight), and accuracy."""
    out = accuracy(gold, pred, language)
    if not gold:
        return {"weighted_f1": 0.0, **out}
    total = 0.0
    for label in set(gold):
        tp = sum(int(p == g == label) for p, g in zip(pred, gold, strict=True))
        fp = sum(int(p == label != g) for p, g in zip(pred, gold, strict=True))
        support = gold.count(label)
        total += support * 2 * tp / (2 * tp + fp + (support - tp))
    return {"weighted_f1": 100.0 * total / len(gold), **out}
