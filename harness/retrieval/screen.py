"""Exact cosine kNN both ways behind a low-precision screen (AMX or AVX2 CPUs), re-ranked in float64.

Why: mining's cost is the similarity matrix. AMX multiplies int8 tiles (exact int32 sums) twice as fast as
bfloat16 tiles (float32 sums), and those several times faster than float32 sgemm; AVX2 multiplies 7-bit codes
("int7", exact int32 sums) at up to ~2.9x FAISS's float32 rate (a Zen 3; bench/retrieval.py measures it). The
products are only accurate to about 2e-2 (int8), 4e-2 (int7), 4e-3 (bfloat16) or 1e-3 (int16, AVX2's finer
precision). The screen uses them only to discard entries that provably cannot be among the top k; every
entry that survives is re-scored exactly, so the neighbours are exact. On AMX, int8 halves the tile work but
lets about four times as many entries through to re-scoring; "auto" picks the cheaper by a cost model
(`choose_precision`), so int8 on large pools of well-spread embeddings and bfloat16 where a few outlier
dimensions make the int8 bound loose. On AVX2 the same choice is between int7 and int16.

Definition of the result: the cosine of a pair is the float64 dot product of the two rows as
L2-normalised in float32 by FAISS (`faiss.normalize_L2`, LASER's step; reproduced bit for bit from FAISS's
squared norms), rounded to float32; each row's and each column's top-k by (cosine descending, index
ascending). This is `knn_both`'s definition except that `knn_both` takes sgemm's float32 sums, which
differ from these in the last bits.

The bound. For float32-normalised rows x, y with roundings x^, y^ and residuals dx = x - x^:
    |x.y - s(x^.y^)| <= |x^||dy| + |dx||y^| + |dx||dy| + g |x^||y^|   =: e
(Cauchy-Schwarz on the three residual products). bfloat16: x^ rounds each value, s is float32
accumulation in any order, g = d u / (1 - d u) with u = 2^-22, twice float32's unit roundoff, so the bound
holds whatever rounding the tile unit uses. int8: x^ = scale * q with q = round(x / scale) in [-127, 127]
and scale = max |x| / 127 per row; the int32 sum q_x.q_y is exact and s rounds three times (int32 to
float32, scale_x * scale_y, the product), g = 3u. int7: x^ = scale_x * (u - z) with u in [0, 127] and an
integer zero point z, y^ = scale_y * q with q in [-63, 63]; (u - z).q is an exact int32 and s rounds as for
int8, g = 3u. int16: x^ = scale * q with q in [-Q, Q], d Q^2 < 2^31 (`int16_levels`), the int32 sum is
exact, g = 3u. |x^| and |dx| are computed per row in float64.
Per pair, with |y^| <= its side's maximum: e <= alpha_i |dy_j| + beta_i (`_Packed.bound`; the lists of y's
rows use the mirror form), plus 1e-6 for the float32 rounding of re-scored cosines, of the scan's
v + alpha |dy| and for values AMX flushes to zero. An entry can still enter a list whose k-th best cosine
is L only if its upper bound v + e is >= L; a list without k exact cosines yet uses the k-th largest lower
bound v - e of the entries it has seen instead of L.

Where the work happens: `screen_kernel.c` (compiled by `kernel.py`): AMX tiles or AVX2 products, the scan of
each 32 x 32 block in L1, float64 re-scoring (the same bits on either), one thread per core (FAISS's OpenMP
thread count).

The screen gives up (returns None) when it re-scores more than `MAX_CANDIDATES[precision]` (times the mean
pool / `POOL`, when above 1) + 2k entries per row and column on average: massive near-ties, such as many
identical or near-duplicate embeddings, which it cannot tell apart without re-scoring each (mining
de-duplicates identical sentences first, as LASER does); callers then run `knn_both`. Measured figures are
in bench/retrieval.py's output and the README.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from harness.retrieval import kernel

PRECISIONS = ("auto", "int8", "bf16", "int7", "int16")
# kernel.screen_isa() -> that build's precisions, the cheap one (looser bound) first
ISA_PRECISIONS = {2: ("int8", "bf16"), 1: ("int7", "int16")}
_CODES = {"bf16": 0, "int8": 1, "int7": 2, "int16": 3}  # the kernel's names for them
PRECISE = {"int8": "bf16", "int7": "int16"}  # the cheap precision -> its build's finer one
# average entries re-scored per row and column, beyond 2k, before the screen gives up, for pools of up to
# POOL rows (the entries within e of the k-th best grow with the pool, so the limit does too)
MAX_CANDIDATES = {"bf16": 32, "int8": 96, "int7": 96, "int16": 32}
POOL = 50_000
# The cost model, in units of the cheap precision's products per pair: the fine precision's extra cost per
# pair, and one exact re-scoring (a float64 dot product of two rows fetched from memory). AMX: bf16 tiles run
# at half the int8 rate; a re-scoring ~ 6e5 bfloat16 flops, 4e5 to 8e5 measured from the int8/bf16
# crossover at 5k and 15k rows. AVX2: int16 products cost ~1.8x int7's (kernel.probe_products on a Zen 3);
# a re-scoring ~ 1e5 int7 multiply-adds (~1.2 us a thread at ~70e9 a second, fitted to int7 and int16 runs at
# 50k rows: 17.2 s with 5.5M re-scorings, 25.3 s with 0.46M).
EXTRA_WORK = {"int8": 1.0, "int7": 0.8}
RESCORE_WORK = {"int8": 6e5, "int7": 1e5}
SAMPLE = 32  # rows of each side that choose_precision scores
PANEL = 512  # columns of y per panel: 512 x 768 bfloat16 = 768 KiB, kept in L2
_SLACK = 1e-6  # float32 rounding of a re-scored cosine (<= 2^-24), flushed denormals, float64 error
_UNIT = 2.0**-22  # twice float32's unit roundoff (see the module docstring)


def knn_both_screened(
    x: np.ndarray,
    y: np.ndarray,
    k: int,
    *,
    precision: str = "auto",
    chunk: int = 4096,
    panel: int = PANEL,
    threads: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """Exact top-k both ways (x2y_sims, x2y_ids, y2x_sims, y2x_ids), or None when the screen is out.

    None: no C compiler, neither AMX nor AVX2, a precision this CPU's build lacks (AMX: int8, bf16; AVX2:
    int7, int16), k above `kernel.MAX_K`, or more re-scorings per row and column than the limit (see the
    module docstring). Inputs must be checked already (finite 2-D floats, same width, k <= both pools).
    `precision`: the screen's products, "int8" (twice the tile rate, a looser bound), "bf16", "int7" (about
    1.8x int16's rate, a looser bound), "int16", or "auto": the build's cheap one or its finer one by
    `choose_precision`, then the finer one if the cheap screen gives up. `chunk`: rows of x
    per chunk (kept in L3); `panel`: columns of y per panel (kept in L2); both are rounded down to multiples
    of 32. `threads`: default FAISS's OpenMP thread count.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision: expected one of {', '.join(PRECISIONS)}, got {precision!r}")
    lib = kernel.load()
    available = ISA_PRECISIONS.get(lib.screen_isa(), ()) if lib is not None else ()
    order = list(available) if precision == "auto" else [p for p in available if p == precision]
    if not order or k > kernel.MAX_K:
        return None
    x = np.ascontiguousarray(x, dtype=np.float32)
    y = np.ascontiguousarray(y, dtype=np.float32)
    x_inv, y_inv = faiss_inverse_norms(x), faiss_inverse_norms(y)
    for p in order:
        packed = _pack_both(lib, x, x_inv, y, y_inv, p)
        if precision == "auto" and p in PRECISE and choose_precision(x, x_inv, y, y_inv, k, *packed) != p:
            continue
        found = _screen(lib, x, y, k, packed, p, chunk, panel, threads or _threads())
        if found is not None:
            return found
    return None


