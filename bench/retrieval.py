"""Benchmark: vectorised chunked `mine_bitext` against a plain LASER-style reference, same run, same data.

    .venv/bin/python bench/retrieval.py [--n 50000 --d 768] [--ref-n N] [--approx-n 100000] [--quick]

Data: clustered Gaussian embeddings (64 centres) with a planted parallel structure: 60% of the targets
are noisy copies of sources (shuffled), the rest are unrelated points from the same clusters.
Reports (1) identity of pairs and scores with the reference, and the speed ratio end to end, of the
default CPU path (one joint float32 pass, `knn_both`), then for the kNN stage (the reference's two FAISS
searches against `knn_both`, with identity of the neighbours) and for the part after kNN (scoring +
retrieval); (2) peak RSS (VmHWM) of a fresh process that only builds the data and mines, against 1.5x the
two matrices + 256 MiB; (3) recall@1 and speed of the approximate index against exact search on a pool of
--approx-n rows.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def make_data(n: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """x [n, d] and y [n, d] float32, filled chunk by chunk (no full-size temporaries)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((64, d)).astype(np.float32)
    x = np.empty((n, d), dtype=np.float32)
    y = np.empty((n, d), dtype=np.float32)
    parallel = int(0.6 * n)
    perm = rng.permutation(n)  # y[perm[i]] is the copy of x[i] for i < parallel
    step = 8192
    for start in range(0, n, step):
        rows = slice(start, min(n, start + step))
        m = rows.stop - rows.start
        x[rows] = centres[rng.integers(0, 64, m)] + 1.5 * rng.standard_normal((m, d), dtype=np.float32)
    for start in range(0, n, step):
        rows = np.arange(start, min(n, start + step))
        copies = rows[rows < parallel]
        fresh = rows[rows >= parallel]
        y[perm[copies]] = x[copies] + 0.6 * rng.standard_normal((len(copies), d), dtype=np.float32)
        y[perm[fresh]] = centres[rng.integers(0, 64, len(fresh))] + 1.5 * rng.standard_normal(
            (len(fresh), d), dtype=np.float32
        )
    return x, y


