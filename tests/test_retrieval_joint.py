"""Joint exact kNN (`knn_both`): the same neighbours as two FAISS searches, and the same mined pairs."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from harness.errors import UserError
from harness.retrieval import mining
from harness.retrieval.mining import mine_bitext
from harness.retrieval.search import knn, knn_both


def _random(rng: np.random.Generator, n: int, m: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    return rng.standard_normal((n, d)).astype(np.float32), rng.standard_normal((m, d)).astype(np.float32)


def _clustered(rng: np.random.Generator, n: int, m: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    centres = rng.standard_normal((8, d)).astype(np.float32)
    x = centres[rng.integers(0, 8, n)] + 0.5 * rng.standard_normal((n, d)).astype(np.float32)
    y = np.empty((m, d), dtype=np.float32)
    half = min(n, m) // 2  # planted parallel rows, shuffled
    perm = rng.permutation(m)
    y[perm[:half]] = x[:half] + 0.2 * rng.standard_normal((half, d)).astype(np.float32)
    y[perm[half:]] = centres[rng.integers(0, 8, m - half)] + 0.5 * rng.standard_normal((m - half, d))
    return x, y


def _duplicated(rng: np.random.Generator, n: int, m: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    base = rng.standard_normal((12, d)).astype(np.float32)  # many exactly tied similarities
    return base[rng.integers(0, 12, n)], base[rng.integers(0, 12, m)] * 3


def _unit64(a: np.ndarray) -> np.ndarray:
    a = a.astype(np.float64)
    norms = np.linalg.norm(a, axis=1, keepdims=True)
    return a / np.where(norms > 0, norms, 1)


def _assert_same_neighbours(sims, ids, ref_sims, ref_ids, queries, db) -> None:
    """Equal up to float32 rounding. FAISS's order inside a group of equal cosines is put in index order (ours).
    Where a neighbour differs, the two lists hold near-ties: two float32 GEMMs (FAISS's BLAS call shapes,
    numpy's, another CPU's kernel) round a cosine differently in the last bit, which can swap neighbours
    whose cosines are that close. So each such row's neighbours, rescored in float64, must have the same
    cosines as FAISS's neighbours to within 1e-6."""
    np.testing.assert_allclose(sims, ref_sims, rtol=0, atol=1e-6)
    canon = np.array([i[np.lexsort((i, -s))] for s, i in zip(ref_sims, ref_ids, strict=True)]).reshape(ids.shape)
    q, b = _unit64(queries), _unit64(db)
    for r in np.flatnonzero((ids != canon).any(axis=1)):
        ours, theirs = np.sort(b[ids[r]] @ q[r]), np.sort(b[canon[r]] @ q[r])
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6, err_msg=f"row {r}")


@pytest.mark.parametrize("data", [_random, _clustered, _duplicated])
@pytest.mark.parametrize(
    ("n", "m", "d", "k", "chunk"),
    [
        (300, 200, 16, 4, None),
        (300, 200, 16, 4, 7),
        (57, 131, 8, 1, 1),
        (131, 57, 8, 3, 16),
        (40, 25, 5, 25, 6),  # k = the whole target pool
        (1200, 900, 48, 10, 256),
        (2500, 3100, 32, 4, 1000),
    ],
)
def test_knn_both_equals_two_faiss_searches(data, n, m, d, k, chunk) -> None:
    rng = np.random.default_rng(n * 7 + m)
    x, y = data(rng, n, m, d)
    x0, y0 = x.copy(), y.copy()
    xs, xi, ys, yi = knn_both(x, y, k, chunk_size=chunk)
    _assert_same_neighbours(xs, xi, *knn(x, y, k, use_gpu=False), x, y)
    _assert_same_neighbours(ys, yi, *knn(y, x, k, use_gpu=False), y, x)
    assert xs.dtype == ys.dtype == np.float32 and xi.dtype == yi.dtype == np.int64
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(y, y0)


def test_ties_keep_lowest_indices_in_ascending_order() -> None:
    x = np.ones((5, 3), dtype=np.float32)
    y = np.ones((50, 3), dtype=np.float32)
    for chunk in (None, 1, 7):
        xs, xi, ys, yi = knn_both(x, y, 4, chunk_size=chunk)
        assert (xi == np.arange(4)).all() and (yi == np.arange(4)).all()
        np.testing.assert_allclose(xs, 1.0, atol=1e-6)


