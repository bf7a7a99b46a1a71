"""Threshold sweep on dev gold (XTREME bucc_optimize) and its application to test."""

from __future__ import annotations

import numpy as np

from harness.retrieval.mining import dedup_sentences, expand_pairs, mine_bitext
from harness.retrieval.threshold import apply_threshold, best_threshold


def test_sweep_hand_case() -> None:
    # Sorted: a 0.9 (gold), b 0.8 (not), c 0.7 (gold), d 0.6 (not); 3 gold pairs (one never mined).
    # F1 after each: 2*1/(1+3) = .5, 2*1/(2+3) = .4, 2*2/(3+3) = .667, 2*2/(4+3) = .571 -> best at c.
    # Threshold = (0.7 + 0.6) / 2 = 0.65; P = 2/3, R = 2/3.
    pairs = [("s1", "t1"), ("s2", "t9"), ("s3", "t3"), ("s4", "t8")]
    gold = [("s1", "t1"), ("s3", "t3"), ("s5", "t5")]
    th, f1, p, r = best_threshold([0.9, 0.8, 0.7, 0.6], pairs, gold)
    assert abs(th - 0.65) < 1e-12
    assert abs(f1 - 200 / 3) < 1e-9 and abs(p - 200 / 3) < 1e-9 and abs(r - 200 / 3) < 1e-9
    assert apply_threshold([0.9, 0.8, 0.7, 0.6], pairs, th) == pairs[:3]


def test_sweep_edges() -> None:
    # Best at the last item: the threshold is its own score, so it is still extracted.
    th, f1, _, _ = best_threshold([0.9, 0.5], [("a", "x"), ("b", "y")], [("a", "x"), ("b", "y")])
    assert th == 0.5 and f1 == 100.0
    # A repeated candidate keeps its highest score.
    assert apply_threshold([0.1, 0.9], [("a", "x"), ("a", "x")], 0.5) == [("a", "x")]
    assert best_threshold([0.3], [("a", "x")], [("b", "y")]) == (0.0, 0.0, 0.0, 0.0)
    assert best_threshold([], [], [("b", "y")]) == (0.0, 0.0, 0.0, 0.0)


def test_gold_as_embedding_scores_100() -> None:
    rng = np.random.default_rng(0)
    n = 120
    texts_x = [f"sentence {i}" for i in range(n)]
    perm = rng.permutation(n)
    texts_y = [f"sentence {i}" for i in perm]
    emb = {t: rng.standard_normal(24).astype(np.float32) for t in texts_x}
    src = dedup_sentences([f"de-{i}" for i in range(n)], texts_x)
    trg = dedup_sentences([f"en-{j}" for j in range(n)], texts_y)
    x = np.stack([emb[t] for t in src.texts])
    y = np.stack([emb[t] for t in trg.texts])
    mined = expand_pairs(*mine_bitext(x, y), src, trg)
    gold = [(f"de-{p}", f"en-{j}") for j, p in enumerate(perm)]
    th, f1, p, r = best_threshold([s for *_, s in mined], [(a, b) for a, b, _ in mined], gold)
    assert (f1, p, r) == (100.0, 100.0, 100.0)
    assert sorted(apply_threshold([s for *_, s in mined], [(a, b) for a, b, _ in mined], th)) == sorted(gold)
