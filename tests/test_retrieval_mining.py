"""Margin mining: a hand-computed case, identity with a LASER-style loop, chunking, dedup, errors."""

from __future__ import annotations

import numpy as np
import pytest

from harness.errors import UserError
from harness.retrieval.mining import (
    dedup_sentences,
    expand_pairs,
    greedy_one_to_one,
    mine_bitext,
)
from harness.retrieval.search import check_embeddings

# Unit vectors whose cosines are exact decimals. cos(x_i, y_j):
#        y0   y1   y2   y3
#   x0   .8   0    .6   0
#   x1   .6   .8   0    0
#   x2   0    .6   .8   1
# k = 2. a(x) = mean of the 2 best in the row:    a0 = .7, a1 = .7, a2 = (1 + .8) / 2 = .9
#        b(y) = mean of the 2 best in the column: b0 = .7, b1 = .7, b2 = .7, b3 = (1 + 0) / 2 = .5
# ratio margin = cos / ((a + b) / 2):
#   fwd: x0: y0 .8/.7 = 1.1429, y2 .6/.7 = .857  -> y0
#        x1: y1 .8/.7 = 1.1429, y0 .6/.7 = .857  -> y1
#        x2: y3 1/((.9+.5)/2) = 1/.7 = 1.4286, y2 .8/((.9+.7)/2) = 1.0 -> y3
#   bwd: y0 -> x0 (1.1429), y1 -> x1 (1.1429), y2 -> x2 (1.0), y3 -> x2 (1.4286)
# max: sorted (x2,y3) 1.4286, (x0,y0) 1.1429, (x1,y1) 1.1429, ..., (x2,y2) 1.0 dropped (x2 used).
X = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32)
Y = np.array([[0.8, 0.6, 0], [0, 0.8, 0.6], [0.6, 0, 0.8], [0, 0, 1]], dtype=np.float32)


def test_hand_built_ratio_max() -> None:
    src, trg, score = mine_bitext(X, Y, k=2, margin="ratio", mode="max")
    assert list(zip(src.tolist(), trg.tolist(), strict=True)) == [(2, 3), (0, 0), (1, 1)]
    np.testing.assert_allclose(score, [1 / 0.7, 0.8 / 0.7, 0.8 / 0.7], rtol=1e-6)


def test_hand_built_other_margins_and_modes() -> None:
    # distance: x2-y3 1 - .7 = .3; x0-y0 and x1-y1 .8 - .7 = .1; y2 -> x2 .8 - .8 = 0.
    src, trg, score = mine_bitext(X, Y, k=2, margin="distance", mode="bwd")
    assert list(zip(src.tolist(), trg.tolist(), strict=True)) == [(2, 3), (0, 0), (1, 1), (2, 2)]
    np.testing.assert_allclose(score, [0.3, 0.1, 0.1, 0.0], atol=1e-6)
    src, trg, score = mine_bitext(X, Y, k=2, margin="absolute", mode="intersect")
    assert list(zip(src.tolist(), trg.tolist(), strict=True)) == [(2, 3), (0, 0), (1, 1)]
    np.testing.assert_allclose(score, [1.0, 0.8, 0.8], atol=1e-6)
    src, trg, _ = mine_bitext(X, Y, k=2, mode="max", threshold=1.2)
    assert (src.tolist(), trg.tolist()) == ([2], [3])