def choose_precision(
    x: np.ndarray, x_inv: np.ndarray, y: np.ndarray, y_inv: np.ndarray, k: int, xs: _Packed, ys: _Packed
) -> str:
    """The sides' (cheap) precision or its finer one (`PRECISE`), whichever the cost model expects to be faster.

    Model: per list, the products cost m d in units of the cheap precision's (m: the mean pool) and
    `EXTRA_WORK` m d more in the fine one, and each re-scoring costs `RESCORE_WORK` of those units
    (`expected_rescorings` estimates their number).
    """
    cheap = xs.precision
    loose, fine = expected_rescorings(x, x_inv, y, y_inv, k, xs, ys)
    saved = EXTRA_WORK[cheap] * (x.shape[0] + y.shape[0]) / 2 * x.shape[1]
    return cheap if (loose - fine) * RESCORE_WORK[cheap] < saved else PRECISE[cheap]


def expected_rescorings(
    x: np.ndarray, x_inv: np.ndarray, y: np.ndarray, y_inv: np.ndarray, k: int, xs: _Packed, ys: _Packed
) -> tuple[float, float]:
    """Re-scorings per list expected with the sides' (cheap) precision and with its finer one: the entries
    within e (each precision's bound) of the k-th best cosine, averaged over `SAMPLE` rows of each side
    (float32 estimates)."""
    d, cheap = x.shape[1], xs.precision
    # bfloat16, for unit rows: |dx| <= 2^-9, so e <= (1 + 2^-9) 2^-9 + 2^-9 + g + slack
    e_bf16 = (1 + 2.0**-9) * 2.0**-9 + 2.0**-9 + _gamma(d, "bf16") + _SLACK
    loose = fine = 0.0
    for a, a_inv, b, b_inv, a_side, b_side in ((x, x_inv, y, y_inv, xs, ys), (y, y_inv, x, x_inv, ys, xs)):
        rows = np.unique(np.linspace(0, a.shape[0] - 1, SAMPLE).astype(np.int64))
        sims, cols = _cosines(a[rows] * a_inv[rows, None], b, b_inv)
        scale = b.shape[0] / cols.shape[0]
        rank = max(1, min(cols.shape[0], round(k / scale)))  # the k-th best of all ~ this rank in the quarter
        kth = np.partition(sims, cols.shape[0] - rank, axis=1)[:, -rank]
        alpha, beta = a_side.bound(b_side, _gamma(d, cheap))
        e_loose = alpha[rows, None] * b_side.res[None, cols] + beta[rows, None]
        if cheap == "int8":
            e_fine = e_bf16
        else:  # int16, for unit rows: e ~ |dx| + |dy| (+ g + slack)
            e_fine = (_int16_residuals(a, a_inv, rows)[:, None] + _int16_residuals(b, b_inv, cols)[None, :]
                      + 4 * _UNIT + _SLACK)
        loose += scale * float((sims >= kth[:, None] - e_loose).sum(axis=1).mean()) / 2
        fine += scale * float((sims >= kth[:, None] - e_fine).sum(axis=1).mean()) / 2
    return loose, fine


