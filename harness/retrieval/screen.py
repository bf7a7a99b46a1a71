"""Exact cosine kNN both ways behind a bfloat16 screen (CPUs with AMX), re-ranked in float64.

Why: mining's cost is the similarity matrix. On CPUs with AMX, a bfloat16 matrix product with float32
accumulation runs about 2.5x faster than float32 sgemm, but its values are only accurate to about
1e-2. The screen uses them only to discard entries that provably cannot be among the top k; every
entry that survives is re-scored exactly, so the neighbours are exact.

Definition of the result: the cosine of a pair is the float64 dot product of the two rows as
L2-normalised in float32 (`search.normalized`, LASER's `faiss.normalize_L2`), rounded to float32;
each row's and each column's top-k by (cosine descending, index ascending). This is `knn_both`'s
definition except that `knn_both` takes sgemm's float32 sums, which differ from these in the last bits.

The bound. For float32-normalised rows x, y with bfloat16 roundings x^, y^ and residuals dx = x - x^:
    |x.y - fl(x^.y^)| <= |x^||dy| + |dx||y^| + |dx||dy| + g_d |x^||y^|   =: e
(Cauchy-Schwarz on the three residual products; g_d = d u / (1 - d u), u = 2^-23, bounds float32
accumulation in any order). The tile is rounded to bfloat16 monotonically, so an entry whose cosine
is >= L has bf16 value >= RD(L - e) (rounded down to bfloat16): that is its threshold. L is the running
k-th best cosine of the row (column), or, when larger, a lower bound that this tile itself proves: the
k-th largest of the row's block maxima m are k distinct entries with cosines >= m - 2^-7|m| - e.
Bounds use per-row norms and the other side's maxima over the tile, plus 1e-6 for the float32
rounding of the re-scored cosines.

Where the work happens: torch multiplies bfloat16 tiles (oneDNN, AMX); the C kernel in `kernel.py` scans
each tile on a worker thread while torch multiplies the next one, re-scores the entries that pass their
row's or column's threshold, inserts them, and raises the thresholds as the lists improve.

The screen gives up (returns None) when a tile re-scores more than `MAX_CANDIDATES` entries per row and
column on average (massive near-ties, such as many near-duplicate embeddings); callers then run
`knn_both`. Measured (bench/retrieval.py, 50,000 x 50,000, d=768, 2 cores with AMX): 10.4 s against
`knn_both`'s 37.2 s, same mined pairs; peak memory is higher (torch's runtime plus a float32-normalised
copy of y).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.retrieval import kernel
from harness.retrieval.search import normalized

MAX_CANDIDATES = 32  # average entries re-scored per row and column of a tile before the screen gives up
_SLACK = 1e-6  # float32 rounding of a re-scored cosine (<= 2^-24) plus float64 error in the bounds


@dataclass
class _Side:
    """One chunk of rows: float32 normalised, its bfloat16 rounding, and the norms the bound needs."""

    rows: np.ndarray  # float32 [n, d], L2-normalised
    bf16: Any  # torch.bfloat16 [n, d], or None when not kept
    hat: np.ndarray  # float64 [n]: |bf16 row|
    res: np.ndarray  # float64 [n]: |row - bf16 row|


def _prepare(a: np.ndarray, start: int, stop: int, keep_bf16: bool = True) -> _Side:
    import torch

    rows = normalized(a, start, stop)
    bf16 = torch.from_numpy(rows).to(torch.bfloat16)
    back = bf16.to(torch.float32).numpy()
    hat = np.sqrt(np.einsum("ij,ij->i", back, back, dtype=np.float64))
    diff = rows - back  # exact: the low bits of each float32
    res = np.sqrt(np.einsum("ij,ij->i", diff, diff, dtype=np.float64))
    return _Side(rows=rows, bf16=bf16 if keep_bf16 else None, hat=hat, res=res)


def _error(own: _Side, other: _Side, gamma: float) -> np.ndarray:
    """e for each row of `own` against every row of `other` (the bound in the module docstring)."""
    o_hat, o_res = other.hat.max(), other.res.max()
    return own.hat * o_res + own.res * o_hat + own.res * o_res + gamma * own.hat * o_hat + _SLACK


def knn_both_screened(
    x: np.ndarray, y: np.ndarray, k: int, *, block: int = 4096
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """Exact top-k both ways (x2y_sims, x2y_ids, y2x_sims, y2x_ids), or None when the screen is out.

    None: no C compiler for the kernel, k above its limit, or a tile that admits more than
    `MAX_CANDIDATES` entries per row and column. Inputs must be checked already (finite 2-D floats, same
    width, k <= both pools). `block` is rows of each side per tile.
    """
    import torch

    lib = kernel.load()
    if lib is None or k > kernel.MAX_K:
        return None
    n, m, d = x.shape[0], y.shape[0], x.shape[1]
    u = 2.0**-23
    gamma = d * u / (1 - d * u)
    x2y_s = np.full((n, k), -np.inf, dtype=np.float32)
    x2y_i = np.full((n, k), -1, dtype=np.int64)
    y2x_s = np.full((m, k), -np.inf, dtype=np.float32)
    y2x_i = np.full((m, k), -1, dtype=np.int64)
    # y is kept float32-normalised (the kernel re-scores from it); its bfloat16 copy is made per tile
    y_sides = [_prepare(y, j0, j0 + block, keep_bf16=False) for j0 in range(0, m, block)]
    scratch_t = np.empty(min(block, m), dtype=np.float32)
    scratch_b = np.empty(min(block, m) * (k + 1), dtype=np.float32)
    buffers = [torch.empty(min(block, n) * min(block, m), dtype=torch.bfloat16) for _ in range(2)]

    def scan(tile: np.ndarray, xs: _Side, ys: _Side, i0: int, j0: int) -> int:
        nr, nc = tile.shape
        e_r, e_c = _error(xs, ys, gamma), _error(ys, xs, gamma)
        args = (tile, nr, nc, xs.rows, ys.rows, d, e_r, e_c, x2y_s[i0:], x2y_i[i0:], y2x_s[j0:], y2x_i[j0:],
                k, i0, j0, MAX_CANDIDATES * (nr + nc), scratch_t, scratch_b)
        return lib.screen_tile(*(_pointer(a) for a in args))

    # The kernel releases the GIL: it scans tile t on a worker thread while torch multiplies tile t + 1.
    pending, xs = None, None
    with ThreadPoolExecutor(max_workers=1) as pool:
        for t, (i0, j0) in enumerate((i0, j0) for i0 in range(0, n, block) for j0 in range(0, m, block)):
            if j0 == 0:
                xs = _prepare(x, i0, i0 + block)
            ys = y_sides[j0 // block]
            shape = (xs.rows.shape[0], ys.rows.shape[0])
            out = buffers[t % 2][: shape[0] * shape[1]].view(shape)
            torch.matmul(xs.bf16, torch.from_numpy(ys.rows).to(torch.bfloat16).T, out=out)
            if pending is not None and pending.result() < 0:
                return None
            pending = pool.submit(scan, out.view(torch.int16).numpy(), xs, ys, i0, j0)
        if pending is not None and pending.result() < 0:
            return None
    return x2y_s, x2y_i, y2x_s, y2x_i


def _pointer(a: object) -> object:
    """ctypes-ready argument: arrays by address (they must be C-contiguous), numbers as they are."""
    if isinstance(a, np.ndarray):
        if not a.flags.c_contiguous:
            raise ValueError("screen kernel: arrays must be C-contiguous")
        return a.ctypes.data
    return a
