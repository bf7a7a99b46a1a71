"""Margin-based bitext mining (LASER), vectorised, plus sentence de-duplication around it.

Algorithm (LASER `source/mine_bitexts.py`, mode "mine"; XTREME `third_party/utils_retrieve.py`):
1. De-duplicate each side's sentences and embed each unique text once (`dedup_sentences`).
2. L2-normalise; cosine kNN both ways: NN_k(x) among y, NN_k(y) among x. On CPU with
   index="exact" (knn_backend "auto"), `search.knn_both` computes each tile of the similarity matrix
   once and takes the top-k along both axes (half the flops of two FAISS searches, same neighbours and
   float32 cosines; exactly tied neighbours may be listed in another order, see `knn_both`); with a
   FAISS GPU, for approximate indexes, or with knn_backend="faiss": two FAISS inner-product searches
   (`search.knn`, chunked); on a CUDA machine whose FAISS has no GPU (or knn_backend="torch"): two
   torch matmul + top-k passes on the GPU (`search.torch_knn_both`, the neighbours and tie order of
   `knn_both`). `search.knn_engine` names the engine. a(x) = mean_k cos(x, NN_k(x)), b(y) likewise.
3. Score each side's k candidates: margin(cos(x, y), (a(x) + b(y)) / 2) with ratio p / q, distance
   p - q, or absolute p. The cosines are the kNN similarities themselves, so scoring is array arithmetic
   (LASER recomputes each dot product in a Python double loop; same numbers up to float rounding).
4. Each source's best = its highest-scoring candidate (first on ties), likewise each target's.
   - "fwd": (x, best(x)) for every x; "bwd": (best(y), y) for every y;
   - "intersect": the fwd pairs whose target picks the same source back;
   - "max": pool the fwd and bwd pairs, sort by score descending (stable: fwd before bwd, then by
     index; LASER's unstable sort leaves ties unspecified), keep a pair greedily while neither its
     source nor its target is used yet (one-to-one).
5. Pairs scoring <= `threshold` are dropped (LASER applies `score > threshold` after the greedy pass).
Results are unique-text index pairs; `expand_pairs` maps them back to every sentence id.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from harness.errors import UserError
from harness.retrieval.search import (
    KNN_BACKENDS,
    IndexKind,
    KnnBackend,
    check_embeddings,
    knn,
    knn_both,
    knn_engine,
    torch_knn_both,
)

Margin = Literal["ratio", "distance", "absolute"]
Mode = Literal["max", "fwd", "bwd", "intersect"]
MARGINS = ("ratio", "distance", "absolute")
MODES = ("max", "fwd", "bwd", "intersect")


def mine_bitext(
    x: np.ndarray,
    y: np.ndarray,
    k: int = 4,
    margin: Margin = "ratio",
    mode: Mode = "max",
    threshold: float | None = None,
    chunk_size: int | None = None,
    use_gpu: bool | str = "auto",
    index: IndexKind = "exact",
    nprobe: int | None = None,
    ef_search: int | None = None,
    knn_backend: KnnBackend = "auto",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mine parallel pairs between source embeddings `x` [n, d] and target embeddings `y` [m, d].

    Returns (src_index int64, trg_index int64, score float64), sorted by descending score (stable).
    The inputs are not modified. Raises UserError for bad input, options, or k above either pool size.
    `knn_backend`: "auto" = `knn_both` (one pass, CPU) for index="exact" without a GPU, the torch matmul
    kNN on a CUDA GPU when FAISS has none, else FAISS; "faiss" forces the two FAISS searches; "joint"
    forces `knn_both` (index="exact" only; runs on CPU); "torch" forces the torch kNN (index="exact" only;
    on the GPU if there is one, else on CPU). For the joint pass `chunk_size` is rows of each side per
    similarity tile (default 4096); for torch, queries per chunk.
    """
    if knn_backend not in KNN_BACKENDS:
        raise UserError(f"knn_backend: expected one of {', '.join(KNN_BACKENDS)}, got {knn_backend!r}")
    if knn_backend in ("joint", "torch") and index != "exact":
        raise UserError(f"knn_backend={knn_backend!r} computes exact neighbours; it cannot use index={index!r}")
    if margin not in MARGINS:
        raise UserError(f"margin: expected one of {', '.join(MARGINS)}, got {margin!r}")
    if mode not in MODES:
        raise UserError(f"mode: expected one of {', '.join(MODES)}, got {mode!r}")
    check_embeddings("source embeddings", x)
    check_embeddings("target embeddings", y, x.shape[1])
    for side, pool in (("target", y), ("source", x)):
        if isinstance(k, (int, np.integer)) and k > pool.shape[0]:
            raise UserError(f"k={k} is larger than the {side} pool of {pool.shape[0]} sentences; lower k")
    engine = knn_engine(index, use_gpu, knn_backend, both=True)
    if engine == "joint-cpu" or engine.startswith("torch-"):
        if engine == "joint-cpu":
            both = knn_both(x, y, k, chunk_size=chunk_size, check=False)
        else:
            both = torch_knn_both(x, y, k, device=engine[len("torch-"):], chunk_size=chunk_size, check=False)
        x2y_sim, x2y_ind, y2x_sim, y2x_ind = both
        return mine_from_knn(
            (x2y_sim, x2y_ind), (y2x_sim, y2x_ind), margin=margin, mode=mode, threshold=threshold
        )
    options = dict(index=index, chunk_size=chunk_size, use_gpu=use_gpu, nprobe=nprobe, ef_search=ef_search,
                   backend="faiss")
    x2y = knn(x, y, k, check=False, **options)
    y2x = knn(y, x, k, check=False, **options)
    return mine_from_knn(x2y, y2x, margin=margin, mode=mode, threshold=threshold)


