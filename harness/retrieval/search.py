"""Cosine k-nearest-neighbour search over sentence embeddings, in bounded memory.

Algorithm (exact, the default): rows are L2-normalised one chunk at a time into a float32 copy
(`faiss.normalize_L2`, as LASER does on the whole matrix), so the caller's arrays are never modified
and never copied whole. The database is cut into chunks; each database chunk is searched by every
query chunk with FAISS's exhaustive inner-product kernel (`faiss.knn`, the kernel behind
`IndexFlatIP.search`, without the index's copy of the data; on GPU an `IndexFlatIP` moved with
`index_cpu_to_all_gpus`, as LASER's `knnGPU`), and the per-chunk top-k lists are merged. Peak memory
is the two input matrices plus about three chunks. Exact ties follow FAISS's heaps (see `knn_both`).

Joint exact kNN both ways (`knn_both`, what `mine_bitext` uses on CPU): each tile of the similarity
matrix is computed once with numpy's BLAS matmul and its top-k taken along rows and columns, half the
flops of two searches.

Approximate options for million-scale pools (the normalised database is held once inside the index):
- "ivf": `IndexIVFFlat` (inner product), `nlist` = 4 * sqrt(pool) lists trained on a seeded sample,
  `nprobe` lists visited per query (default 32).
- "hnsw": `IndexHNSWFlat` (inner product, M = 32), `efSearch` = `ef_search` (default 128); CPU only.

Exact kNN as a torch matmul + top-k (`torch_knn`, `torch_knn_both`): what runs on a CUDA machine whose
FAISS has no GPU support (faiss-cpu inside a CUDA image). The database is L2-normalised as above and held
on the device; queries go through in chunks (one [chunk, pool] float32 similarity tile at a time, full
float32 precision: TF32 is switched off for the call) and each row keeps its top-k by (similarity desc,
index asc), the order `knn_both` uses, so the same code on CPU tensors gives the CPU path's neighbours.
`knn_engine` says which engine a search runs on; the retrieval kind records it.

Sources: LASER `source/mine_bitexts.py` (knnCPU / knnGPU); XTREME `third_party/utils_retrieve.py`.
`nearest_neighbour` is top-1 retrieval: each query's most similar row of the other language's pool.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Literal

import numpy as np

from harness.errors import UserError

IndexKind = Literal["exact", "ivf", "hnsw"]
INDEX_KINDS = ("exact", "ivf", "hnsw")
KnnBackend = Literal["auto", "joint", "faiss", "torch"]
KNN_BACKENDS = ("auto", "joint", "faiss", "torch")
_TORCH_TILE_BYTES = 256 * 1024 * 1024  # one float32 [query chunk, pool] similarity tile of the torch kNN
_CHUNK_BYTES = 64 * 1024 * 1024
_FAISS_BLOCK = 4096  # FAISS's query block: chunks that are multiples of it keep its arithmetic unchanged


def check_embeddings(name: str, a: Any, dim: int | None = None) -> None:
    """Raise UserError unless `a` is a non-empty 2-D real float array of finite values (of width `dim`)."""
    if not isinstance(a, np.ndarray) or a.ndim != 2:
        shape = getattr(a, "shape", type(a).__name__)
        raise UserError(f"{name}: expected a 2-D numpy array (rows = sentences), got {shape}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise UserError(f"{name}: empty embedding matrix {a.shape}; embed at least one sentence")
    if not np.issubdtype(a.dtype, np.floating):
        raise UserError(f"{name}: expected float embeddings, got dtype {a.dtype}; cast to float32")
    if dim is not None and a.shape[1] != dim:
        raise UserError(
            f"{name}: dimension {a.shape[1]} differs from the other side's {dim}; "
            "embed both sides with the same model and layer"
        )
    step = default_chunk_rows(a.shape[1])
    for start in range(0, a.shape[0], step):
        block = a[start : start + step]
        with np.errstate(over="ignore", invalid="ignore"):  # NaN, inf: a non-finite sum; overflow: see below
            total = block.sum()
        if not np.isfinite(total) and not np.isfinite(block).all():
            row = start + int(np.flatnonzero(~np.isfinite(block).all(axis=1))[0])
            raise UserError(f"{name}: row {row} holds NaN or inf; check the encoder output for that sentence")


def default_chunk_rows(dim: int) -> int:
    """Rows per chunk: about 64 MiB of float32, a multiple of FAISS's 4096-row query block."""
    rows = _CHUNK_BYTES // (4 * max(dim, 1))
    return max(_FAISS_BLOCK, rows // _FAISS_BLOCK * _FAISS_BLOCK)


def faiss_module() -> Any:
    """The `faiss` module; an environment without either FAISS build is a UserError saying what to install."""
    try:
        import faiss
    except ImportError:
        raise UserError("FAISS is not installed: pip install 'xstilts[cpu]' (faiss-cpu), or 'xstilts[cuda]' "
                        "(faiss-gpu) on a GPU box") from None
    return faiss


def normalized(a: np.ndarray, start: int = 0, stop: int | None = None) -> np.ndarray:
    """A float32 C-contiguous, L2-normalised copy of rows [start, stop) (zero rows stay zero)."""
    faiss = faiss_module()

    block = np.array(a[start:stop], dtype=np.float32, order="C", copy=True)
    faiss.normalize_L2(block)
    return block


def resolve_gpu(use_gpu: bool | str) -> bool:
    """True to search on GPU: "auto" uses FAISS GPUs when present; True insists on them."""
    faiss = faiss_module()

    if use_gpu not in (True, False, "auto"):
        raise UserError(f"use_gpu: expected true, false or 'auto', got {use_gpu!r}")
    count = faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0
    if use_gpu is True and count == 0:
        raise UserError("use_gpu: true, but FAISS sees no GPU; install faiss-gpu or set use_gpu: auto")
    return bool(use_gpu) and count > 0


def torch_device(use_gpu: bool | str = "auto") -> str | None:
    """"cuda" when PyTorch sees a GPU and `use_gpu` allows one (not False), else None."""
    if use_gpu is False:
        return None
    import torch

    return "cuda" if torch.cuda.is_available() else None


def knn_engine(index: str = "exact", use_gpu: bool | str = "auto", backend: str = "auto", both: bool = False) -> str:
    """Where an exact or approximate search runs: "faiss-gpu", "faiss-cpu", "torch-<device>" or "joint-cpu".

    backend "auto": FAISS for approximate indexes and whenever FAISS has a GPU; else the torch matmul kNN
    when PyTorch has a GPU; else, for kNN both ways (`both`, mining), the joint numpy pass, and FAISS on
    CPU for one way. "faiss", "joint" and "torch" force that engine ("torch" on the GPU if there is one,
    else on CPU). Raises UserError for an unknown backend or an exact-only backend with an approximate index.
    """
    if backend not in KNN_BACKENDS:
        raise UserError(f"knn_backend: expected one of {', '.join(KNN_BACKENDS)}, got {backend!r}")
    if use_gpu not in (True, False, "auto"):
        raise UserError(f"use_gpu: expected true, false or 'auto', got {use_gpu!r}")
    if backend in ("joint", "torch") and index != "exact":
        raise UserError(f"knn_backend={backend!r} computes exact neighbours; it cannot use index={index!r}")
    if backend == "joint":
        return "joint-cpu"
    if backend == "torch":
        return f"torch-{torch_device(use_gpu) or 'cpu'}"
    faiss_gpu = resolve_gpu(use_gpu)
    if backend == "faiss" or index != "exact" or faiss_gpu:
        return "faiss-gpu" if faiss_gpu else "faiss-cpu"
    device = torch_device(use_gpu)
    if device is not None:
        return f"torch-{device}"
    return "joint-cpu" if both else "faiss-cpu"


def _check_search(database: np.ndarray, k: Any, chunk_size: int | None) -> None:
    """UserError unless k is a positive integer no larger than the pool and chunk_size positive (or None)."""
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise UserError(f"k: expected a positive integer, got {k!r}")
    if k > database.shape[0]:
        raise UserError(f"k={k} is larger than the pool of {database.shape[0]} sentences; lower k")
    if chunk_size is not None and chunk_size < 1:
        raise UserError(f"chunk_size: expected a positive number of rows, got {chunk_size!r}")


def knn(
    queries: np.ndarray,
    database: np.ndarray,
    k: int,
    *,
    index: IndexKind = "exact",
    chunk_size: int | None = None,
    use_gpu: bool | str = "auto",
    nprobe: int | None = None,
    ef_search: int | None = None,
    check: bool = True,
    backend: KnnBackend = "auto",
) -> tuple[np.ndarray, np.ndarray]:
    """Cosine top-k of each query row among the database rows.

    Returns (similarities float32 [nq, k], indices int64 [nq, k]), best first. `chunk_size` is rows
    per chunk (default: about 64 MiB for FAISS, a 256 MiB tile for torch). `backend` picks the engine as
    `knn_engine` says ("joint" is a both-ways pass: here it means FAISS on CPU). Raises UserError for bad
    input or k > database rows.
    """
    if check:
        check_embeddings("queries", queries)
        check_embeddings("database", database, queries.shape[1])
    if index not in INDEX_KINDS:
        raise UserError(f"index: expected one of {', '.join(INDEX_KINDS)}, got {index!r}")
    _check_search(database, k, chunk_size)
    engine = knn_engine(index, use_gpu, "faiss" if backend == "joint" else backend)
    if engine.startswith("torch-"):
        return torch_knn(queries, database, int(k), device=engine[len("torch-"):], chunk_size=chunk_size,
                         check=False)
    chunk = chunk_size or default_chunk_rows(queries.shape[1])
    gpu = engine == "faiss-gpu"
    if index == "exact":
        return _exact_knn(queries, database, int(k), chunk, gpu)
    built = _build_approx(database, index, chunk, gpu, nprobe, ef_search)
    sims, ids = _search_chunks(built, queries, int(k), chunk)
    if (ids < 0).any():
        raise UserError(
            f"index={index}: fewer than k={k} neighbours found for some queries; raise nprobe/ef_search"
        )
    return sims, ids


def nearest_neighbour(
    queries: np.ndarray,
    pool: np.ndarray,
    *,
    chunk_size: int | None = None,
    use_gpu: bool | str = "auto",
    index: IndexKind = "exact",
    nprobe: int | None = None,
    ef_search: int | None = None,
    backend: KnnBackend = "auto",
) -> np.ndarray:
    """Index (int64 [nq]) of each query's most cosine-similar pool row (top-1 retrieval)."""
    _, ids = knn(queries, pool, 1, index=index, chunk_size=chunk_size, use_gpu=use_gpu, nprobe=nprobe,
                 ef_search=ef_search, backend=backend)
    return ids[:, 0]


def _exact_knn(
    queries: np.ndarray, database: np.ndarray, k: int, chunk: int, gpu: bool
) -> tuple[np.ndarray, np.ndarray]:
    faiss = faiss_module()

    nq = queries.shape[0]
    sims = np.full((nq, k), -np.inf, dtype=np.float32)
    ids = np.full((nq, k), -1, dtype=np.int64)
    for db_start in range(0, database.shape[0], chunk):
        block = normalized(database, db_start, db_start + chunk)
        kk = min(k, block.shape[0])
        if gpu:
            flat = faiss.index_cpu_to_all_gpus(faiss.IndexFlatIP(block.shape[1]))
            flat.add(block)
        for q_start in range(0, nq, chunk):
            q = normalized(queries, q_start, q_start + chunk)
            if gpu:
                s, i = flat.search(q, kk)
            else:
                s, i = faiss.knn(q, block, kk, metric=faiss.METRIC_INNER_PRODUCT)
            i += db_start
            rows = slice(q_start, q_start + q.shape[0])
            if db_start == 0 and kk == k:
                sims[rows], ids[rows] = s, i
            else:
                sims[rows], ids[rows] = _merge_topk(sims[rows], ids[rows], s, i, k)
        del block
    return sims, ids


# ---------------------------------------------------------------------------------------------------
# Exact kNN as a torch matmul + top-k: the GPU path without faiss-gpu (same code on CPU tensors in tests).


def torch_knn(
    queries: np.ndarray,
    database: np.ndarray,
    k: int,
    *,
    device: Any = "cpu",
    chunk_size: int | None = None,
    check: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact cosine top-k of each query among the database rows, as matmul + top-k on `device`.

    Returns what `knn` returns (float32 similarities, int64 indices, best first), neighbours ordered by
    (similarity desc, index asc) as in `knn_both`. The normalised database lives on the device;
    `chunk_size` queries at a time (default: a 256 MiB float32 similarity tile) are normalised, moved
    there, multiplied in full float32 precision and reduced to their top-k.
    """
    import torch

    if check:
        check_embeddings("queries", queries)
        check_embeddings("database", database, queries.shape[1])
    _check_search(database, k, chunk_size)
    device = torch.device(device)
    chunk = chunk_size or torch_chunk_rows(database.shape[0])
    nq = queries.shape[0]
    sims = np.empty((nq, int(k)), dtype=np.float32)
    ids = np.empty((nq, int(k)), dtype=np.int64)
    with _full_fp32_matmul():
        pool = _device_normalized(database, device, chunk)
        for start in range(0, nq, chunk):
            q = torch.from_numpy(normalized(queries, start, start + chunk)).to(device)
            s, i = topk_rows(q @ pool.T, int(k))
            sims[start : start + q.shape[0]] = s.cpu().numpy()
            ids[start : start + q.shape[0]] = i.cpu().numpy()
        del pool
    return sims, ids


def torch_knn_both(
    x: np.ndarray,
    y: np.ndarray,
    k: int,
    *,
    device: Any = "cpu",
    chunk_size: int | None = None,
    check: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x2y_sims, x2y_ids, y2x_sims, y2x_ids) as `knn_both` returns them, by two `torch_knn` passes."""
    if check:
        check_embeddings("x", x)
        check_embeddings("y", y, x.shape[1])
    for name, pool in (("y", y), ("x", x)):
        if isinstance(k, (int, np.integer)) and k > pool.shape[0]:
            raise UserError(f"k={k} is larger than the pool of {pool.shape[0]} sentences ({name}); lower k")
    x2y = torch_knn(x, y, k, device=device, chunk_size=chunk_size, check=False)
    y2x = torch_knn(y, x, k, device=device, chunk_size=chunk_size, check=False)
    return (*x2y, *y2x)


def torch_chunk_rows(pool_rows: int) -> int:
    """Queries per chunk of the torch kNN: a float32 [chunk, pool] tile of about 256 MiB (at least 1 row)."""
    return max(1, _TORCH_TILE_BYTES // (4 * max(pool_rows, 1)))


def topk_rows(tile: Any, k: int) -> tuple[Any, Any]:
    """Top-k (values, column indices) of each row of a 2-D tensor, ordered by (value desc, index asc).

    `torch.topk` picks any of the columns tied at the k-th value; a row with such a tie (more than k
    entries >= its k-th value) is instead fully sorted (stable), which keeps the lowest indices.
    """
    import torch

    vals, idx = torch.topk(tile, k, dim=1, largest=True, sorted=True)
    idx, by_index = idx.sort(dim=1)
    vals, by_value = vals.gather(1, by_index).sort(dim=1, descending=True, stable=True)
    idx = idx.gather(1, by_value)
    tied = torch.nonzero((tile >= vals[:, -1:]).sum(dim=1) > k).flatten()
    if tied.numel():
        tv, ti = torch.sort(tile[tied], dim=1, descending=True, stable=True)
        vals[tied], idx[tied] = tv[:, :k], ti[:, :k]
    return vals, idx


def _device_normalized(a: np.ndarray, device: Any, chunk: int) -> Any:
    """The rows of `a`, L2-normalised as `normalized` does, in one float32 tensor on `device`."""
    import torch

    out = torch.empty(a.shape, dtype=torch.float32, device=device)
    step = max(chunk, default_chunk_rows(a.shape[1]))
    for start in range(0, a.shape[0], step):
        block = normalized(a, start, start + step)
        out[start : start + block.shape[0]] = torch.from_numpy(block).to(device)
    return out


@contextmanager
def _full_fp32_matmul():
    """float32 matmuls in full precision (no TF32) for the duration; the previous setting is restored."""
    import torch

    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(previous)


def _merge_topk(
    s1: np.ndarray, i1: np.ndarray, s2: np.ndarray, i2: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k of two best-first lists per row; on equal similarity the first list wins."""
    s = np.concatenate([s1, s2], axis=1)
    i = np.concatenate([i1, i2], axis=1)
    order = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(s, order, axis=1), np.take_along_axis(i, order, axis=1)


def _build_approx(
    database: np.ndarray,
    kind: str,
    chunk: int,
    gpu: bool,
    nprobe: int | None,
    ef_search: int | None,
) -> Any:
    faiss = faiss_module()

    n, dim = database.shape
    if kind == "hnsw":
        built = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        built.hnsw.efConstruction = 80
        built.hnsw.efSearch = ef_search or 128
    else:
        nlist = max(1, min(n // 39, int(4 * np.sqrt(n))))
        quantizer = faiss.IndexFlatIP(dim)
        built = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(0)
        sample = np.sort(rng.choice(n, size=min(n, nlist * 64), replace=False))
        built.train(normalized(database[sample]))
        built.nprobe = min(nlist, nprobe or 32)
        if gpu:
            built = faiss.index_cpu_to_all_gpus(built)
    for start in range(0, n, chunk):
        built.add(normalized(database, start, start + chunk))
    return built


def _search_chunks(built: Any, queries: np.ndarray, k: int, chunk: int) -> tuple[np.ndarray, np.ndarray]:
    sims = np.empty((queries.shape[0], k), dtype=np.float32)
    ids = np.empty((queries.shape[0], k), dtype=np.int64)
    for start in range(0, queries.shape[0], chunk):
        q = normalized(queries, start, start + chunk)
        sims[start : start + q.shape[0]], ids[start : start + q.shape[0]] = built.search(q, k)
    return sims, ids


# ---------------------------------------------------------------------------------------------------
# Joint exact kNN both ways: one similarity tile, top-k along both axes.

_JOINT_BLOCK = 4096  # rows of x and of y per tile: a 4096 x 4096 float32 tile is 64 MiB
_SAMPLE_COLS = 1024  # a list not yet full is bounded from this many columns of the tile
_GROUP_BYTES = 16 * 1024 * 1024  # rows copied at once when a tile needs an exact per-row top-k
_BAND_BYTES = 2 * 1024 * 1024  # rows of the tile compared at once (cache-resident for both directions)


def knn_both(
    x: np.ndarray,
    y: np.ndarray,
    k: int,
    *,
    chunk_size: int | None = None,
    check: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Exact cosine top-k both ways from one pass over the similarity matrix (CPU, numpy BLAS).

    Returns (x2y_sims, x2y_ids, y2x_sims, y2x_ids): the neighbours of `knn(x, y, k)` and of
    `knn(y, x, k)` (float32 / int64, best first) at half the flops of the two searches. Each tile
    `x[i:i+c] @ y[j:j+c].T` (c = `chunk_size` rows of each side, default 4096: a 64 MiB tile) of the
    L2-normalised chunks is computed once; each row's and each column's candidates are merged into
    running top-k lists. Peak memory beyond the inputs and outputs is about one tile and a quarter plus
    two normalised chunks.

    Selection: a row (or column) keeps only tile entries >= its running k-th best (or, while its list
    is not full yet, >= the k-th best of a sample of the tile, which at least k entries reach), so the
    merge touches few entries; rows with unusually many such entries (ties, adversarial order) fall
    back to an exact per-row partition in bounded groups.

    Ties: order is (similarity descending, index ascending) and an exact tie at the k-th place keeps
    the lower index, independent of chunking. FAISS differs only on exact ties: its heap lets a later
    equal value in only if it arrives before the list is full and, when a better value arrives, evicts
    the lowest index among equal worst values; its output lists equal values highest index first within
    one search (across `knn` chunks, earlier chunk first). So the two paths may list exactly tied
    neighbours in another order, or keep another one of several neighbours tied at the k-th place, and
    nothing else. The similarities are float32 sgemm sums of the same normalised rows as FAISS's, but not
    always the same bits: the BLAS result for a pair can depend on the call's shape and on the CPU's
    kernel (FAISS's own x->y and y->x searches can disagree in the last bit), and FAISS takes a SIMD
    loop instead of BLAS for small query sets. Neighbours whose cosines lie within that rounding (~1e-7)
    of each other can therefore be listed in another order, here as between any two float32 searches.
    """
    if check:
        check_embeddings("source embeddings", x)
        check_embeddings("target embeddings", y, x.shape[1])
    k, block = check_joint_options(x, y, k, chunk_size)
    n, m = x.shape[0], y.shape[0]
    x2y_s = np.full((n, k), -np.inf, dtype=np.float32)
    x2y_i = np.full((n, k), -1, dtype=np.int64)
    y2x_s = np.full((m, k), -np.inf, dtype=np.float32)
    y2x_i = np.full((m, k), -1, dtype=np.int64)
    tile_buf = np.empty(min(block, n) * min(block, m), dtype=np.float32)
    mask_buf = np.empty(tile_buf.shape[0], dtype=bool)
    for i0 in range(0, n, block):
        xb = normalized(x, i0, i0 + block)
        rows = slice(i0, i0 + xb.shape[0])
        for j0 in range(0, m, block):
            yb = normalized(y, j0, j0 + block)
            cols = slice(j0, j0 + yb.shape[0])
            shape = (xb.shape[0], yb.shape[0])
            tile = tile_buf[: shape[0] * shape[1]].reshape(shape)
            mask = mask_buf[: shape[0] * shape[1]].reshape(shape)
            np.matmul(xb, yb.T, out=tile)
            x_s, x_i, y_s, y_i = x2y_s[rows], x2y_i[rows], y2x_s[cols], y2x_i[cols]
            lo_r, lo_c = _lower_bound(tile, x_s, 1, k), _lower_bound(tile, y_s, 0, k)
            (er, cr, vr), (ec, cc, vc) = _tile_candidates(tile, mask, lo_r, lo_c, k)
            _merge_running(x_s, x_i, er, cr + j0, vr, k)
            _merge_running(y_s, y_i, ec, cc + i0, vc, k)
            del yb
        del xb
    return x2y_s, x2y_i, y2x_s, y2x_i


def check_joint_options(x: np.ndarray, y: np.ndarray, k: Any, chunk_size: Any) -> tuple[int, int]:
    """(k, rows per tile) of a pass over both sides at once; UserError for a bad k or chunk_size."""
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise UserError(f"k: expected a positive integer, got {k!r}")
    for side, pool in (("target", y), ("source", x)):
        if k > pool.shape[0]:
            raise UserError(f"k={k} is larger than the {side} pool of {pool.shape[0]} sentences; lower k")
    block = _JOINT_BLOCK if chunk_size is None else chunk_size
    if not isinstance(block, (int, np.integer)) or block < 1:
        raise UserError(f"chunk_size: expected a positive number of rows, got {chunk_size!r}")
    return int(k), int(block)


def _lower_bound(tile: np.ndarray, run_s: np.ndarray, axis: int, k: int) -> np.ndarray:
    """Per row (axis 1) or column (axis 0): a value that every entry able to enter its top-k reaches.

    A full list gives its k-th best (a later index equal to it cannot enter: ties keep the lower
    index). A list not yet full takes the k-th best of the tile's first columns (rows), which at
    least k entries of the tile reach, or -inf when the tile holds k entries or fewer.
    """
    lo = run_s[:, -1].copy()
    fresh = np.flatnonzero(lo == -np.inf)
    n_cand = tile.shape[axis]
    if fresh.size and n_cand > k:
        # k disjoint groups of the first candidates: each group's maximum is a distinct entry, so at
        # least k entries reach the smallest of the k maxima (a reduction, no partition or transpose).
        group = min(n_cand, max(_SAMPLE_COLS, 16 * k)) // k
        if axis == 1:
            maxima = tile[fresh, : group * k].reshape(fresh.size, k, group).max(axis=2)
            lo[fresh] = maxima.min(axis=1)
        else:
            maxima = tile[: group * k].reshape(k, group, tile.shape[1]).max(axis=1)
            lo[fresh] = maxima[:, fresh].min(axis=0)
    return lo


def _tile_candidates(
    tile: np.ndarray, mask: np.ndarray, lo_r: np.ndarray, lo_c: np.ndarray, k: int
) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(entity, candidate, value) of the tile entries >= the row bound (rows) and >= the column bound.

    The tile is scanned in bands of rows that stay in cache for both comparisons. An entity with more
    than `cap` such entries (exact ties, adversarial order) is taken out of the scan and gets its exact
    tile top-k instead, so the index arrays stay within `cap` entries per entity.
    """
    n_r, n_c = tile.shape
    cap_r = max(256, 16 * k * n_c // min(n_c, max(_SAMPLE_COLS, 16 * k)))
    cap_c = max(256, 16 * k * n_r // min(n_r, max(_SAMPLE_COLS, 16 * k)))
    band = max(8, (_BAND_BYTES // (4 * n_c)) // 8 * 8)
    lo_r, lo_c = lo_r.copy(), lo_c.copy()
    heavy_r = heavy_c = np.empty(0, dtype=np.intp)
    while True:
        rows_hit: list[np.ndarray] = []
        cols_hit: list[np.ndarray] = []
        total_r = total_c = 0
        for r0 in range(0, n_r, band):
            r1 = min(n_r, r0 + band)
            part, flat = tile[r0:r1], mask[r0:r1].reshape(-1)
            if total_r <= cap_r * n_r:
                np.greater_equal(part, lo_r[r0:r1, None], out=mask[r0:r1])
                rows_hit.append(_true_positions(flat) + r0 * n_c)
                total_r += rows_hit[-1].shape[0]
            if total_c <= cap_c * n_c:
                np.greater_equal(part, lo_c[None, :], out=mask[r0:r1])
                cols_hit.append(_true_positions(flat) + r0 * n_c)
                total_c += cols_hit[-1].shape[0]
        if total_r <= cap_r * n_r and total_c <= cap_c * n_c:
            break
        # Rare: some entities have too many entries; count them per entity and exclude the heavy ones.
        if total_r > cap_r * n_r:
            counts = _count_ge(tile, lo_r, 1, band)
            heavy_r = np.union1d(heavy_r, np.flatnonzero(counts > cap_r))
            lo_r[heavy_r] = np.inf
        if total_c > cap_c * n_c:
            counts = _count_ge(tile, lo_c, 0, band)
            heavy_c = np.union1d(heavy_c, np.flatnonzero(counts > cap_c))
            lo_c[heavy_c] = np.inf
    out = []
    for hits, axis, heavy, cap in ((rows_hit, 1, heavy_r, cap_r), (cols_hit, 0, heavy_c, cap_c)):
        flat_idx = np.concatenate(hits)
        r, c = np.divmod(flat_idx, n_c)
        vals = tile.reshape(-1)[flat_idx]
        ent, cand = (r, c) if axis == 1 else (c, r)
        if heavy.size:
            e2, c2, v2 = _exact_topk_rows(tile, heavy, axis, k, cap)
            ent, cand, vals = np.concatenate([ent, e2]), np.concatenate([cand, c2]), np.concatenate([vals, v2])
        out.append((ent, cand, vals))
    return out[0], out[1]


def _true_positions(flat: np.ndarray) -> np.ndarray:
    """np.flatnonzero of a sparse contiguous bool vector, scanning 8 bytes at a time."""
    if not np.count_nonzero(flat):
        return np.empty(0, dtype=np.intp)
    whole = flat.shape[0] // 8 * 8
    words = np.flatnonzero(flat[:whole].view(np.uint64))
    pos = (words[:, None] * 8 + np.arange(8)).reshape(-1)
    pos = pos[flat[pos]]
    if whole < flat.shape[0]:
        pos = np.concatenate([pos, np.flatnonzero(flat[whole:]) + whole])
    return pos


def _count_ge(tile: np.ndarray, lo: np.ndarray, axis: int, band: int) -> np.ndarray:
    counts = np.zeros(tile.shape[1 - axis], dtype=np.int64)
    for r0 in range(0, tile.shape[0], band):
        part = tile[r0 : r0 + band]
        if axis == 1:
            counts[r0 : r0 + part.shape[0]] = np.count_nonzero(part >= lo[r0 : r0 + band, None], axis=1)
        else:
            counts += np.count_nonzero(part >= lo[None, :], axis=0)
    return counts


def _exact_topk_rows(
    tile: np.ndarray, ents: np.ndarray, axis: int, k: int, cap: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Entries of each entity's tile top-k (ties at the k-th value: all of them, or the lowest k)."""
    n_cand = tile.shape[axis]
    group = max(1, _GROUP_BYTES // (4 * n_cand))
    out_e, out_c, out_v = [], [], []
    for g0 in range(0, ents.shape[0], group):
        grp = ents[g0 : g0 + group]
        sub = np.ascontiguousarray(tile[grp] if axis == 1 else tile[:, grp].T)
        if n_cand > k:
            kth = np.partition(sub, n_cand - k, axis=1)[:, n_cand - k]
            keep = sub >= kth[:, None]
        else:
            keep = np.ones(sub.shape, dtype=bool)
        for row in np.flatnonzero(keep.sum(axis=1) > cap):  # massive exact ties: lowest indices
            keep[row] = False
            keep[row, np.argsort(-sub[row], kind="stable")[:k]] = True
        rr, cc = np.nonzero(keep)
        out_e.append(grp[rr])
        out_c.append(cc)
        out_v.append(sub[rr, cc])
    return np.concatenate(out_e), np.concatenate(out_c), np.concatenate(out_v)


def _merge_running(
    run_s: np.ndarray, run_i: np.ndarray, ent: np.ndarray, ids: np.ndarray, vals: np.ndarray, k: int
) -> None:
    """run_[si][e] := top-k of run_[si][e] and the candidates of e, by (value desc, index asc)."""
    if ent.size == 0:
        return
    touched, inverse = np.unique(ent, return_inverse=True)
    owner = np.concatenate([np.repeat(np.arange(touched.shape[0]), k), inverse])
    all_v = np.concatenate([run_s[touched].ravel(), vals.astype(np.float32, copy=False)])
    all_i = np.concatenate([run_i[touched].ravel(), ids.astype(np.int64, copy=False)])
    order = np.lexsort((all_i, -all_v, owner))
    starts = np.zeros(touched.shape[0], dtype=np.intp)
    np.cumsum(np.bincount(owner, minlength=touched.shape[0])[:-1], out=starts[1:])
    pick = order[(starts[:, None] + np.arange(k)).ravel()]
    run_s[touched] = all_v[pick].reshape(-1, k)
    run_i[touched] = all_i[pick].reshape(-1, k)