def int16_levels(d: int) -> int:
    """The int16 codes' largest magnitude Q for width d: d Q^2 < 2^31 (the kernel's `int16_levels`)."""
    q = int(np.sqrt(2147483647.0 / max(d, 1)))
    while q * q * d >= 2**31 - 1:
        q -= 1
    return min(q, 32767)


def _int16_residuals(a: np.ndarray, inv: np.ndarray, rows: np.ndarray, step: int = 1024) -> np.ndarray:
    """|row - its int16 rounding| of a's normalised rows `rows` (an estimate of what `pack_rows` records),
    `step` rows at a time so that the temporaries stay small."""
    out = np.empty(rows.shape[0])
    levels = int16_levels(a.shape[1])
    for start in range(0, rows.shape[0], step):
        part = rows[start : start + step]
        v = a[part] * inv[part, None]
        scale = np.abs(v).max(axis=1, keepdims=True) / levels
        q = np.divide(v, scale, out=np.zeros_like(v), where=scale > 0)
        out[start : start + step] = np.linalg.norm(v - np.round(q) * scale, axis=1)
    return out


def _cosines(q: np.ndarray, b: np.ndarray, b_inv: np.ndarray, blocks: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """float32 cosines (an estimate) of normalised rows q against a quarter of b's rows (`blocks` runs
    spread over b, so that only they are read), and those rows' indices."""
    m = b.shape[0]
    size = max(1, m // (4 * blocks))
    starts = np.unique(np.linspace(0, m - size, blocks).astype(np.int64))
    parts = [(q @ b[s : s + size].T) * b_inv[None, s : s + size] for s in starts]
    return np.concatenate(parts, axis=1), np.concatenate([np.arange(s, s + size) for s in starts])


def _pack_both(lib: object, x, x_inv, y, y_inv, precision: str) -> tuple[_Packed, _Packed]:
    with ThreadPoolExecutor(max_workers=2) as pool:  # the kernel releases the GIL
        return tuple(pool.map(lambda side: _Packed(lib, *side, precision),
                              ((x, x_inv, False), (y, y_inv, True))))


def _gamma(d: int, precision: str) -> float:
    """Relative error of the tile sums: float32 accumulation over d terms (bf16); int8 and int7 sums are exact
    and only three roundings remain (int32 to float32, scale x scale, and the product)."""
    return d * _UNIT / (1 - d * _UNIT) if precision == "bf16" else 3 * _UNIT


def _screen(lib, x, y, k, packed, precision, chunk, panel, threads):
    """One run of the kernel; None when it gives up."""
    xs, ys = packed
    (n, d), m = x.shape, y.shape[0]
    gamma = _gamma(d, precision)
    x2y_s = np.full((n, k), -np.inf, dtype=np.float32)
    x2y_i = np.full((n, k), -1, dtype=np.int64)
    y2x_s = np.full((m, k), -np.inf, dtype=np.float32)
    y2x_i = np.full((m, k), -1, dtype=np.int64)
    (x_alpha, x_beta), (y_alpha, y_beta) = xs.bound(ys, gamma), ys.bound(xs, gamma)
    limit = MAX_CANDIDATES[precision] * max(1.0, (n + m) / 2 / POOL) + 2 * k
    args = (x, xs.inv, n, y, ys.inv, m, d, xs.packed, ys.packed, _CODES[precision], xs.scale, ys.scale, xs.offset,
            ys.offset, x_alpha, x_beta, xs.res_up, y_alpha, y_beta, ys.res_up, k, x2y_s, x2y_i, y2x_s, y2x_i, chunk,
            panel, threads, int(limit))
    if lib.knn_screen(*(_pointer(a) for a in args)) < 0:
        return None
    return x2y_s, x2y_i, y2x_s, y2x_i


class _Packed:
    """One side: FAISS's inverse norms, the rounded rows in the kernel's layout, and the norms the bound needs.

    `vnni`: y's layout (and, for int7, y's signed codes; x's are unsigned with a zero point)."""

    def __init__(self, lib: object, a: np.ndarray, inv: np.ndarray, vnni: bool, precision: str) -> None:
        n, d = a.shape
        rows = -(-n // 32) * 32
        self.inv = inv
        self.precision = precision
        if precision in ("bf16", "int16"):
            self.packed = _zeros_aligned((rows, -(-d // 32) * 32), np.uint16 if precision == "bf16" else np.int16)
        else:
            self.packed = _zeros_aligned((rows, -(-d // 64) * 64), np.uint8 if precision == "int7" and not vnni
                                         else np.int8)
        self.scale = np.zeros(rows, dtype=np.float32)  # int8, int7: each row's scale (zero past n)
        self.offset = np.zeros(rows, dtype=np.int32)  # int7: x's zero points, y's sums of codes
        self.hat = np.empty(n, dtype=np.float64)  # |rounded row|
        self.res = np.empty(n, dtype=np.float64)  # |normalised row - rounded row|
        args = (a, self.inv, n, d, self.packed.shape[1], int(vnni), _CODES[precision], self.packed, self.scale,
                self.offset, self.hat, self.res)
        lib.pack_rows(*(_pointer(v) for v in args))

    def bound(self, other: _Packed, gamma: float) -> tuple[np.ndarray, np.ndarray]:
        """(alpha, beta) for this side's lists: e of row i with `other`'s row j <= alpha[i] res[j] + beta[i].

        From the module docstring's e with |y^_j| <= max |y^|: (|x^_i| + |dx_i|) |dy_j| + |dx_i| max |y^|
        + g |x^_i| max |y^| + slack. alpha is rounded up to float32 and padded with zeros like `res_up`.
        """
        o_hat = other.hat.max(initial=0.0)
        alpha = np.zeros(self.scale.shape[0], dtype=np.float32)
        alpha[: self.hat.shape[0]] = _round_up(self.hat + self.res)
        return alpha, self.res * o_hat + gamma * self.hat * o_hat + _SLACK

    @property
    def res_up(self) -> np.ndarray:
        """|dx| of each row rounded up to float32, padded with zeros to the packed row count."""
        out = np.zeros(self.scale.shape[0], dtype=np.float32)
        out[: self.res.shape[0]] = _round_up(self.res)
        return out


def _zeros_aligned(shape: tuple[int, int], dtype: type) -> np.ndarray:
    """Zeros whose data starts on a 64-byte boundary (numpy gives 16): tile rows then never straddle cache
    lines."""
    size = shape[0] * shape[1] * np.dtype(dtype).itemsize
    raw = np.zeros(size + 64, dtype=np.uint8)
    start = -raw.ctypes.data % 64
    return raw[start : start + size].view(dtype).reshape(shape)


def _round_up(v: np.ndarray) -> np.ndarray:
    """float32 values >= the float64 values v."""
    f = v.astype(np.float32)
    return np.where(f < v, np.nextafter(f, np.float32(np.inf)), f).astype(np.float32)


def faiss_inverse_norms(a: np.ndarray) -> np.ndarray:
    """float32 factors f with fl(a[i] * f[i]) == faiss.normalize_L2(a)[i] bit for bit (1 for zero rows)."""
    import faiss

    squares = np.empty(a.shape[0], dtype=np.float32)
    faiss.fvec_norms_L2sqr(faiss.swig_ptr(squares), faiss.swig_ptr(a), a.shape[1], a.shape[0])
    # FAISS: inv_nr = 1.0 / sqrtf(nr) (a double quotient stored in a float); rows with nr == 0 untouched
    roots = np.sqrt(squares).astype(np.float64)
    inv = np.divide(1.0, roots, out=np.ones_like(roots), where=squares > 0)
    return inv.astype(np.float32)


def _threads() -> int:
    import faiss

    return max(1, int(faiss.omp_get_max_threads()))


def _pointer(a: object) -> object:
    """ctypes-ready argument: arrays by address (they must be C-contiguous), numbers as they are."""
    if isinstance(a, np.ndarray):
        if not a.flags.c_contiguous:
            raise ValueError("screen kernel: arrays must be C-contiguous")
        return a.ctypes.data
    return a
