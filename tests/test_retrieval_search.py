"""Chunked cosine kNN, top-1 search, and the approximate indexes."""

from __future__ import annotations

import numpy as np
import pytest

from harness.errors import UserError
from harness.retrieval.search import knn, nearest_neighbour


def _brute(q: np.ndarray, db: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    dn = db / np.linalg.norm(db, axis=1, keepdims=True)
    sims = qn @ dn.T
    ind = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(sims, ind, axis=1), ind


@pytest.mark.parametrize("chunk", [None, 1, 5, 33])
def test_knn_matches_brute_force(chunk: int | None) -> None:
    rng = np.random.default_rng(1)
    q = rng.standard_normal((40, 10)).astype(np.float32)
    db = rng.standard_normal((70, 10)).astype(np.float32)
    sims, ids = knn(q, db, 4, chunk_size=chunk)
    ref_sims, ref_ids = _brute(q, db, 4)
    np.testing.assert_array_equal(ids, ref_ids)
    np.testing.assert_allclose(sims, ref_sims, atol=1e-5)
    assert sims.dtype == np.float32 and ids.dtype == np.int64


def test_nearest_neighbour_finds_scaled_permuted_copy() -> None:
    rng = np.random.default_rng(2)
    pool = rng.standard_normal((30, 6)).astype(np.float32)
    perm = rng.permutation(30)
    queries = pool[perm] * 5
    assert nearest_neighbour(queries, pool, chunk_size=4).tolist() == perm.tolist()


@pytest.mark.parametrize("index", ["ivf", "hnsw"])
def test_approximate_indexes_find_planted_neighbours(index: str) -> None:
    rng = np.random.default_rng(4)
    db = rng.standard_normal((2000, 16)).astype(np.float32)
    q = db[:200] + 0.05 * rng.standard_normal((200, 16)).astype(np.float32)
    ids = nearest_neighbour(q, db, index=index)
    assert (ids == np.arange(200)).mean() >= 0.95


def test_knn_errors() -> None:
    q = np.ones((3, 4), np.float32)
    with pytest.raises(UserError, match="larger than the pool"):
        knn(q, q, 4)
    with pytest.raises(UserError, match="use_gpu"):
        knn(q, q, 1, use_gpu="yes")
    with pytest.raises(UserError, match="chunk_size"):
        knn(q, q, 1, chunk_size=-1)
