"""A small C kernel for the bfloat16 screen (`screen.py`), compiled on first use with the system's C compiler.

The kernel scans one bfloat16 similarity tile, re-scores in float64 every entry that may still enter a
row's or a column's top-k list, and inserts it there. numpy cannot do this without materialising
gathered rows, which costs more than the matrix product itself. The library is built with `$CC` (default
`cc`) into `$XSTILTS_KERNEL_CACHE` (default `~/.cache/xstilts/kernels`), keyed by the source, the
compiler and the CPU's flags (it is built for the local CPU), and loaded with ctypes. `load()` returns
None when no compiler is available or the build fails; callers then take the pure numpy path.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

SOURCE = r"""
#include <math.h>
#include <stdint.h>
#include <string.h>

static inline float bf16_value(uint16_t bits) {
    uint32_t u = ((uint32_t)bits) << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* The largest bfloat16 value <= t (as a float). */
static float bf16_floor(double t) {
    if (t == -INFINITY) return -INFINITY;
    float f = (float)t;
    if ((double)f > t) f = nextafterf(f, -INFINITY);
    union { uint32_t u; float f; } c;
    c.f = f;
    uint32_t low = c.u & 0xFFFFu;
    c.u &= 0xFFFF0000u;                    /* toward zero */
    if (low && (c.u & 0x80000000u)) c.u += 0x10000u;  /* negative: one step further down */
    return c.f;
}

/* float64 dot product of two float32 rows in a fixed order (8 lanes, then a fixed tree). */
static double dot(const float *a, const float *b, int d) {
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int t = 0;
    for (; t + 8 <= d; t += 8)
        for (int l = 0; l < 8; l++) acc[l] += (double)a[t + l] * (double)b[t + l];
    double tail = 0.0;
    for (; t < d; t++) tail += (double)a[t] * (double)b[t];
    return (((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]))) + tail;
}

/* Insert (v, id) into a list sorted by (value desc, id asc); returns 1 when it entered. */
static int insert(float *vs, int64_t *is, int k, float v, int64_t id) {
    float last = vs[k - 1];
    if (!(v > last || (v == last && (is[k - 1] < 0 || id < is[k - 1])))) return 0;
    int p = k - 1;
    while (p > 0 && (vs[p - 1] < v || (vs[p - 1] == v && is[p - 1] > id))) {
        vs[p] = vs[p - 1];
        is[p] = is[p - 1];
        p--;
    }
    vs[p] = v;
    is[p] = id;
    return 1;
}

/* Threshold of a list: any entry whose cosine can enter has a bf16 value >= this. */
static float threshold(const float *vs, const int64_t *is, int k, double bound, double err) {
    double kth = is[k - 1] >= 0 ? (double)vs[k - 1] : -INFINITY;
    if (bound > kth) kth = bound;
    return kth == -INFINITY ? -INFINITY : bf16_floor(kth - err);
}

/* Lower bound on the k-th best cosine proven by k distinct tile entries >= m (a bf16 value). */
static double proven(float m, double err) { return (double)m - fabs((double)m) / 128.0 - err; }

/* Keep the k largest of the values seen in best[0..k-1] (descending). */
static void keep_largest(float *best, int k, float v) {
    if (!(v > best[k - 1])) return;
    int p = k - 1;
    while (p > 0 && best[p - 1] < v) { best[p] = best[p - 1]; p--; }
    best[p] = v;
}

/*
 * One tile: tile[nr][nc] bf16 bits of x_bf16 . y_bf16; x[nr][d], y[nc][d] the float32-normalised rows.
 * rs/ri [nr][k]: the rows' running lists (ids of y, offset j0); cs/ci [nc][k]: the columns' (ids of x,
 * offset i0). er/ec: the error bound of each row / column. tc [nc], col_best [nc][k + 1]: scratch.
 * Returns the number of entries re-scored, or -1 once it exceeds limit.
 */
