"""Choose the mining score threshold on dev gold pairs, then apply it unchanged to test.

Algorithm (XTREME `third_party/utils_retrieve.py`, its threshold optimisation and extraction, after
LASER's mining task): candidate id pairs keep their highest score; sort them by descending score
(stable); walk the list counting extracted and correct pairs; F1 = 2 * correct / (extracted + gold)
(equal to 2PR / (P + R)); the best F1 is the first maximum; the threshold is the midpoint between that
item's score and the next item's (that item's own score when it is the last one, where XTREME would
fail); a candidate is extracted when its score >= threshold. With no correct candidate at all the
threshold is 0 and F1 is 0, as in XTREME. Precision, recall and F1 are returned in percent.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence

import numpy as np

from harness.errors import UserError

Pair = tuple[Hashable, Hashable]


def best_candidates(scores: Sequence[float], pairs: Sequence[Pair]) -> dict[Pair, float]:
    """Each distinct pair with its highest score, in order of first appearance."""
    if len(scores) != len(pairs):
        raise UserError(f"threshold: {len(scores)} scores but {len(pairs)} candidate pairs; must pair up")
    best: dict[Pair, float] = {}
    for pair, score in zip(pairs, scores, strict=True):
        key = tuple(pair)
        value = float(score)
        best[key] = max(value, best.get(key, value))
    return best


def best_threshold(
    candidate_scores: Sequence[float], candidate_pairs: Sequence[Pair], gold_pairs: Iterable[Pair]
) -> tuple[float, float, float, float]:
    """(threshold, f1, precision, recall) maximising F1 of `score >= threshold` against `gold_pairs`."""
    best = best_candidates(candidate_scores, candidate_pairs)
    gold = {tuple(pair) for pair in gold_pairs}
    if not best or not gold:
        return 0.0, 0.0, 0.0, 0.0
    pairs = list(best)
    scores = np.fromiter(best.values(), dtype=np.float64, count=len(pairs))
    order = np.argsort(-scores, kind="stable")
    hit = np.fromiter((pairs[i] in gold for i in order), dtype=bool, count=len(pairs))
    correct = np.cumsum(hit)
    extracted = np.arange(1, len(pairs) + 1)
    if correct[-1] == 0:
        return 0.0, 0.0, 0.0, 0.0
    # First maximum of 2c / (e + g), compared exactly as fractions: c_a (e_b + g) vs c_b (e_a + g).
    denom = extracted + len(gold)
    i = _first_max_fraction(correct, denom)
    sorted_scores = scores[order]
    nxt = sorted_scores[i + 1] if i + 1 < len(pairs) else sorted_scores[i]
    threshold = float((sorted_scores[i] + nxt) / 2)
    c, e = int(correct[i]), int(extracted[i])
    precision, recall = c / e, c / len(gold)
    f1 = 2 * c / (e + len(gold))
    return threshold, 100 * f1, 100 * precision, 100 * recall


def _first_max_fraction(num: np.ndarray, den: np.ndarray) -> int:
    """Index of the first maximum of num / den, exact for integer arrays."""
    approx = num / den
    top = np.flatnonzero(approx >= approx.max() * (1 - 1e-12))
    best = int(top[0])
    for j in top[1:].tolist():
        if int(num[j]) * int(den[best]) > int(num[best]) * int(den[j]):
            best = j
    return best


def apply_threshold(
    candidate_scores: Sequence[float], candidate_pairs: Sequence[Pair], threshold: float
) -> list[Pair]:
    """The distinct candidate pairs whose (highest) score is >= threshold, best first."""
    best = best_candidates(candidate_scores, candidate_pairs)
    kept = [(pair, score) for pair, score in best.items() if score >= threshold]
    kept.sort(key=lambda item: -item[1])
    return [pair for pair, _ in kept]