def mine_from_knn(
    x2y: tuple[np.ndarray, np.ndarray],
    y2x: tuple[np.ndarray, np.ndarray],
    margin: Margin = "ratio",
    mode: Mode = "max",
    threshold: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Steps 3 to 5 on precomputed kNN: x2y = (cosines [n, k], target indices), y2x likewise."""
    (x2y_sim, x2y_ind), (y2x_sim, y2x_ind) = x2y, y2x
    fwd = candidate_scores(x2y_sim, x2y_ind, y2x_sim, margin)
    bwd = candidate_scores(y2x_sim, y2x_ind, x2y_sim, margin)
    fwd_col, bwd_col = fwd.argmax(axis=1), bwd.argmax(axis=1)
    fwd_best = np.take_along_axis(x2y_ind, fwd_col[:, None], axis=1)[:, 0]
    bwd_best = np.take_along_axis(y2x_ind, bwd_col[:, None], axis=1)[:, 0]
    fwd_max = np.take_along_axis(fwd, fwd_col[:, None], axis=1)[:, 0]
    bwd_max = np.take_along_axis(bwd, bwd_col[:, None], axis=1)[:, 0]
    src, trg, score = _retrieve(mode, fwd_best, fwd_max, bwd_best, bwd_max)
    if threshold is not None:
        keep = score > threshold
        src, trg, score = src[keep], trg[keep], score[keep]
    return src, trg, score


def candidate_scores(sim: np.ndarray, ind: np.ndarray, other_sim: np.ndarray, margin: Margin) -> np.ndarray:
    """Margin score (float64 [n, k]) of each row's k candidates, computed in float32 as LASER does.

    `sim`/`ind`: this side's kNN; `other_sim`: the other side's kNN similarities (for its means).
    """
    if margin == "absolute":
        return sim.astype(np.float64)
    own_mean = sim.mean(axis=1)
    other_mean = other_sim.mean(axis=1)
    denom = (own_mean[:, None] + other_mean[ind]) / np.float32(2)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = sim / denom if margin == "ratio" else sim - denom
    return out.astype(np.float64)


def _retrieve(
    mode: str, fwd_best: np.ndarray, fwd_max: np.ndarray, bwd_best: np.ndarray, bwd_max: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n, m = fwd_best.shape[0], bwd_best.shape[0]
    if mode == "fwd":
        src, trg, score = np.arange(n), fwd_best, fwd_max
    elif mode == "bwd":
        src, trg, score = bwd_best, np.arange(m), bwd_max
    elif mode == "intersect":
        src = np.flatnonzero(bwd_best[fwd_best] == np.arange(n))
        trg, score = fwd_best[src], fwd_max[src]
    else:
        src = np.concatenate([np.arange(n), bwd_best])
        trg = np.concatenate([fwd_best, np.arange(m)])
        score = np.concatenate([fwd_max, bwd_max])
        order = np.argsort(-score, kind="stable")
        src, trg, score = src[order], trg[order], score[order]
        kept = greedy_one_to_one(src, trg)
        return src[kept].astype(np.int64), trg[kept].astype(np.int64), score[kept]
    order = np.argsort(-score, kind="stable")
    return src[order].astype(np.int64), trg[order].astype(np.int64), score[order]


def greedy_one_to_one(src: np.ndarray, trg: np.ndarray) -> np.ndarray:
    """Mask of the pairs kept when walking them in order and keeping one whose ends are both unused.

    Vectorised in rounds: a pair that comes first among the remaining pairs for both its source and
    its target is kept by the sequential walk; pairs sharing an end with a kept pair are dropped
    (they come later). The first remaining pair is always kept, so every round makes progress.
    """
    keep = np.zeros(src.shape[0], dtype=bool)
    alive = np.arange(src.shape[0])
    while alive.size:
        s, t = src[alive], trg[alive]
        win = _first_occurrence(s) & _first_occurrence(t)
        keep[alive[win]] = True
        used = np.isin(s, s[win]) | np.isin(t, t[win])
        alive = alive[~used]
    return keep


def _first_occurrence(values: np.ndarray) -> np.ndarray:
    _, first = np.unique(values, return_index=True)
    mask = np.zeros(values.shape[0], dtype=bool)
    mask[first] = True
    return mask


@dataclass(frozen=True)
class Unique:
    """Unique texts of one side and, for each, the ids of every sentence that has that text."""

    texts: list[str]
    """Unique texts in order of first occurrence: embed these."""
    ids: list[list[Hashable]]
    """ids[u]: the ids of all input sentences whose text is texts[u], in input order."""
    inverse: np.ndarray
    """inverse[i]: index into `texts` of input sentence i (LASER's `inds`)."""


def dedup_sentences(ids: Sequence[Hashable], texts: Sequence[str]) -> Unique:
    """De-duplicate sentences by exact text, as LASER's TextLoadUnify (strip newlines beforehand)."""
    if len(ids) != len(texts):
        raise UserError(f"dedup_sentences: {len(ids)} ids but {len(texts)} texts; they must pair up")
    position: dict[str, int] = {}
    unique_ids: list[list[Hashable]] = []
    inverse = np.empty(len(texts), dtype=np.int64)
    for row, (sid, text) in enumerate(zip(ids, texts, strict=True)):
        u = position.setdefault(text, len(position))
        if u == len(unique_ids):
            unique_ids.append([])
        unique_ids[u].append(sid)
        inverse[row] = u
    return Unique(texts=list(position), ids=unique_ids, inverse=inverse)


def expand_pairs(
    src_index: np.ndarray,
    trg_index: np.ndarray,
    score: np.ndarray,
    src: Unique,
    trg: Unique,
    duplicates: Literal["all", "drop"] = "all",
) -> list[tuple[Hashable, Hashable, float]]:
    """Map mined unique-text pairs back to (src_id, trg_id, score), best score first.

    duplicates="all" gives every id of a repeated text (LASER writes texts, so each id inherits the
    pair); "drop" skips texts that occur under several ids, as XTREME's `read_sent2id` does. A pair of
    ids reached twice keeps its higher score (XTREME's `read_candidate2score`).
    """
    if duplicates not in ("all", "drop"):
        raise UserError(f"duplicates: expected 'all' or 'drop', got {duplicates!r}")
    best: dict[tuple[Hashable, Hashable], float] = {}
    for s, t, value in zip(src_index.tolist(), trg_index.tolist(), score.tolist(), strict=True):
        s_ids, t_ids = src.ids[s], trg.ids[t]
        if duplicates == "drop" and (len(s_ids) > 1 or len(t_ids) > 1):
            continue
        for sid in s_ids:
            for tid in t_ids:
                if value > best.get((sid, tid), -np.inf):
                    best[(sid, tid)] = value
    ranked = sorted(best.items(), key=lambda item: -item[1])
    return [(sid, tid, value) for (sid, tid), value in ranked]