def test_chunking_does_not_change_the_result() -> None:
    """Same neighbours; cosines equal up to BLAS rounding of the tile shape (a few ulp)."""
    x, y = _clustered(np.random.default_rng(5), 700, 500, 24)
    want = knn_both(x, y, 5)
    for chunk in (1, 3, 64, 499, 701):
        got = knn_both(x, y, 5, chunk_size=chunk)
        for sims, ref in zip(got[::2], want[::2], strict=True):
            np.testing.assert_allclose(sims, ref, rtol=0, atol=1e-6)
        for ids, ref in zip(got[1::2], want[1::2], strict=True):
            np.testing.assert_array_equal(ids, ref)


@pytest.mark.parametrize("data", [_random, _duplicated])
def test_memory_is_bounded_by_the_tile(data) -> None:
    """Beyond the outputs: about one tile (+ bool mask), two normalised chunks, bounded candidate arrays."""
    rng = np.random.default_rng(9)
    n, m, d, k, chunk = 3000, 2600, 64, 4, 512
    x, y = data(rng, n, m, d)
    knn_both(x[:20], y[:20], k, chunk_size=8)  # warm up: lazy imports allocate too
    tracemalloc.start()
    knn_both(x, y, k, chunk_size=chunk, check=False)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    outputs = (n + m) * k * (4 + 8)
    tile = chunk * chunk * 4
    # all-tied rows take the exact per-row fallback (a copy of the tile and its partition)
    assert peak - outputs < 5 * tile + 2 * chunk * d * 4, (peak, tile)


@pytest.mark.parametrize("data", [_random, _clustered])  # exact duplicates: dedup first (LASER does)
@pytest.mark.parametrize(("margin", "mode"), [("ratio", "max"), ("distance", "intersect"), ("absolute", "fwd")])
def test_mine_bitext_joint_equals_faiss_path(data, margin: str, mode: str) -> None:
    rng = np.random.default_rng(3)
    x, y = data(rng, 900, 700, 32)
    joint = mine_bitext(x, y, k=4, margin=margin, mode=mode, chunk_size=200, knn_backend="joint")
    faiss = mine_bitext(x, y, k=4, margin=margin, mode=mode, use_gpu=False, knn_backend="faiss")
    # same pairs, same score per pair up to float32 rounding, same order up to near-equal scores
    got = dict(zip(zip(joint[0].tolist(), joint[1].tolist(), strict=True), joint[2].tolist(), strict=True))
    want = dict(zip(zip(faiss[0].tolist(), faiss[1].tolist(), strict=True), faiss[2].tolist(), strict=True))
    assert got.keys() == want.keys()
    assert max(abs(got[p] - want[p]) for p in want) <= 1e-6
    np.testing.assert_allclose(joint[2], faiss[2], rtol=0, atol=1e-6)


def test_auto_uses_joint_on_cpu_exact_and_faiss_otherwise(monkeypatch) -> None:
    x, y = _clustered(np.random.default_rng(4), 300, 300, 16)
    calls: list[str] = []
    real_knn = mining.knn
    monkeypatch.setattr(mining, "knn", lambda *a, **kw: calls.append("faiss") or real_knn(*a, **kw))
    auto = mine_bitext(x, y, use_gpu=False)
    assert calls == []
    forced = mine_bitext(x, y, use_gpu=False, knn_backend="faiss")
    assert calls == ["faiss", "faiss"]
    assert auto[0].tolist() == forced[0].tolist() and auto[1].tolist() == forced[1].tolist()
    mine_bitext(x, y, use_gpu=False, index="hnsw")
    assert calls == ["faiss"] * 4


def test_errors() -> None:
    x = np.ones((3, 4), np.float32)
    with pytest.raises(UserError, match="knn_backend"):
        mine_bitext(x, x, k=1, knn_backend="blas")
    with pytest.raises(UserError, match="exact"):
        mine_bitext(x, x, k=1, index="ivf", knn_backend="joint")
    with pytest.raises(UserError, match="larger than the target pool"):
        knn_both(x, x[:2], 3)
    with pytest.raises(UserError, match="chunk_size"):
        knn_both(x, x, 1, chunk_size=0)
    with pytest.raises(UserError, match="k: expected"):
        knn_both(x, x, 0)