def _reference(x: np.ndarray, y: np.ndarray, k: int, margin: str, mode: str) -> list[tuple]:
    """LASER's mine_bitexts.py logic, written plainly: normalise, kNN, per-pair loop, retrieval."""
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    y = y / np.linalg.norm(y, axis=1, keepdims=True)

    def knn(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sims = a @ b.T
        ind = np.argsort(-sims, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(sims, ind, axis=1), ind

    fn = {"ratio": lambda p, q: p / q, "distance": lambda p, q: p - q, "absolute": lambda p, q: p}[margin]
    xs, xi = knn(x, y)
    ys, yi = knn(y, x)
    xm, ym = xs.mean(axis=1), ys.mean(axis=1)

    def scores(a, b, ind, own, other):
        out = np.zeros(ind.shape)
        for i in range(ind.shape[0]):
            for j in range(ind.shape[1]):
                c = ind[i, j]
                out[i, j] = fn(a[i].dot(b[c]), (own[i] + other[c]) / 2)
        return out

    fs, bs = scores(x, y, xi, xm, ym), scores(y, x, yi, ym, xm)
    fb, bb = xi[np.arange(len(x)), fs.argmax(1)], yi[np.arange(len(y)), bs.argmax(1)]
    if mode == "fwd":
        out = [(i, j, fs[i].max()) for i, j in enumerate(fb)]
    elif mode == "bwd":
        out = [(i, j, bs[j].max()) for j, i in enumerate(bb)]
    elif mode == "intersect":
        out = [(i, j, fs[i].max()) for i, j in enumerate(fb) if bb[j] == i]
    else:
        pairs = list(zip(range(len(x)), fb, strict=True)) + list(zip(bb, range(len(y)), strict=True))
        s = np.concatenate([fs.max(1), bs.max(1)])
        seen_s, seen_t, out = set(), set(), []
        for i in np.argsort(-s, kind="stable"):
            a, b = pairs[i]
            if a not in seen_s and b not in seen_t:
                seen_s.add(a)
                seen_t.add(b)
                out.append((a, b, s[i]))
    return sorted(out, key=lambda t: -t[2])


@pytest.mark.parametrize("margin", ["ratio", "distance", "absolute"])
@pytest.mark.parametrize("mode", ["max", "fwd", "bwd", "intersect"])
def test_matches_reference_loop(margin: str, mode: str) -> None:
    rng = np.random.default_rng(7)
    x = rng.standard_normal((60, 12)).astype(np.float32)
    y = rng.standard_normal((45, 12)).astype(np.float32)
    expected = _reference(x, y, 3, margin, mode)
    src, trg, score = mine_bitext(x, y, k=3, margin=margin, mode=mode)
    assert list(zip(src.tolist(), trg.tolist(), strict=True)) == [(int(a), int(b)) for a, b, _ in expected]
    np.testing.assert_allclose(score, [s for *_, s in expected], rtol=1e-5, atol=1e-6)


def test_chunked_equals_unchunked_and_inputs_untouched() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((101, 8)).astype(np.float32)
    y = rng.standard_normal((77, 8)).astype(np.float32)
    x_before, y_before = x.copy(), y.copy()
    whole = mine_bitext(x, y, chunk_size=None)
    for chunk in (1, 7, 64):
        parts = mine_bitext(x, y, chunk_size=chunk)
        np.testing.assert_array_equal(parts[0], whole[0])
        np.testing.assert_array_equal(parts[1], whole[1])
        np.testing.assert_allclose(parts[2], whole[2], rtol=1e-6)
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(y, y_before)


def test_permuted_copy_is_mined_exactly_and_float64_input_ok() -> None:
    rng = np.random.default_rng(5)
    x = rng.standard_normal((50, 16))
    perm = rng.permutation(50)
    src, trg, _ = mine_bitext(x, x[perm] * 3.0)
    assert sorted(zip(src.tolist(), trg.tolist(), strict=True)) == sorted(
        (int(p), j) for j, p in enumerate(perm)
    )


def test_greedy_one_to_one_matches_sequential_walk() -> None:
    rng = np.random.default_rng(11)
    for _ in range(20):
        src, trg = rng.integers(0, 15, 60), rng.integers(0, 15, 60)
        seen_s, seen_t, expected = set(), set(), []
        for s, t in zip(src.tolist(), trg.tolist(), strict=True):
            expected.append(s not in seen_s and t not in seen_t)
            if expected[-1]:
                seen_s.add(s)
                seen_t.add(t)
        assert greedy_one_to_one(src, trg).tolist() == expected


def test_dedup_and_expand() -> None:
    unique = dedup_sentences(["s1", "s2", "s3", "s4"], ["a", "b", "a", "c"])
    assert unique.texts == ["a", "b", "c"]
    assert unique.ids == [["s1", "s3"], ["s2"], ["s4"]]
    assert unique.inverse.tolist() == [0, 1, 0, 2]
    trg = dedup_sentences(["t1", "t2"], ["x", "y"])
    mined = (np.array([0, 2]), np.array([1, 0]), np.array([2.0, 1.5]))
    assert expand_pairs(*mined, unique, trg) == [("s1", "t2", 2.0), ("s3", "t2", 2.0), ("s4", "t1", 1.5)]
    assert expand_pairs(*mined, unique, trg, duplicates="drop") == [("s4", "t1", 1.5)]


@pytest.mark.parametrize(
    ("x", "y", "kwargs", "message"),
    [
        (X, Y, {"k": 4}, "larger than the source pool"),
        (X, Y[:1], {"k": 2}, "larger than the target pool"),
        (np.zeros((0, 3), np.float32), Y, {}, "empty"),
        (X, Y[:, :2], {"k": 2}, "dimension 2 differs"),
        (X, np.where(Y == 1, np.nan, Y).astype(np.float32), {"k": 2}, "row 3 holds NaN"),
        (X, np.where(Y == 1, -np.inf, Y).astype(np.float32), {"k": 2}, "row 3 holds NaN or inf"),
        (X[0], Y, {}, "2-D"),
        (X.astype(np.int64), Y, {}, "float"),
        (X, Y, {"k": 2, "margin": "cosine"}, "margin"),
        (X, Y, {"k": 2, "mode": "both"}, "mode"),
        (X, Y, {"k": 0}, "positive integer"),
        (X, Y, {"k": 2, "index": "lsh"}, "index"),
    ],
)
def test_user_errors(x, y, kwargs, message) -> None:
    with pytest.raises(UserError, match=message):
        mine_bitext(x, y, **kwargs)


def test_huge_finite_embeddings_pass_the_finite_check() -> None:
    """Their sum overflows to inf; the check then looks value by value and finds nothing wrong."""
    big = np.full((3, 4), 3e38, dtype=np.float32)
    big[1] = -3e38
    check_embeddings("embeddings", big)
