"""The bfloat16 screen (`knn_both_screened`): exact top-k by float64 cosine, both ways, or a clean fallback.

The kernel needs a C compiler and a CPU with AMX; where either is missing these tests that run it skip,
and the fallback tests still run.
"""

from __future__ import annotations

import numpy as np
import pytest

from harness.errors import UserError
from harness.retrieval import kernel, screen
from harness.retrieval.mining import mine_bitext
from harness.retrieval.search import normalized

needs_kernel = pytest.mark.skipif(
    kernel.load() is None or not kernel.load().amx_ready(), reason="no C compiler or no AMX for the screen kernel"
)


def _truth(q: np.ndarray, p: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k by (float32(float64 cosine) desc, index asc), by brute force."""
    sims = (normalized(q).astype(np.float64) @ normalized(p).astype(np.float64).T).astype(np.float32)
    ids = np.lexsort((np.broadcast_to(np.arange(sims.shape[1]), sims.shape), -sims), axis=1)[:, :k]
    return np.take_along_axis(sims, ids, axis=1), ids


def _data(kind: str, rng: np.random.Generator, n: int, m: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    x = rng.standard_normal((n, d)).astype(np.float32)
    y = rng.standard_normal((m, d)).astype(np.float32)
    if kind == "anisotropic":  # all cosines high and close together
        x += 3
        y += 3
    elif kind == "planted":  # clear nearest neighbours, as in bitext
        y[: min(n, m)] = x[: min(n, m)] + 0.1 * rng.standard_normal((min(n, m), d)).astype(np.float32)
    elif kind == "duplicated":  # exact ties
        x[::3] = x[0]
        y[::2] = y[1]
    elif kind == "zero rows":  # FAISS leaves them zero: cosine 0 with everything (a few; many is "duplicated")
        x[::97] = 0
        y[3::89] = 0
    return x, y


@needs_kernel
@pytest.mark.parametrize("kind", ["gaussian", "anisotropic", "planted", "duplicated", "zero rows"])
@pytest.mark.parametrize(
    ("n", "m", "d", "k", "block", "threads"),
    [(5, 7, 3, 1, 32, 1), (50, 37, 16, 4, 32, 2), (130, 70, 8, 3, 64, 3), (9, 9, 4, 9, 32, 1),
     (600, 450, 48, 4, 128, 2), (257, 129, 40, 2, 4096, 2), (70, 90, 33, 40, 32, 2), (300, 1200, 64, 4, 512, 2)],
)
def test_screen_gives_exact_top_k_both_ways(kind, n, m, d, k, block, threads) -> None:
    x, y = _data(kind, np.random.default_rng(n + m + d), n, m, d)
    got = screen.knn_both_screened(x, y, k, chunk=block, panel=block, threads=threads)
    assert got is not None
    _assert_exact(x, y, k, got)


def _assert_exact(x: np.ndarray, y: np.ndarray, k: int, got: tuple) -> None:
    for (sims, ids), (want_s, want_i) in zip((got[:2], got[2:]), (_truth(x, y, k), _truth(y, x, k)), strict=True):
        np.testing.assert_array_equal(ids, want_i)
        np.testing.assert_allclose(sims, want_s, rtol=0, atol=1e-7)


def _near_ties() -> tuple[np.ndarray, np.ndarray]:
    """Near-duplicate embeddings: every cosine lies within the screen's error of every other."""
    rng = np.random.default_rng(7)
    base = rng.standard_normal(96).astype(np.float32)
    x = base + 1e-4 * rng.standard_normal((200, 96)).astype(np.float32)
    y = base + 1e-4 * rng.standard_normal((300, 96)).astype(np.float32)
    return x, y


@needs_kernel
def test_screen_stays_exact_when_candidate_buffers_overflow(monkeypatch) -> None:
    """Every list's candidate buffer fills, is compacted and re-scored, again and again."""
    monkeypatch.setattr(screen, "MAX_CANDIDATES", 10**6)  # by default it gives up on such data (see below)
    x, y = _near_ties()
    got = screen.knn_both_screened(x, y, 3, chunk=64, panel=64, threads=2)
    assert got is not None
    _assert_exact(x, y, 3, got)


@pytest.mark.parametrize("scale", [1.0, 1e-3, 1e3, 1e-19, 1e19])
def test_faiss_inverse_norms_reproduce_normalize_l2_bit_for_bit(scale) -> None:
    a = (np.random.default_rng(3).standard_normal((300, 77)) * scale).astype(np.float32)
    a[5] = 0
    np.testing.assert_array_equal(a * screen.faiss_inverse_norms(a)[:, None], normalized(a))


@needs_kernel
def test_screen_gives_up_when_too_many_entries_survive() -> None:
    x, y = _near_ties()
    assert screen.knn_both_screened(x, y, 3, chunk=64, panel=64, threads=2) is None


def test_screen_is_out_without_amx(monkeypatch) -> None:
    class NoAmx:
        def amx_ready(self) -> int:
            return 0

    monkeypatch.setattr(kernel, "load", lambda: NoAmx())
    x, y = _data("gaussian", np.random.default_rng(4), 40, 30, 8)
    assert screen.knn_both_screened(x, y, 2) is None


def test_mining_falls_back_to_the_joint_pass_without_the_kernel(monkeypatch) -> None:
    x, y = _data("planted", np.random.default_rng(1), 80, 60, 12)
    want = mine_bitext(x, y, k=3, knn_backend="joint")
    monkeypatch.setattr(kernel, "load", lambda: None)
    got = mine_bitext(x, y, k=3, knn_backend="screened")
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)


@needs_kernel
def test_screened_mining_finds_the_joint_pairs() -> None:
    x, y = _data("planted", np.random.default_rng(2), 400, 300, 32)
    got = mine_bitext(x, y, k=4, knn_backend="screened", chunk_size=128)
    want = mine_bitext(x, y, k=4, knn_backend="joint")
    pairs = [set(zip(r[0].tolist(), r[1].tolist(), strict=True)) for r in (got, want)]
    assert pairs[0] == pairs[1]
    np.testing.assert_allclose(np.sort(got[2]), np.sort(want[2]), rtol=0, atol=1e-5)


def test_screened_mining_rejects_bad_options() -> None:
    x = np.ones((4, 3), dtype=np.float32)
    with pytest.raises(UserError, match="k: expected"):
        mine_bitext(x, x, k=0, knn_backend="screened")
    with pytest.raises(UserError, match="chunk_size"):
        mine_bitext(x, x, k=1, knn_backend="screened", chunk_size=-1)
    with pytest.raises(UserError, match="exact neighbours"):
        mine_bitext(x, x, k=1, knn_backend="screened", index="ivf")
