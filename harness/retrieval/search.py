"""Cosine k-nearest-neighbour search over sentence embeddings, in bounded memory.

Algorithm (exact, the default): rows are L2-normalised one chunk at a time into a float32 copy
(`faiss.normalize_L2`, as LASER does on the whole matrix), so the caller's arrays are never modified
and never copied whole. The database is cut into chunks; each database chunk is searched by every
query chunk with FAISS's exhaustive inner-product kernel (`faiss.knn`, the kernel behind
`IndexFlatIP.search`, without the index's copy of the data; on GPU an `IndexFlatIP` moved with
`index_cpu_to_all_gpus`, as LASER's `knnGPU`), and the per-chunk top-k lists are merged. Peak memory
is the two input matrices plus about three chunks. Ties keep the lower database index first.

Approximate options for million-scale pools (the normalised database is held once inside the index):
- "ivf": `IndexIVFFlat` (inner product), `nlist` = 4 * sqrt(pool) lists trained on a seeded sample,
  `nprobe` lists visited per query (default 32).
- "hnsw": `IndexHNSWFlat` (inner product, M = 32), `efSearch` = `ef_search` (default 128); CPU only.

Sources: LASER `source/mine_bitexts.py` (knnCPU / knnGPU); XTREME `third_party/utils_retrieve.py`.
`nearest_neighbour` is top-1 retrieval: each query's most similar row of the other language's pool.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from harness.errors import UserError

IndexKind = Literal["exact", "ivf", "hnsw"]
INDEX_KINDS = ("exact", "ivf", "hnsw")
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
        if not np.isfinite(block).all():
            row = start + int(np.flatnonzero(~np.isfinite(block).all(axis=1))[0])
            raise UserError(f"{name}: row {row} holds NaN or inf; check the encoder output for that sentence")


def default_chunk_rows(dim: int) -> int:
    """Rows per chunk: about 64 MiB of float32, a multiple of FAISS's 4096-row query block."""
    rows = _CHUNK_BYTES // (4 * max(dim, 1))
    return max(_FAISS_BLOCK, rows // _FAISS_BLOCK * _FAISS_BLOCK)


def normalized(a: np.ndarray, start: int = 0, stop: int | None = None) -> np.ndarray:
    """A float32 C-contiguous, L2-normalised copy of rows [start, stop) (zero rows stay zero)."""
    import faiss

    block = np.array(a[start:stop], dtype=np.float32, order="C", copy=True)
    faiss.normalize_L2(block)
    return block


def resolve_gpu(use_gpu: bool | str) -> bool:
    """True to search on GPU: "auto" uses FAISS GPUs when present; True insists on them."""
    import faiss

    if use_gpu not in (True, False, "auto"):
        raise UserError(f"use_gpu: expected true, false or 'auto', got {use_gpu!r}")
    count = faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0
    if use_gpu is True and count == 0:
        raise UserError("use_gpu: true, but FAISS sees no GPU; install faiss-gpu or set use_gpu: auto")
    return bool(use_gpu) and count > 0


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
) -> tuple[np.ndarray, np.ndarray]:
    """Cosine top-k of each query row among the database rows.

    Returns (similarities float32 [nq, k], indices int64 [nq, k]), best first. `chunk_size` is rows
    per chunk (default: about 64 MiB). Raises UserError for bad input or k > database rows.
    """
    if check:
        check_embeddings("queries", queries)
        check_embeddings("database", database, queries.shape[1])
    if index not in INDEX_KINDS:
        raise UserError(f"index: expected one of {', '.join(INDEX_KINDS)}, got {index!r}")
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise UserError(f"k: expected a positive integer, got {k!r}")
    if k > database.shape[0]:
        raise UserError(f"k={k} is larger than the pool of {database.shape[0]} sentences; lower k")
    chunk = chunk_size or default_chunk_rows(queries.shape[1])
    if chunk < 1:
        raise UserError(f"chunk_size: expected a positive number of rows, got {chunk_size!r}")
    gpu = resolve_gpu(use_gpu)
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
) -> np.ndarray:
    """Index (int64 [nq]) of each query's most cosine-similar pool row (top-1 retrieval)."""
    _, ids = knn(queries, pool, 1, index=index, chunk_size=chunk_size, use_gpu=use_gpu)
    return ids[:, 0]


def _exact_knn(
    queries: np.ndarray, database: np.ndarray, k: int, chunk: int, gpu: bool
) -> tuple[np.ndarray, np.ndarray]:
    import faiss

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
    import faiss

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