int64_t screen_tile(const uint16_t *tile, int nr, int nc, const float *x, const float *y, int d,
                    const double *er, const double *ec, float *rs, int64_t *ri, float *cs, int64_t *ci,
                    int k, int64_t i0, int64_t j0, int64_t limit, float *tc, float *col_best) {
    int64_t scored = 0;
    int fresh_cols = 0;
    for (int j = 0; j < nc; j++) fresh_cols |= ci[(int64_t)j * k + k - 1] < 0;
    for (int j = 0; j < nc; j++) tc[j] = threshold(cs + (int64_t)j * k, ci + (int64_t)j * k, k, -INFINITY, ec[j]);
    float *tc_max = col_best + (int64_t)nc * k;
    if (fresh_cols) {
        /* k largest of each column's maxima over groups of 32 rows: k distinct entries */
        for (int64_t q = 0; q < (int64_t)nc * k; q++) col_best[q] = -INFINITY;
        for (int g0 = 0; g0 < nr; g0 += 32) {
            int g1 = g0 + 32 < nr ? g0 + 32 : nr;
            for (int j = 0; j < nc; j++) tc_max[j] = -INFINITY;
            for (int i = g0; i < g1; i++) {
                const uint16_t *row = tile + (int64_t)i * nc;
                for (int j = 0; j < nc; j++) {
                    float v = bf16_value(row[j]);
                    tc_max[j] = v > tc_max[j] ? v : tc_max[j];
                }
            }
            for (int j = 0; j < nc; j++) keep_largest(col_best + (int64_t)j * k, k, tc_max[j]);
        }
        for (int j = 0; j < nc; j++) {
            if (ci[(int64_t)j * k + k - 1] >= 0) continue;
            float m = col_best[(int64_t)j * k + k - 1];
            if (m == -INFINITY) continue;  /* fewer than k groups */
            double b = proven(m, ec[j]);
            tc[j] = threshold(cs + (int64_t)j * k, ci + (int64_t)j * k, k, b, ec[j]);
        }
    }
    for (int i = 0; i < nr; i++) {
        const uint16_t *row = tile + (int64_t)i * nc;
        float *rv = rs + (int64_t)i * k;
        int64_t *rid = ri + (int64_t)i * k;
        double bound = -INFINITY;
        if (rid[k - 1] < 0) {
            /* k largest of the row's maxima over blocks of 64 columns: k distinct entries */
            float best[64];
            for (int q = 0; q < k; q++) best[q] = -INFINITY;
            for (int b0 = 0; b0 < nc; b0 += 64) {
                int b1 = b0 + 64 < nc ? b0 + 64 : nc;
                float mx = -INFINITY;
                for (int j = b0; j < b1; j++) {
                    float v = bf16_value(row[j]);
                    mx = v > mx ? v : mx;
                }
                keep_largest(best, k, mx);
            }
            if (best[k - 1] > -INFINITY) bound = proven(best[k - 1], er[i]);
        }
        float tr = threshold(rv, rid, k, bound, er[i]);
        for (int b0 = 0; b0 < nc; b0 += 64) {
            int b1 = b0 + 64 < nc ? b0 + 64 : nc;
            int hit = 0;
            for (int j = b0; j < b1; j++) {
                float v = bf16_value(row[j]);
                hit += (v >= tr) | (v >= tc[j]);  /* += (not |=) lets gcc vectorise */
            }
            if (!hit) continue;
            for (int j = b0; j < b1; j++) {
                float v = bf16_value(row[j]);
                int want_r = v >= tr, want_c = v >= tc[j];
                if (!(want_r | want_c)) continue;
                float s = (float)dot(x + (int64_t)i * d, y + (int64_t)j * d, d);
                if (++scored > limit) return -1;
                if (want_r && insert(rv, rid, k, s, j0 + j)) {
                    float t = threshold(rv, rid, k, bound, er[i]);
                    if (t > tr) tr = t;
                }
                if (want_c && insert(cs + (int64_t)j * k, ci + (int64_t)j * k, k, s, i0 + i)) {
                    float t = threshold(cs + (int64_t)j * k, ci + (int64_t)j * k, k, -INFINITY, ec[j]);
                    if (t > tc[j]) tc[j] = t;
                }
            }
        }
    }
    return scored;
}
"""
MAX_K = 64  # the kernel's fixed scratch for a row's k best values


def _cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return line
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def _cache_dir() -> Path:
    root = os.environ.get("XSTILTS_KERNEL_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "xstilts" / "kernels"


@functools.lru_cache(maxsize=1)
def load() -> ctypes.CDLL | None:
    """The compiled kernel, building it on first use; None when it cannot be built here."""
    cc = os.environ.get("CC", "cc")
    compiler = shutil.which(cc)
    if compiler is None:
        return None
    flags = ["-O3", "-march=native", "-mprefer-vector-width=512", "-fPIC", "-shared", "-fno-fast-math", "-std=c99"]
    digest = hashlib.sha256("\0".join([SOURCE, compiler, *flags, _cpu_flags()]).encode()).hexdigest()[:16]
    target = _cache_dir() / f"screen-{digest}.so"
    if not target.exists():
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
                src = Path(tmp) / "screen.c"
                src.write_text(SOURCE)
                built = Path(tmp) / "screen.so"
                subprocess.run([compiler, *flags, str(src), "-o", str(built), "-lm"], check=True,
                               capture_output=True, timeout=120)
                os.replace(built, target)
        except (OSError, subprocess.SubprocessError):
            return None
    try:
        lib = ctypes.CDLL(str(target))
    except OSError:
        return None
    fn = lib.screen_tile
    ptr = ctypes.c_void_p
    fn.argtypes = [ptr, ctypes.c_int, ctypes.c_int, ptr, ptr, ctypes.c_int, ptr, ptr, ptr, ptr, ptr, ptr,
                   ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, ptr, ptr]
    fn.restype = ctypes.c_int64
    return lib
