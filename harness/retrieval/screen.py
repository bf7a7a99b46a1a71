"""Exact cosine kNN both ways behind a bfloat16 screen (CPUs with AMX), re-ranked in float64.

Why: mining's cost is the similarity matrix. AMX multiplies bfloat16 tiles with float32 sums several
times faster than float32 sgemm, but the products are only accurate to about 1e-3. The screen uses them
only to discard entries that provably cannot be among the top k; every entry that survives is re-scored
exactly, so the neighbours are exact.

Definition of the result: the cosine of a pair is the float64 dot product of the two rows as
L2-normalised in float32 by FAISS (`faiss.normalize_L2`, LASER's step; reproduced bit for bit from FAISS's
squared norms), rounded to float32; each row's and each column's top-k by (cosine descending, index
ascending). This is `knn_both`'s definition except that `knn_both` takes sgemm's float32 sums, which
differ from these in the last bits.

The bound. For float32-normalised rows x, y with bfloat16 roundings x^, y^ and residuals dx = x - x^:
    |x.y - fl(x^.y^)| <= |x^||dy| + |dx||y^| + |dx||dy| + g_d |x^||y^|   =: e
(Cauchy-Schwarz on the three residual products; g_d = d u / (1 - d u) bounds float32 accumulation in any
order; u = 2^-22, twice float32's unit roundoff, so the bound holds whatever rounding the tile unit uses).
Bounds use per-row norms and the other side's maxima, plus 1e-6 for the float32 rounding of re-scored
cosines and for values AMX flushes to zero. An entry that can still enter a list whose k-th best cosine
is L has a screened value >= L - e: that is its threshold. A list not yet full takes the threshold that
its block proves: k distinct entries with screened values >= v have cosines >= v - e, so the threshold
is v - 2e.

Where the work happens: `screen_kernel.c` (compiled by `kernel.py`): AMX tiles, the scan of each 32 x 32
block in L1, float64 re-scoring, one thread per core (FAISS's OpenMP thread count).

The screen gives up (returns None) when it re-scores more than `MAX_CANDIDATES` + 2k entries per row and
column on average: massive near-ties, such as many identical or near-duplicate embeddings, which it
cannot tell apart without re-scoring each (mining de-duplicates identical sentences first, as LASER
does); callers then run `knn_both`. Measured figures are in bench/retrieval.py's output and the README.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from harness.retrieval import kernel

MAX_CANDIDATES = 32  # average entries re-scored per row and column, beyond 2k, before the screen gives up
PANEL = 512  # columns of y per panel: 512 x 768 bfloat16 = 768 KiB, kept in L2
_SLACK = 1e-6  # float32 rounding of a re-scored cosine (<= 2^-24), flushed denormals, float64 error
_UNIT = 2.0**-22  # twice float32's unit roundoff (see the module docstring)


def knn_both_screened(
    x: np.ndarray, y: np.ndarray, k: int, *, chunk: int = 4096, panel: int = PANEL, threads: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """Exact top-k both ways (x2y_sims, x2y_ids, y2x_sims, y2x_ids), or None when the screen is out.

    None: no C compiler or no AMX, k above `kernel.MAX_K`, or more than `MAX_CANDIDATES` + 2k re-scorings
    per row and column. Inputs must be checked already (finite 2-D floats, same width, k <= both pools).
    `chunk`: rows of x per chunk (kept in L3); `panel`: columns of y per panel (kept in L2); both are
    rounded down to multiples of 32. `threads`: default FAISS's OpenMP thread count.
    """
    lib = kernel.load()
    if lib is None or k > kernel.MAX_K or not lib.amx_ready():
        return None
    x = np.ascontiguousarray(x, dtype=np.float32)
    y = np.ascontiguousarray(y, dtype=np.float32)
    (n, d), m = x.shape, y.shape[0]
    with ThreadPoolExecutor(max_workers=2) as pool:  # the kernel releases the GIL
        xs, ys = pool.map(lambda side: _Packed(lib, *side), ((x, False), (y, True)))
    gamma = d * _UNIT / (1 - d * _UNIT)
    x2y_s = np.full((n, k), -np.inf, dtype=np.float32)
    x2y_i = np.full((n, k), -1, dtype=np.int64)
    y2x_s = np.full((m, k), -np.inf, dtype=np.float32)
    y2x_i = np.full((m, k), -1, dtype=np.int64)
    args = (x, xs.inv, n, y, ys.inv, m, d, xs.bf16, ys.bf16, xs.error(ys, gamma), ys.error(xs, gamma), k,
            x2y_s, x2y_i, y2x_s, y2x_i, chunk, panel, threads or _threads(), MAX_CANDIDATES + 2 * k)
    if lib.knn_amx(*(_pointer(a) for a in args)) < 0:
        return None
    return x2y_s, x2y_i, y2x_s, y2x_i


class _Packed:
    """One side: FAISS's inverse norms, the bfloat16 rows in the kernel's layout, and the norms the bound needs."""

    def __init__(self, lib: object, a: np.ndarray, vnni: bool) -> None:
        n, d = a.shape
        self.inv = faiss_inverse_norms(a)
        self.bf16 = np.zeros((-(-n // 32) * 32, -(-d // 32) * 32), dtype=np.uint16)
        self.hat = np.empty(n, dtype=np.float64)  # |bfloat16 row|
        self.res = np.empty(n, dtype=np.float64)  # |normalised row - bfloat16 row|
        args = (a, self.inv, n, d, self.bf16.shape[1], int(vnni), self.bf16, self.hat, self.res)
        lib.pack_rows(*(_pointer(v) for v in args))

    def error(self, other: _Packed, gamma: float) -> np.ndarray:
        """e for each row of this side against any row of `other` (the bound in the module docstring)."""
        o_hat, o_res = other.hat.max(), other.res.max()
        return self.hat * o_res + self.res * o_hat + self.res * o_res + gamma * self.hat * o_hat + _SLACK


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