def reference_mine(x: np.ndarray, y: np.ndarray, k: int = 4) -> tuple[list, dict, tuple]:
    """LASER mine_bitexts.py, mode mine, retrieval max, margin ratio: written plainly."""
    import faiss

    t0 = time.perf_counter()
    x = x.copy()
    y = y.copy()
    faiss.normalize_L2(x)
    faiss.normalize_L2(y)

    def knn_cpu(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        index = faiss.IndexFlatIP(a.shape[1])
        index.add(b)
        return index.search(a, k)

    x2y_sim, x2y_ind = knn_cpu(x, y)
    y2x_sim, y2x_ind = knn_cpu(y, x)
    t1 = time.perf_counter()
    x2y_mean, y2x_mean = x2y_sim.mean(axis=1), y2x_sim.mean(axis=1)

    def score_candidates(a, b, inds, fwd_mean, bwd_mean):
        scores = np.zeros(inds.shape)
        for i in range(scores.shape[0]):
            for j in range(scores.shape[1]):
                c = inds[i, j]
                scores[i, j] = a[i].dot(b[c]) / ((fwd_mean[i] + bwd_mean[c]) / 2)
        return scores

    fwd = score_candidates(x, y, x2y_ind, x2y_mean, y2x_mean)
    bwd = score_candidates(y, x, y2x_ind, y2x_mean, x2y_mean)
    fwd_best = x2y_ind[np.arange(x.shape[0]), fwd.argmax(axis=1)]
    bwd_best = y2x_ind[np.arange(y.shape[0]), bwd.argmax(axis=1)]
    indices = np.stack(
        (
            np.concatenate((np.arange(x.shape[0]), bwd_best)),
            np.concatenate((fwd_best, np.arange(y.shape[0]))),
        ),
        axis=1,
    )
    scores = np.concatenate((fwd.max(axis=1), bwd.max(axis=1)))
    seen_src, seen_trg, out = set(), set(), []
    for i in np.argsort(-scores, kind="stable"):  # LASER: unstable argsort; stable fixes tie order
        src, trg = indices[i]
        if src not in seen_src and trg not in seen_trg:
            seen_src.add(src)
            seen_trg.add(trg)
            out.append((int(src), int(trg), float(scores[i])))
    t2 = time.perf_counter()
    knn_out = ((x2y_sim, x2y_ind), (y2x_sim, y2x_ind))
    return out, {"knn": t1 - t0, "score_retrieve": t2 - t1, "total": t2 - t0}, knn_out


def vmhwm_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(args: argparse.Namespace) -> None:
    """Fresh process: build the data, mine, report time and peak RSS, save the pairs."""
    from harness.retrieval.mining import mine_bitext

    x, y = make_data(args.n, args.d)
    rss_data = vmhwm_mib()
    t0 = time.perf_counter()
    src, trg, score = mine_bitext(x, y, k=4, margin="ratio", mode="max", use_gpu=False)
    seconds = time.perf_counter() - t0
    np.savez(args.out, src=src, trg=trg, score=score)
    print(json.dumps({"seconds": seconds, "hwm_mib": vmhwm_mib(), "hwm_after_data_mib": rss_data}))


def compare(mine: tuple, ref: list, tol: float = 1e-5) -> str:
    """Same set of pairs, same score per pair within `tol`, order equal up to near-equal scores."""
    got = {(a, b): c for a, b, c in zip(mine[0].tolist(), mine[1].tolist(), mine[2].tolist(), strict=True)}
    want = {(a, b): c for a, b, c in ref}
    differ = len(set(got) ^ set(want))
    common = set(got) & set(want)
    max_diff = max((abs(got[p] - want[p]) for p in common), default=0.0)
    order_moves = sum(
        1 for r, a, b in zip(ref, mine[0].tolist(), mine[1].tolist(), strict=False) if r[:2] != (a, b)
    )
    same = differ == 0 and max_diff <= tol
    return (
        f"identical pairs and scores: {same} ({len(want)} reference pairs, {differ} differ; "
        f"max |score diff| {max_diff:.1e}; {order_moves} positions swapped among scores within {tol:g})"
    )


def compare_knn(x: np.ndarray, y: np.ndarray, knn_out: tuple, ref_seconds: float) -> str:
    """Time the harness's kNN stage (`knn_both`, CPU) and compare its neighbours with the reference's."""
    from harness.retrieval.search import knn_both

    t0 = time.perf_counter()
    xs, xi, ys, yi = knn_both(x, y, 4)
    seconds = time.perf_counter() - t0
    same_sims, order_only, other = True, 0, 0
    for (ref_s, ref_i), s, i in zip(knn_out, (xs, ys), (xi, yi), strict=True):
        same_sims &= bool(np.array_equal(s, ref_s))
        for r in np.flatnonzero((i != ref_i).any(axis=1)):
            tied = np.array_equal(s[r], ref_s[r])  # same cosines at every place: ids differ on exact ties
            order_only, other = order_only + tied, other + (not tied)
    return (
        f"kNN stage (both ways, k=4): reference 2 FAISS searches {ref_seconds:.2f} s vs knn_both "
        f"{seconds:.2f} s = {ref_seconds / seconds:.2f}x; neighbours identical: {other == 0} "
        f"up to exact ties (cosines bitwise equal: {same_sims}; {order_only} rows differ only in which or "
        f"in what order exactly tied neighbours are listed, {other} rows differ otherwise)"
    )


def bench_mining(n: int, d: int, ref_n: int | None) -> None:
    from harness.retrieval.mining import mine_bitext, mine_from_knn

    matrices_mib = 2 * n * d * 4 / 2**20
    budget = 1.5 * matrices_mib + 256
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "mined.npz")
        cmd = [sys.executable, __file__, "--child", "--n", str(n), "--d", str(d), "--out", out]
        result = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        mined = np.load(out)
        mine = (mined["src"], mined["trg"], mined["score"])
    print(f"mine_bitext  n={n} d={d} k=4 ratio/max, exact, CPU (joint pass): {result['seconds']:.2f} s")
    print(
        f"  peak RSS (VmHWM, fresh process) {result['hwm_mib']:.0f} MiB vs budget 1.5 x {matrices_mib:.0f} "
        f"MiB + 256 MiB = {budget:.0f} MiB -> {'OK' if result['hwm_mib'] < budget else 'OVER'} "
        f"(after building the data: {result['hwm_after_data_mib']:.0f} MiB)"
    )
    x, y = make_data(n, d)
    if ref_n is None or ref_n >= n:
        ref, times, knn_out = reference_mine(x, y)
        print(
            f"reference (LASER loop) n={n}: {times['total']:.2f} s "
            f"(kNN {times['knn']:.2f} s, scoring+max {times['score_retrieve']:.2f} s)"
        )
        print(compare(mine, ref))
        print(f"speed ratio end to end (reference / mine_bitext): {times['total'] / result['seconds']:.2f}x")
        print(compare_knn(x, y, knn_out, times["knn"]))
    else:
        xs, ys = x[:ref_n], y[:ref_n]
        ref, times, knn_out = reference_mine(xs, ys)
        t0 = time.perf_counter()
        sub = mine_bitext(xs, ys, use_gpu=False)
        sub_seconds = time.perf_counter() - t0
        scale = (n / ref_n) ** 2
        est = times["knn"] * scale + times["score_retrieve"] * n / ref_n
        print(
            f"reference (LASER loop) on a SUBSET n={ref_n}: {times['total']:.2f} s; mine: {sub_seconds:.2f} s"
        )
        print("on the subset: " + compare(sub, ref))
        print(
            f"EXTRAPOLATED (not measured) reference at n={n}: {est:.1f} s "
            f"(kNN x{scale:.0f} quadratic, loop x{n / ref_n:.0f} linear) "
            f"-> ratio {est / result['seconds']:.2f}x"
        )
    t0 = time.perf_counter()
    vec = mine_from_knn(*knn_out)
    vec_seconds = time.perf_counter() - t0
    print(
        f"after kNN only (same kNN input): LASER loop {times['score_retrieve']:.3f} s vs vectorised "
        f"{vec_seconds:.3f} s = {times['score_retrieve'] / vec_seconds:.1f}x; " + compare(vec, ref)
    )


def bench_approx(n: int, d: int, queries: int, kind: str) -> None:
    from harness.retrieval.search import _build_approx, _search_chunks, default_chunk_rows, knn

    x, y = make_data(n, d, seed=1)
    q = x[:queries]
    t0 = time.perf_counter()
    _, exact = knn(q, y, 1, use_gpu=False)
    t_exact = time.perf_counter() - t0
    chunk = default_chunk_rows(d)
    t0 = time.perf_counter()
    built = _build_approx(y, kind, chunk, False, None, None)
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    _, approx = _search_chunks(built, q, 1, chunk)
    t_search = time.perf_counter() - t0
    recall = float((approx[:, 0] == exact[:, 0]).mean())
    print(
        f"approximate index={kind} pool={n} queries={queries} d={d}: recall@1 vs exact {recall:.4f}; "
        f"exact search {t_exact:.2f} s; {kind} build {t_build:.2f} s + search {t_search:.2f} s -> "
        f"search {t_exact / t_search:.1f}x, with build {t_exact / (t_build + t_search):.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50000)
    parser.add_argument("--d", type=int, default=768)
    parser.add_argument("--ref-n", type=int, default=None, help="time the reference on a subset only")
    parser.add_argument("--approx-n", type=int, default=100000, help="pool size for the approximate index")
    parser.add_argument("--approx-queries", type=int, default=10000)
    parser.add_argument("--approx-index", choices=["ivf", "hnsw"], default="ivf")
    parser.add_argument("--quick", action="store_true", help="n=5000, approx-n=20000 (a smoke run)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    if args.quick:
        args.n, args.approx_n, args.approx_queries = 5000, 20000, 2000
    import faiss

    print(f"faiss {faiss.__version__}, {faiss.omp_get_max_threads()} threads, {os.cpu_count()} CPUs")
    bench_mining(args.n, args.d, args.ref_n)
    bench_approx(args.approx_n, args.d, min(args.approx_queries, args.approx_n), args.approx_index)


if __name__ == "__main__":
    main()
