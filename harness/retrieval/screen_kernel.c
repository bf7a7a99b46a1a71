/*
 * Exact cosine kNN both ways behind a low-precision screen: int8 or bfloat16 tiles on CPUs with AMX, 7-bit or
 * 16-bit integer products on CPUs with AVX2 (screen.py states the definition of the result and proves the bound e
 * used here). One build has one backend, chosen by the compiler's target (-march=native): AMX where the
 * CPU has it, else AVX2 + FMA; the lists, thresholds and re-scoring below are shared.
 *
 * Layout. Rows are normalised as faiss.normalize_L2 does (row * inv, inv from FAISS's squared norm) and
 * rounded to bfloat16, or to int8 codes with a scale per row, in 16-row groups of tiles of 16 rows x 64
 * bytes (32 bfloat16 or 64 int8 dimensions): x plainly (the A operand), y in the VNNI layout (the B
 * operand: each tile row holds, for 16 columns, 4-byte units of consecutive dimensions). Rows are padded
 * to a multiple of 32, and the width to kp (a multiple of 32 bfloat16 or 64 int8 values), with zeros.
 *
 * int7 (AVX2). x's rows are rounded to scale * (u - z) with codes u in [0, 127] and a zero point z per row,
 * y's rows to scale * q with q in [-63, 63], in the same layouts (x plain, y VNNI). vpmaddubsw multiplies
 * unsigned u by signed q and adds pairs into 16-bit lanes, |.| <= 2 * 127 * 63; two such sums still fit in
 * 16 bits (32004 < 32767: nothing saturates), and vpmaddwd widens them to the exact int32 sum S = sum u q.
 * The screened value is (S - z R) * scale_x * scale_y with R = sum q of y's row: exact integers, then the
 * same three roundings as int8. A 32 x 32 block is 16 register-blocked 4 x 16 products.
 * int16 (AVX2). Both sides are rounded to scale * q with q in [-Q, Q], Q = int16_levels(d) so that d Q^2
 * < 2^31, in the bfloat16 layouts (32 values per tile row, VNNI units of 2); vpmaddwd gives exact int32
 * sums. About 13 times finer than int7 (at d = 768), for data whose int7 bound is too loose (outlier
 * dimensions, cosines crowded together), at a little over half its speed.
 *
 * Work. Threads take chunks of x's 32-row blocks as they become free (the cores of a shared machine can
 * run at quite different speeds). For a 32 x 32 block of similarities, four tile accumulators hold the
 * products (float32 sums for bfloat16, exact int32 sums for int8, scaled to floats after the store); while
 * the tile unit works on the next block, the core scans this one in L1 against each row's and each
 * column's threshold. The error bound of each pair is alpha res + beta (see `lists`), so each entry is
 * tested as w = v + alpha res against the list's threshold on w. An entry that passes is buffered with its
 * w, and the k largest lower bounds of its cosine seen (v - alpha res - beta) raise the threshold: k
 * distinct entries have cosines >= that, so an entry whose upper bound w + beta is below cannot enter.
 * Buffered entries are re-scored exactly (float64 dot product of the float32-normalised rows, rounded to
 * float32) in descending w, at the end or when a buffer fills, and only while still above the threshold:
 * re-scored entries join the list's exact top-k, whose k-th best - beta then bounds the threshold. A full
 * buffer is re-scored only until the exact list is full and half the buffer is free; the rest stays
 * buffered. So the entries that beat the running k-th best, about k ln(pool / k) per list, cost a buffer
 * slot, not a re-scoring. A chunk's rows are re-scored for the last time as soon as the chunk is done.
 * Column lists are private to a thread, which adopts the others' higher column thresholds at each panel;
 * at the end their exact lists, lower bounds and thresholds are merged before the last re-scoring. Loops
 * are blocked so that a chunk of x stays in L3 and a panel of y in L2.
 *
 * Built with neither AMX nor AVX2 + FMA, screen_isa() is 0, knn_screen returns -2 and callers fall back.
 */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__AMX_TILE__) && defined(__AMX_BF16__) && defined(__AMX_INT8__) && defined(__AVX512F__) && \
    defined(__x86_64__)
#include <immintrin.h>
#define HAVE_AMX 1
#define HAVE_AVX2 0
#elif defined(__AVX2__) && defined(__FMA__) && defined(__x86_64__)
#include <immintrin.h>
#define HAVE_AMX 0
#define HAVE_AVX2 1
#else
#define HAVE_AMX 0
#define HAVE_AVX2 0
#endif
#define HAVE_SCREEN (HAVE_AMX || HAVE_AVX2)

enum { BF16 = 0, INT8 = 1, INT7 = 2, INT16 = 3 }; /* the screen's codes (screen.py's precisions) */

/* Bytes per packed value: bfloat16 and int16 codes take 2, int8 and int7 codes 1. */
static inline int code_bytes(int precision) { return precision == BF16 || precision == INT16 ? 2 : 1; }

/* int16 codes' largest magnitude for width d: d Q^2 < 2^31, so int32 sums cannot overflow. */
static int int16_levels(int d) {
    int q = (int)sqrt(2147483647.0 / (d > 0 ? d : 1));
    while ((int64_t)q * q * d >= INT32_MAX) q--;
    return q > 32767 ? 32767 : q;
}

#define TILE_BYTES 1024 /* 16 rows x 64 bytes: 32 bfloat16 or 64 int8 */
#define MIN_CAP 64       /* buffered candidates per list: max(MIN_CAP, 2k) */

/* bfloat16 bits of a finite float, rounded to nearest even. */
static inline uint16_t to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    u += 0x7FFFu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static inline float from_bf16(uint16_t b) {
    uint32_t u = ((uint32_t)b) << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/*
 * Normalise rows (a[i][t] * inv[i], as FAISS does), round them into out (the layout above; vnni = 1 for
 * y), and record |rounded row| (hat) and |row - rounded row| (res) in float64. BF16: out holds [rows
 * rounded up to 32][kp] uint16, kp a multiple of 32. INT8: row i is rounded to scale[i] * q with
 * q = round(row / scale[i]) in [-127, 127], scale[i] = max |row| / 127 (0 for a zero row); out holds [rows
 * rounded up to 32][kp] int8, kp a multiple of 64. INT7: x (vnni = 0) is rounded to scale[i] * (u - z) with
 * u in [0, 127], scale[i] = (max(row, 0) - min(row, 0)) / 127 and zero point z = offset[i]; y (vnni = 1)
 * to scale[i] * q with q in [-63, 63], scale[i] = max |row| / 63, and offset[i] = sum of its q; out holds
 * bytes as for INT8. INT16: scale[i] * q with q in [-Q, Q], scale[i] = max |row| / Q, Q = int16_levels(d);
 * out holds int16 values as for BF16. out must be zeroed by the caller.
 */
void pack_rows(const float *a, const float *inv, int64_t n, int d, int kp, int vnni, int precision, void *out,
               float *scale, int32_t *offset, double *hat, double *res) {
    const int size = code_bytes(precision);
    uint8_t *bytes = calloc((size_t)kp, (size_t)size); /* one rounded row, zero-padded to kp values */
    float *v = malloc((size_t)d * sizeof(float)), *back = malloc((size_t)d * sizeof(float)); /* back: q or bf16 */
    int32_t *code = malloc((size_t)d * sizeof(int32_t));
    if (!bytes || !v || !back || !code) abort();
    for (int64_t i = 0; i < n; i++) {
        const float *row = a + i * d, f = inv[i];
        for (int t = 0; t < d; t++) v[t] = row[t] * f;
        offset[i] = 0;
        if (precision != BF16) {
            /* the largest and smallest value in 16 independent lanes (vectorises) */
            float top[16] = {0}, bottom[16] = {0}, hi = 0.0f, lo = 0.0f;
            for (int t0 = 0; t0 < d; t0 += 16)
                for (int l = 0; l < 16 && t0 + l < d; l++) {
                    top[l] = v[t0 + l] > top[l] ? v[t0 + l] : top[l];
                    bottom[l] = v[t0 + l] < bottom[l] ? v[t0 + l] : bottom[l];
                }
            for (int l = 0; l < 16; l++) hi = top[l] > hi ? top[l] : hi, lo = bottom[l] < lo ? bottom[l] : lo;
            const int unsigned_codes = precision == INT7 && !vnni;
            const float big = hi > -lo ? hi : -lo;
            const float levels = precision == INT8 ? 127.0f : (precision == INT7 ? 63.0f : (float)int16_levels(d));
            const float s = scale[i] = unsigned_codes ? (hi - lo) / 127.0f : big / levels;
            const float rs = s > 0.0f ? 1.0f / s : 0.0f, z = unsigned_codes ? nearbyintf(-lo * rs) : 0.0f;
            const float qmin = unsigned_codes ? 0.0f : -levels, qmax = unsigned_codes ? 127.0f : levels;
            int32_t sum = 0;
            for (int t = 0; t < d; t++) { /* any rounding will do: the bound uses the actual residual */
                float q = nearbyintf(v[t] * rs) + z;
                q = q > qmax ? qmax : (q < qmin ? qmin : q);
                code[t] = (int32_t)q;
                back[t] = q - z;
                sum += code[t];
            }
            if (precision == INT7) offset[i] = unsigned_codes ? (int32_t)z : sum;
        } else {
            for (int t = 0; t < d; t++) {
                code[t] = to_bf16(v[t]);
                back[t] = from_bf16((uint16_t)code[t]);
            }
        }
        /* |rounded row| and |residual| in float64 (s * q is exact there), in 8 independent lanes */
        const double s = precision != BF16 ? (double)scale[i] : 1.0;
        double h[8] = {0}, r[8] = {0};
        int t0 = 0;
        for (; t0 + 8 <= d; t0 += 8)
            for (int l = 0; l < 8; l++) {
                const double b = s * (double)back[t0 + l], diff = (double)v[t0 + l] - b;
                h[l] += b * b;
                r[l] += diff * diff;
            }
        for (int l = 0; t0 + l < d; l++) {
            const double b = s * (double)back[t0 + l], diff = (double)v[t0 + l] - b;
            h[l] += b * b;
            r[l] += diff * diff;
        }
        double hs = 0.0, rs = 0.0;
        for (int l = 0; l < 8; l++) hs += h[l], rs += r[l];
        hat[i] = sqrt(hs);
        res[i] = sqrt(rs);
        /* Both layouts are the same in bytes: a tile row is 64 bytes (32 bfloat16 or 64 int8) of one row
           (plain), or 16 units of 4 bytes, one unit per row, each holding consecutive dimensions (VNNI). */
        const int64_t row_bytes = (int64_t)kp * size;
        for (int t = 0; t < d; t++) {
            if (size == 1) bytes[t] = (uint8_t)code[t]; /* int8: two's complement; INT7 x: 0..127 */
            else ((uint16_t *)bytes)[t] = (uint16_t)code[t]; /* bfloat16 bits, or int16 */
        }
        const int c = (int)(i % 16);
        uint8_t *group = (uint8_t *)out + (i / 16) * row_bytes * 16;
        for (int64_t o = 0; o < row_bytes; o += 64) {
            uint8_t *tile = group + o * 16;
            if (vnni)
                for (int u = 0; u < 16; u++) memcpy(tile + (u * 16 + c) * 4, bytes + o + u * 4, 4);
            else memcpy(tile + c * 64, bytes + o, 64);
        }
    }
    free(v), free(back), free(code), free(bytes);
}

#if HAVE_SCREEN

/* The largest float <= t. */
static inline float round_down(double t) {
    float f = (float)t;
    if ((double)f > t) { /* the next float down, by its bits (f > t, so f is not -inf) */
        uint32_t u;
        memcpy(&u, &f, sizeof u);
        if (f > 0.0f) u -= 1;
        else if (f < 0.0f) u += 1;
        else u = 0x80000001u; /* below zero: the smallest negative denormal */
        memcpy(&f, &u, sizeof f);
    }
    return f;
}

/* Insert (v, id) into a list sorted by (value desc, id asc), empty slots (id -1) last; 1 when it entered. */
static int insert(float *vs, int64_t *is, int k, float v, int64_t id) {
    if (!(is[k - 1] < 0 || v > vs[k - 1] || (v == vs[k - 1] && id < is[k - 1]))) return 0;
    int p = k - 1;
    while (p > 0 && (is[p - 1] < 0 || vs[p - 1] < v || (vs[p - 1] == v && is[p - 1] > id))) {
        vs[p] = vs[p - 1];
        is[p] = is[p - 1];
        p--;
    }
    vs[p] = v;
    is[p] = id;
    return 1;
}

/* Keep the k largest values seen in best[0..k) (descending); 1 when v entered. */
static int keep_largest(float *best, int k, float v) {
    if (!(v > best[k - 1])) return 0;
    int p = k - 1;
    while (p > 0 && best[p - 1] < v) best[p] = best[p - 1], p--;
    best[p] = v;
    return 1;
}


#if HAVE_AMX
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

/* 2: this build multiplies with AMX tiles, and the kernel lets this process use them; 0: it does not. */
int screen_isa(void) { return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0 ? 2 : 0; }

typedef struct {
    uint8_t palette_id;
    uint8_t start_row;
    uint8_t reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tile_config;

/*
 * float64 dot product of two rows normalised on the fly (a * ia, b * ib in float32, as FAISS), rounded to
 * float32. Fixed order: 32 lanes (lane l sums dimensions t = l mod 32 in order), then a fixed tree.
 * float32 x float32 products are exact in float64, so the fused multiply-add rounds once, like the sum.
 * The AVX2 build below keeps the same lanes and tree, so both give the same bits.
 */
static float cosine(const float *a, float ia, const float *b, float ib, int d) {
    __m512d acc[4] = {_mm512_setzero_pd(), _mm512_setzero_pd(), _mm512_setzero_pd(), _mm512_setzero_pd()};
    const __m256 va = _mm256_set1_ps(ia), vb = _mm256_set1_ps(ib);
    for (int t = 0; t < d; t += 32) {
        for (int q = 0; q < 4; q++) {
            const int left = d - t - 8 * q;
            if (left <= 0) break;
            const __mmask8 mask = left >= 8 ? 0xFF : (__mmask8)((1u << left) - 1);
            const __m256 pa = _mm256_mul_ps(_mm256_maskz_loadu_ps(mask, a + t + 8 * q), va);
            const __m256 pb = _mm256_mul_ps(_mm256_maskz_loadu_ps(mask, b + t + 8 * q), vb);
            acc[q] = _mm512_fmadd_pd(_mm512_cvtps_pd(pa), _mm512_cvtps_pd(pb), acc[q]);
        }
    }
    const __m512d s = _mm512_add_pd(_mm512_add_pd(acc[0], acc[1]), _mm512_add_pd(acc[2], acc[3]));
    double l[8];
    _mm512_storeu_pd(l, s);
    return (float)(((l[0] + l[4]) + (l[1] + l[5])) + ((l[2] + l[6]) + (l[3] + l[7])));
}
#else
/* 1: this build multiplies 7-bit or 16-bit codes with AVX2. */
int screen_isa(void) { return 1; }

/* The AMX build's cosine (same lanes, same tree, same bits), on 4-lane float64 vectors. */
static float cosine(const float *a, float ia, const float *b, float ib, int d) {
    __m256d acc[4][2];
    for (int q = 0; q < 4; q++) acc[q][0] = acc[q][1] = _mm256_setzero_pd();
    const __m256 va = _mm256_set1_ps(ia), vb = _mm256_set1_ps(ib);
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int t = 0; t < d; t += 32) {
        for (int q = 0; q < 4; q++) {
            const int left = d - t - 8 * q;
            if (left <= 0) break;
            __m256 ra, rb;
            if (left >= 8) { /* plain loads: AMD's masked loads are slow */
                ra = _mm256_loadu_ps(a + t + 8 * q), rb = _mm256_loadu_ps(b + t + 8 * q);
            } else {
                const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(left), lane);
                ra = _mm256_maskload_ps(a + t + 8 * q, mask), rb = _mm256_maskload_ps(b + t + 8 * q, mask);
            }
            const __m256 pa = _mm256_mul_ps(ra, va), pb = _mm256_mul_ps(rb, vb);
            acc[q][0] = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(pa)),
                                        _mm256_cvtps_pd(_mm256_castps256_ps128(pb)), acc[q][0]);
            acc[q][1] = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(pa, 1)),
                                        _mm256_cvtps_pd(_mm256_extractf128_ps(pb, 1)), acc[q][1]);
        }
    }
    double l[8];
    for (int h = 0; h < 2; h++)
        _mm256_storeu_pd(l + 4 * h, _mm256_add_pd(_mm256_add_pd(acc[0][h], acc[1][h]),
                                                  _mm256_add_pd(acc[2][h], acc[3][h])));
    return (float)(((l[0] + l[4]) + (l[1] + l[5])) + ((l[2] + l[6]) + (l[3] + l[7])));
}
#endif

/*
 * Lists of one side (rows of x, or one thread's columns of y), each with its screen state. List q bounds
 * the error of its pair with entry o of the other side by alpha[q] * res[o] + beta[q] (screen.py), so an
 * entry with screened value v has a cosine <= w + beta[q] and >= v - alpha[q] res[o] - beta[q], where
 * w = v + alpha[q] res[o] rounded once (the scan's fused multiply-add; screen.py's slack covers that
 * rounding). Thresholds, buffered values and floors are kept on w.
 */
typedef struct {
    float *es;          /* [count][k] exact top-k cosines */
    int64_t *ei;        /* [count][k] their ids on the other side (-1: empty) */
    float *sv;          /* [count][k] the k largest lower bounds of cosines seen, descending */
    float *t;           /* [count] screen threshold on w */
    int32_t *nb;        /* [count] buffered candidates */
    float *bs;          /* [count][cap] their w */
    int32_t *bi;        /* [count][cap] their ids on the other side */
    const float *alpha; /* [count (+32 padding)] */
    const double *beta; /* [count] */
    const float *res;   /* [other side's count (+32 padding)] */
    int cap;
} lists;

typedef struct job_ {
    const float *x, *xinv, *y, *yinv;
    const uint8_t *xb, *yb;    /* packed rows (pack_rows) */
    const float *xscale, *yscale; /* int8, int7: the rows' scales, padded with zeros to a multiple of 32 */
    const int32_t *xoff, *yoff;   /* int7: x's zero points, y's code sums (pack_rows), padded likewise */
    int64_t n, m;
    int d, kp, k, precision;
    int64_t chunk_blocks, panel_blocks; /* 32-row blocks of x per chunk, 32-column blocks of y per panel */
    int64_t row_blocks;                 /* 32-row blocks of x */
    int64_t *next_chunk;                /* shared: the first 32-row block of x no thread has taken yet */
    lists *rows;                        /* shared; this thread touches its own rows only */
    lists cols;                         /* private to this thread */
    const struct job_ *all;             /* every thread's job (for their column thresholds) */
    int threads;
    int64_t scored;                     /* re-scorings done by this thread */
    int64_t *scored_all, limit;         /* shared: re-scorings by all threads, and allowed before giving up */
    int *give_up;
} job;

static int alloc_lists(lists *L, int64_t count, int k, float *es, int64_t *ei, const float *alpha,
                       const double *beta, const float *res) {
    memset(L, 0, sizeof *L);
    L->es = es, L->ei = ei, L->alpha = alpha, L->beta = beta, L->res = res;
    L->cap = 2 * k > MIN_CAP ? 2 * k : MIN_CAP;
    L->sv = malloc((size_t)count * k * sizeof(float));
    L->t = malloc((size_t)(count + 32) * sizeof(float));
    L->nb = calloc((size_t)count, sizeof(int32_t));
    L->bs = malloc((size_t)count * L->cap * sizeof(float));
    L->bi = malloc((size_t)count * L->cap * sizeof(int32_t));
    if (!L->sv || !L->t || !L->nb || !L->bs || !L->bi) return -1;
    for (int64_t q = 0; q < count * k; q++) L->sv[q] = -INFINITY;
    for (int64_t q = 0; q < count + 32; q++) L->t[q] = q < count ? -INFINITY : INFINITY; /* padding: never */
    return 0;
}

/* Thresholds only rise; stored atomically, as other threads read column thresholds (adopt_thresholds). */
static inline void raise_threshold(float *at, float t) {
    if (t > *at) __atomic_store(at, &t, __ATOMIC_RELAXED);
}

static void free_lists(lists *L) { free(L->sv), free(L->t), free(L->nb), free(L->bs), free(L->bi); }

/*
 * Re-score the candidates of list q buffered in L (row q of x when is_row, else column q of y) that are
 * >= floor, and insert them into the exact list (es, ei); returns how many it re-scored.
 * Candidates go in descending w, and once the exact list is full the floor rises to its k-th best - beta,
 * so the first candidate below the floor ends the work. With keep > 0 it also stops once
 * the exact list is full and at most keep candidates >= floor are left, and leaves just those buffered.
 */
static int rescore(const job *J, lists *L, int64_t q, int is_row, float floor, float *es, int64_t *ei, int keep) {
    float *bs = L->bs + q * L->cap;
    int32_t *bi = L->bi + q * L->cap;
    const float *other = is_row ? J->y : J->x;
    const int k = J->k, nb = L->nb[q];
    int order[nb > 0 ? nb : 1], count = 0;
    for (int c = 0; c < nb; c++) {
        if (!(bs[c] >= floor)) continue;
        int p = count++;
        while (p > 0 && bs[order[p - 1]] < bs[c]) order[p] = order[p - 1], p--;
        order[p] = c;
    }
    int r = 0;
    for (; r < count; r++) {
        const int c = order[r];
        while (count > r && !(bs[order[count - 1]] >= floor)) count--; /* the floor rose: drop the tail */
        if (r == count || (keep > 0 && ei[k - 1] >= 0 && count - r <= keep)) break;
        if (r + 1 < count) { /* prefetch the next candidate's row while this one is scored */
            const char *row = (const char *)(other + (int64_t)bi[order[r + 1]] * J->d);
            for (int64_t b = 0; b < (int64_t)J->d * 4; b += 64) _mm_prefetch(row + b, _MM_HINT_T0);
        }
        const int64_t o = bi[c], i = is_row ? q : o, j = is_row ? o : q;
        const float s = cosine(J->x + i * J->d, J->xinv[i], J->y + j * J->d, J->yinv[j], J->d);
        if (insert(es, ei, k, s, o) && ei[k - 1] >= 0) {
            const float t = round_down((double)es[k - 1] - L->beta[q]);
            if (t > floor) floor = t;
        }
    }
    if (keep > 0) { /* leave the candidates not re-scored (order[r..count)) buffered */
        float vs[count > r ? count - r : 1];
        int32_t ids[count > r ? count - r : 1];
        for (int p = r; p < count; p++) vs[p - r] = bs[order[p]], ids[p - r] = bi[order[p]];
        for (int p = r; p < count; p++) bs[p - r] = vs[p - r], bi[p - r] = ids[p - r];
        L->nb[q] = count > r ? count - r : 0;
    }
    return r; /* each pass of the loop re-scored one */
}

/*
 * Re-score list q's buffer into its own exact list (all of it above floor; with keep > 0, until at most keep
 * candidates are left buffered), raise the threshold; -1 once all threads together are past the limit.
 */
static int flush(job *J, lists *L, int64_t q, int is_row, float floor, int keep) {
    const int k = J->k;
    float *es = L->es + q * k;
    int64_t *ei = L->ei + q * k;
    const int scored = rescore(J, L, q, is_row, floor, es, ei, keep);
    J->scored += scored;
    if (scored && __atomic_add_fetch(J->scored_all, scored, __ATOMIC_RELAXED) > J->limit) return -1;
    if (keep == 0) L->nb[q] = 0;
    if (ei[k - 1] >= 0) {
        const float t = round_down((double)es[k - 1] - L->beta[q]);
        raise_threshold(L->t + q, t);
    }
    return 0;
}

/* Entry (q, o) with screened value v and w passed list q's threshold: buffer it and raise the threshold. */
static int add(job *J, lists *L, int64_t q, int is_row, float w, float v, int64_t o) {
    const int k = J->k;
    int32_t *nb = &L->nb[q];
    float *bs = L->bs + q * L->cap;
    int32_t *bi = L->bi + q * L->cap;
    if (*nb == L->cap) { /* drop what the threshold now excludes; re-score when still half full */
        int kept = 0;
        for (int c = 0; c < L->cap; c++)
            if (bs[c] >= L->t[q]) bs[kept] = bs[c], bi[kept] = bi[c], kept++;
        *nb = kept;
        if (kept > L->cap / 2 && flush(J, L, q, is_row, L->t[q], L->cap / 2) < 0) return -1;
    }
    bs[*nb] = w, bi[*nb] = (int32_t)o, (*nb)++;
    float *sv = L->sv + q * k;
    const double low = (double)v - (double)L->alpha[q] * (double)L->res[o] - L->beta[q];
    if (low > sv[k - 1] && keep_largest(sv, k, round_down(low)) && sv[k - 1] > -INFINITY) {
        const float t = round_down((double)sv[k - 1] - L->beta[q]); /* k entries have cosines >= sv[k - 1] */
        raise_threshold(L->t + q, t);
    }
    return 0;
}

/* Entry (i, jj) of a block passed a screen on w: re-test both lists exactly as the vector scan did. */
static inline int hit(job *J, int64_t i, int64_t jj, float v) {
    lists *R = J->rows, *C = &J->cols;
    const float wr = fmaf(R->alpha[i], R->res[jj], v), wc = fmaf(C->alpha[jj], C->res[i], v);
    if (wr >= R->t[i] && add(J, R, i, 1, wr, v, jj) < 0) return -1;
    if (wc >= C->t[jj] && add(J, C, jj, 0, wc, v, i) < 0) return -1;
    return 0;
}

/* One block's per-column screen terms (y's residual norms for the rows' lists, the columns' alpha), in
   registers. The columns' thresholds are read per row: they rise while the block is scanned. */
#if HAVE_AMX
typedef struct {
    __m512 res[2], ca[2];
} block_columns;

static inline block_columns load_columns(const job *J, int64_t j0) {
    block_columns B;
    for (int h = 0; h < 2; h++)
        B.res[h] = _mm512_loadu_ps(J->rows->res + j0 + 16 * h);
    for (int h = 0; h < 2; h++) B.ca[h] = _mm512_loadu_ps(J->cols.alpha + j0 + 16 * h);
    return B;
}

/* Bit j: entry (i, j0 + j) of the block row v passes row i's or column j's screen. */
static inline uint32_t row_hits(const job *J, const block_columns *B, const float *v, int64_t i, int64_t j0) {
    const lists *R = J->rows, *C = &J->cols;
    const __m512 tr = _mm512_set1_ps(R->t[i]), a = _mm512_set1_ps(R->alpha[i]), b = _mm512_set1_ps(C->res[i]);
    uint32_t hits = 0;
    for (int h = 0; h < 2; h++) {
        const __m512 vh = _mm512_load_ps(v + 16 * h), ch = _mm512_loadu_ps(C->t + j0 + 16 * h);
        const __mmask16 pass = _mm512_cmp_ps_mask(_mm512_fmadd_ps(a, B->res[h], vh), tr, _CMP_GE_OQ) |
                               _mm512_cmp_ps_mask(_mm512_fmadd_ps(B->ca[h], b, vh), ch, _CMP_GE_OQ);
        hits |= (uint32_t)pass << (16 * h);
    }
    return hits;
}
#else
typedef struct {
    __m256 res[4], ca[4];
} block_columns;

static inline block_columns load_columns(const job *J, int64_t j0) {
    block_columns B;
    for (int h = 0; h < 4; h++)
        B.res[h] = _mm256_loadu_ps(J->rows->res + j0 + 8 * h);
    for (int h = 0; h < 4; h++) B.ca[h] = _mm256_loadu_ps(J->cols.alpha + j0 + 8 * h);
    return B;
}

static inline uint32_t row_hits(const job *J, const block_columns *B, const float *v, int64_t i, int64_t j0) {
    const lists *R = J->rows, *C = &J->cols;
    const __m256 tr = _mm256_set1_ps(R->t[i]), a = _mm256_set1_ps(R->alpha[i]), b = _mm256_set1_ps(C->res[i]);
    uint32_t hits = 0;
    for (int h = 0; h < 4; h++) {
        const __m256 vh = _mm256_load_ps(v + 8 * h), ch = _mm256_loadu_ps(C->t + j0 + 8 * h);
        const __m256 pass = _mm256_or_ps(_mm256_cmp_ps(_mm256_fmadd_ps(a, B->res[h], vh), tr, _CMP_GE_OQ),
                                         _mm256_cmp_ps(_mm256_fmadd_ps(B->ca[h], b, vh), ch, _CMP_GE_OQ));
        hits |= (uint32_t)_mm256_movemask_ps(pass) << (8 * h);
    }
    return hits;
}
#endif

/* Scan one stored 32 x 32 block (rows i0.., columns j0..); 0, or -1 once the thread must give up. */
static int scan(job *J, const float *blk, int64_t i0, int64_t j0) {
    const int nr = J->n - i0 < 32 ? (int)(J->n - i0) : 32, nc = J->m - j0 < 32 ? (int)(J->m - j0) : 32;
    const uint32_t valid = nc == 32 ? 0xFFFFFFFFu : ((1u << nc) - 1u);
    const block_columns B = load_columns(J, j0);
    for (int r = 0; r < nr; r++) {
        const float *v = blk + r * 32;
        uint32_t hits = row_hits(J, &B, v, i0 + r, j0) & valid;
        while (hits) {
            const int j = __builtin_ctz(hits);
            hits &= hits - 1;
            if (hit(J, i0 + r, j0 + j, v[j]) < 0) return -1;
        }
    }
    return 0;
}

#if HAVE_AMX
/*
 * Start the products of x's 32-row block at a0 with y's 32-column block at b0 (packed, group bytes per 16
 * rows) in tiles 0-3. The tile unit works through them while the core goes on (scanning the last block).
 */
static void start_products(const job *J, const uint8_t *a0, const uint8_t *b0, int64_t group) {
    const uint8_t *a1 = a0 + group, *b1 = b0 + group;
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    if (J->precision == BF16) {
        for (int64_t o = 0; o < group; o += TILE_BYTES) {
            _tile_loadd(4, a0 + o, 64);
            _tile_loadd(5, a1 + o, 64);
            _tile_loadd(6, b0 + o, 64);
            _tile_loadd(7, b1 + o, 64);
            _tile_dpbf16ps(0, 4, 6);
            _tile_dpbf16ps(1, 4, 7);
            _tile_dpbf16ps(2, 5, 6);
            _tile_dpbf16ps(3, 5, 7);
        }
    } else {
        for (int64_t o = 0; o < group; o += TILE_BYTES) {
            _tile_loadd(4, a0 + o, 64);
            _tile_loadd(5, a1 + o, 64);
            _tile_loadd(6, b0 + o, 64);
            _tile_loadd(7, b1 + o, 64);
            _tile_dpbssd(0, 4, 6);
            _tile_dpbssd(1, 4, 7);
            _tile_dpbssd(2, 5, 6);
            _tile_dpbssd(3, 5, 7);
        }
    }
}

/* Store tiles 0-3 as a 32 x 32 block (row-major, 32 values a row). */
static void store_products(float *blk) {
    _tile_stored(0, blk, 128);
    _tile_stored(1, blk + 16, 128);
    _tile_stored(2, blk + 16 * 32, 128);
    _tile_stored(3, blk + 16 * 32 + 16, 128);
}

/* int8: the stored block's exact int32 sums q_x.q_y (|sum| <= 127^2 d < 2^31) to screened values
   scale_x * scale_y * sum, rounded three times; bfloat16: the block already holds them. */
static void to_similarities(const job *J, float *blk, int64_t i0, int64_t j0) {
    if (J->precision == BF16) return;
    const __m512 s0 = _mm512_loadu_ps(J->yscale + j0), s1 = _mm512_loadu_ps(J->yscale + j0 + 16);
    for (int r = 0; r < 32; r++) {
        const __m512 sx = _mm512_set1_ps(J->xscale[i0 + r]);
        float *v = blk + r * 32;
        const __m512 q0 = _mm512_cvtepi32_ps(_mm512_load_si512((const void *)v));
        const __m512 q1 = _mm512_cvtepi32_ps(_mm512_load_si512((const void *)(v + 16)));
        _mm512_store_ps(v, _mm512_mul_ps(q0, _mm512_mul_ps(sx, s0)));
        _mm512_store_ps(v + 16, _mm512_mul_ps(q1, _mm512_mul_ps(sx, s1)));
    }
}

/* Similarities of x's 32-row block xb with y's column blocks [p0, p1), each scanned; -1: give up. */
static int sweep(job *J, int64_t xb, int64_t p0, int64_t p1, int64_t group) {
    float blk[2][32 * 32] __attribute__((aligned(64))); /* the block being scanned; the next one */
    const uint8_t *a0 = J->xb + 2 * xb * group;
    start_products(J, a0, J->yb + 2 * p0 * group, group);
    store_products(blk[0]);
    for (int64_t g = p0; g < p1; g++) { /* block g + 1's products overlap block g's scan */
        float *now = blk[(g - p0) & 1];
        if (g + 1 < p1) start_products(J, a0, J->yb + 2 * (g + 1) * group, group);
        to_similarities(J, now, xb * 32, g * 32);
        if (scan(J, now, xb * 32, g * 32) < 0) return -1;
        if (g + 1 < p1) store_products(blk[(g - p0 + 1) & 1]);
    }
    return 0;
}

static void thread_begin(void) {
    tile_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette_id = 1;
    for (int t = 0; t < 8; t++) cfg.rows[t] = 16, cfg.colsb[t] = 64;
    _tile_loadconfig(&cfg);
}

static void thread_end(void) { _tile_release(); }
#else
/*
 * Exact int32 sums of 4 rows of x (plain layout, from x4: the first row's first tile row) with 16 columns of y
 * (VNNI layout, from y16) over `tiles` tiles of 64 dimensions, into out (4 rows of 32 values). Pairs of
 * 4-dimension units are added in 16 bits before widening (see the int7 bounds at the top).
 */
static inline void products_4x16(const uint8_t *x4, const uint8_t *y16, int64_t tiles, int32_t *out) {
    const __m256i one = _mm256_set1_epi16(1);
    __m256i acc[4][2];
    for (int r = 0; r < 4; r++) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
    for (int64_t t = 0; t < tiles; t++) {
        const uint8_t *xt = x4 + t * TILE_BYTES, *yt = y16 + t * TILE_BYTES;
        for (int u = 0; u < 16; u += 2) {
            const __m256i y0 = _mm256_loadu_si256((const __m256i *)(yt + u * 64));
            const __m256i y1 = _mm256_loadu_si256((const __m256i *)(yt + u * 64 + 32));
            const __m256i z0 = _mm256_loadu_si256((const __m256i *)(yt + u * 64 + 64));
            const __m256i z1 = _mm256_loadu_si256((const __m256i *)(yt + u * 64 + 96));
            for (int r = 0; r < 4; r++) {
                int32_t a, b;
                memcpy(&a, xt + r * 64 + u * 4, 4);
                memcpy(&b, xt + r * 64 + u * 4 + 4, 4);
                const __m256i xa = _mm256_set1_epi32(a), xc = _mm256_set1_epi32(b);
                const __m256i s0 = _mm256_add_epi16(_mm256_maddubs_epi16(xa, y0), _mm256_maddubs_epi16(xc, z0));
                const __m256i s1 = _mm256_add_epi16(_mm256_maddubs_epi16(xa, y1), _mm256_maddubs_epi16(xc, z1));
                acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_madd_epi16(s0, one));
                acc[r][1] = _mm256_add_epi32(acc[r][1], _mm256_madd_epi16(s1, one));
            }
        }
    }
    for (int r = 0; r < 4; r++) {
        _mm256_store_si256((__m256i *)(out + r * 32), acc[r][0]);
        _mm256_store_si256((__m256i *)(out + r * 32 + 8), acc[r][1]);
    }
}

/* products_4x16 for int16 codes: each 4-byte unit is 2 dimensions, multiplied and added by vpmaddwd. */
static inline void products_4x16_int16(const uint8_t *x4, const uint8_t *y16, int64_t tiles, int32_t *out) {
    __m256i acc[4][2];
    for (int r = 0; r < 4; r++) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
    for (int64_t t = 0; t < tiles; t++) {
        const uint8_t *xt = x4 + t * TILE_BYTES, *yt = y16 + t * TILE_BYTES;
        for (int u = 0; u < 16; u++) {
            const __m256i y0 = _mm256_loadu_si256((const __m256i *)(yt + u * 64));
            const __m256i y1 = _mm256_loadu_si256((const __m256i *)(yt + u * 64 + 32));
            for (int r = 0; r < 4; r++) {
                int32_t a;
                memcpy(&a, xt + r * 64 + u * 4, 4);
                const __m256i xa = _mm256_set1_epi32(a);
                acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_madd_epi16(xa, y0));
                acc[r][1] = _mm256_add_epi32(acc[r][1], _mm256_madd_epi16(xa, y1));
            }
        }
    }
    for (int r = 0; r < 4; r++) {
        _mm256_store_si256((__m256i *)(out + r * 32), acc[r][0]);
        _mm256_store_si256((__m256i *)(out + r * 32 + 8), acc[r][1]);
    }
}

/* Exact int32 sums (32 x 32, row-major) of x's 32-row block at a0 with y's 32-column block at b0, packed as
   int7 or int16 (group bytes per 16 rows). */
static void block_sums(int precision, const uint8_t *a0, const uint8_t *b0, int64_t group, int32_t *sums) {
    const int64_t tiles = group / TILE_BYTES;
    for (int r0 = 0; r0 < 32; r0 += 4) /* y's 32 columns (2 x 12 KiB at d = 768) stay in L1 across x's rows */
        for (int h = 0; h < 2; h++) {
            const uint8_t *x4 = a0 + (r0 / 16) * group + (r0 % 16) * 64, *y16 = b0 + h * group;
            if (precision == INT7) products_4x16(x4, y16, tiles, sums + r0 * 32 + h * 16);
            else products_4x16_int16(x4, y16, tiles, sums + r0 * 32 + h * 16);
        }
}

/* Screened values of x's 32-row block at a0 with y's 32-column block at b0 (rows i0.., columns j0..) into
   blk: exact sums S, then (int7: S - z R, int16: S) as an exact int32, then times scale_x * scale_y (three
   roundings). */
static void block_products(const job *J, const uint8_t *a0, const uint8_t *b0, int64_t group, float *blk,
                           int64_t i0, int64_t j0) {
    int32_t *sums = (int32_t *)blk;
    block_sums(J->precision, a0, b0, group, sums);
    __m256 sy[4];
    __m256i sums_y[4];
    for (int h = 0; h < 4; h++) {
        sy[h] = _mm256_loadu_ps(J->yscale + j0 + 8 * h);
        sums_y[h] = _mm256_loadu_si256((const __m256i *)(J->yoff + j0 + 8 * h));
    }
    for (int r = 0; r < 32; r++) {
        const __m256 sx = _mm256_set1_ps(J->xscale[i0 + r]);
        const __m256i z = _mm256_set1_epi32(J->xoff[i0 + r]);
        for (int h = 0; h < 4; h++) {
            const __m256i q = _mm256_sub_epi32(_mm256_load_si256((const __m256i *)(sums + r * 32 + 8 * h)),
                                               _mm256_mullo_epi32(z, sums_y[h]));
            _mm256_store_ps(blk + r * 32 + 8 * h, _mm256_mul_ps(_mm256_cvtepi32_ps(q), _mm256_mul_ps(sx, sy[h])));
        }
    }
}

/* Similarities of x's 32-row block xb with y's column blocks [p0, p1), each scanned; -1: give up. */
static int sweep(job *J, int64_t xb, int64_t p0, int64_t p1, int64_t group) {
    float blk[32 * 32] __attribute__((aligned(64)));
    const uint8_t *a0 = J->xb + 2 * xb * group;
    for (int64_t g = p0; g < p1; g++) {
        block_products(J, a0, J->yb + 2 * g * group, group, blk, xb * 32, g * 32);
        if (scan(J, blk, xb * 32, g * 32) < 0) return -1;
    }
    return 0;
}

static void thread_begin(void) {}
static void thread_end(void) {}
#endif

/*
 * Raise this thread's column thresholds in [j0, j1) to the other threads' where higher: a threshold only
 * excludes entries that k others provably beat, so it holds for every thread's part of the column. The
 * others may be writing them; a stale value is just lower.
 */
static void adopt_thresholds(job *J, int64_t j0, int64_t j1) {
    for (int w = 0; w < J->threads; w++) {
        const float *theirs = J->all[w].cols.t;
        if (theirs == J->cols.t) continue;
        for (int64_t j = j0; j < j1; j++) {
            float t;
            __atomic_load(&theirs[j], &t, __ATOMIC_RELAXED);
            raise_threshold(J->cols.t + j, t);
        }
    }
}

static void *work(void *arg) {
    job *J = arg;
    thread_begin();
    const int64_t group = (int64_t)J->kp * 16 * code_bytes(J->precision);
    const int64_t col_blocks = (J->m + 31) / 32;
    /* chunks of x go to whichever thread is free: cores of a shared machine can run at different speeds */
    for (int64_t c0; (c0 = __atomic_fetch_add(J->next_chunk, J->chunk_blocks, __ATOMIC_RELAXED)) < J->row_blocks;) {
        const int64_t c1 = c0 + J->chunk_blocks < J->row_blocks ? c0 + J->chunk_blocks : J->row_blocks;
        for (int64_t p0 = 0; p0 < col_blocks; p0 += J->panel_blocks) {
            const int64_t p1 = p0 + J->panel_blocks < col_blocks ? p0 + J->panel_blocks : col_blocks;
            adopt_thresholds(J, p0 * 32, p1 * 32 < J->m ? p1 * 32 : J->m);
            for (int64_t xb = c0; xb < c1; xb++) {
                if (sweep(J, xb, p0, p1, group) < 0) goto give_up;
                if (__atomic_load_n(J->give_up, __ATOMIC_RELAXED)) goto done;
            }
        }
        /* the chunk's rows have seen every column, so their thresholds are final: re-score what is still
           above them while their rows are in cache (columns: finish_columns) */
        for (int64_t i = c0 * 32; i < c1 * 32 && i < J->n; i++)
            if (flush(J, J->rows, i, 1, J->rows->t[i], 0) < 0) goto give_up;
    }
    goto done;
give_up:
    __atomic_store_n(J->give_up, 1, __ATOMIC_RELAXED);
done:
    thread_end();
    return NULL;
}

/* Columns after every thread's sweep, in runs of COLUMN_RUN taken by whichever thread is free. */
#define COLUMN_RUN 256
typedef struct {
    job *jobs;
    int threads;
    int64_t *next; /* shared: the first column no thread has taken yet */
    float *out_s;
    int64_t *out_i;
    int64_t scored;
} column_merge;

/* Column j: merge the threads' lists, then re-score above the merged threshold (no limit: the end). */
static void finish_column(column_merge *F, int64_t j) {
    job *J = &F->jobs[0];
    const int k = J->k;
    float *es = F->out_s + j * k, best[64];
    int64_t *ei = F->out_i + j * k;
    float t = -INFINITY;
    for (int q = 0; q < k; q++) best[q] = -INFINITY;
    for (int w = 0; w < F->threads; w++) {
        const lists *C = &F->jobs[w].cols;
        for (int q = 0; q < k; q++) {
            if (C->ei[j * k + q] >= 0) insert(es, ei, k, C->es[j * k + q], C->ei[j * k + q]);
            keep_largest(best, k, C->sv[j * k + q]); /* the k largest lower bounds over all threads */
        }
        if (C->t[j] > t) t = C->t[j];
    }
    const double beta = J->cols.beta[j];
    if (best[k - 1] > -INFINITY) t = fmaxf(t, round_down((double)best[k - 1] - beta));
    for (int w = 0; w < F->threads; w++) {
        if (ei[k - 1] >= 0) t = fmaxf(t, round_down((double)es[k - 1] - beta));
        F->scored += rescore(J, &F->jobs[w].cols, j, 0, t, es, ei, 0);
    }
}

static void *finish_columns(void *arg) {
    column_merge *F = arg;
    const int64_t m = F->jobs[0].m;
    for (int64_t j0; (j0 = __atomic_fetch_add(F->next, COLUMN_RUN, __ATOMIC_RELAXED)) < m;)
        for (int64_t j = j0; j < j0 + COLUMN_RUN && j < m; j++) finish_column(F, j);
    return NULL;
}

/* Run fn on each of count argument records (size bytes apart), one thread each; the caller runs the first. */
static void run_parallel(void *(*fn)(void *), void *args, size_t size, int count) {
    pthread_t tid[count];
    int started[count];
    for (int t = 1; t < count; t++) started[t] = pthread_create(&tid[t], NULL, fn, (char *)args + t * size) == 0;
    fn(args);
    for (int t = 1; t < count; t++) {
        if (started[t]) pthread_join(tid[t], NULL);
        else fn((char *)args + t * size);
    }
}

#if HAVE_AVX2
#include <time.h>

typedef struct {
    int precision;
    int64_t reps;
    volatile int32_t sink;
} probe_job;

/* One thread of probe_products: a 32 x 32 block at d = 768 (cache-resident), multiplied reps times. */
static void *probe_work(void *arg) {
    probe_job *P = arg;
    enum { D = 768 };
    const int64_t group = (int64_t)D * 16 * code_bytes(P->precision);
    uint8_t *x = aligned_alloc(64, (size_t)(2 * group)), *y = aligned_alloc(64, (size_t)(2 * group));
    int32_t *out = aligned_alloc(64, 32 * 32 * sizeof(int32_t));
    if (!x || !y || !out) abort();
    for (int64_t b = 0; b < 2 * group; b++) x[b] = (uint8_t)(b % 7), y[b] = (uint8_t)(b % 5);
    for (int64_t rep = 0; rep < P->reps; rep++) block_sums(P->precision, x, y, group, out);
    P->sink = out[0];
    free(x), free(y), free(out);
    return NULL;
}

/*
 * Multiply-adds per second (all threads, wall clock) of the int7 or int16 products on cache-resident data:
 * what a pass over a similarity matrix can reach at best on this CPU (bench/retrieval.py prints the bound
 * it implies). -1 for another precision.
 */
double probe_products(int precision, int threads, int64_t reps) {
    if ((precision != INT7 && precision != INT16) || threads < 1 || threads > 256 || reps < 1) return -1.0;
    probe_job jobs[256];
    for (int t = 0; t < threads; t++) jobs[t].precision = precision, jobs[t].reps = reps, jobs[t].sink = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    run_parallel(probe_work, jobs, sizeof(probe_job), threads);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    const double seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    return (double)threads * (double)reps * 32.0 * 32.0 * 768.0 / seconds;
}
#endif

/*
 * Top-k both ways. xb, yb: packed by pack_rows with `precision` (x plain, y VNNI), xscale, yscale and
 * xoff, yoff its scales and offsets; xalpha, xbeta / yalpha, ybeta: the
 * error bound's terms for the lists of x's rows / y's rows, xres / yres: the rows' residual norms, rounded
 * up to float32 (alpha and res padded with 32 zeros); x2y_s/x2y_i [n][k], y2x_s/y2x_i [m][k]: output lists,
 * filled with (-inf, -1) by the caller.
 * chunk, panel: rows of x per chunk and columns of y per panel (rounded down to multiples of 32).
 * limit: re-scorings allowed per row and column of the inputs, on average. Returns the number of re-scorings, -1
 * when it gave up, -2 when this build cannot (no AMX permission, a precision of the other backend, int32
 * sums that could overflow, no memory). n and m must be below 2^31.
 */
int64_t knn_screen(const float *x, const float *xinv, int64_t n, const float *y, const float *yinv, int64_t m, int d,
                   const uint8_t *xb, const uint8_t *yb, int precision, const float *xscale, const float *yscale,
                   const int32_t *xoff, const int32_t *yoff, const float *xalpha, const double *xbeta,
                   const float *xres, const float *yalpha, const double *ybeta, const float *yres, int k,
                   float *x2y_s, int64_t *x2y_i, float *y2x_s, int64_t *y2x_i, int64_t chunk, int64_t panel,
                   int threads, int64_t limit) {
    const int built = HAVE_AMX ? (precision == BF16 || precision == INT8) : (precision == INT7 || precision == INT16);
    const int64_t largest = precision == INT8 ? 127 * 127 : 127 * 63; /* |code product| (int16: by its levels) */
    if (!screen_isa() || !built || k < 1 || threads < 1 || n < 1 || m < 1 || n >= INT32_MAX || m >= INT32_MAX ||
        ((precision == INT8 || precision == INT7) && (int64_t)d * largest >= INT32_MAX))
        return -2;
    const int64_t row_blocks = (n + 31) / 32;
    if (threads > row_blocks) threads = (int)row_blocks;
    job *jobs = calloc((size_t)threads, sizeof(job));
    column_merge *merge = NULL;
    float **col_s = calloc((size_t)threads, sizeof(float *));
    int64_t **col_i = calloc((size_t)threads, sizeof(int64_t *));
    lists rows;
    int give_up = 0;
    int64_t total = -2, next_chunk = 0, next_column = 0, scored_all = 0;
    memset(&rows, 0, sizeof rows);
    if (!jobs || !col_s || !col_i || alloc_lists(&rows, n, k, x2y_s, x2y_i, xalpha, xbeta, yres) < 0) goto out;
    for (int t = 0; t < threads; t++) {
        job *J = &jobs[t];
        J->x = x, J->xinv = xinv, J->y = y, J->yinv = yinv, J->xb = xb, J->yb = yb;
        J->xscale = xscale, J->yscale = yscale, J->xoff = xoff, J->yoff = yoff, J->precision = precision;
        J->n = n, J->m = m, J->d = d, J->k = k;
        J->kp = precision == INT8 || precision == INT7 ? (d + 63) / 64 * 64 : (d + 31) / 32 * 32;
        J->chunk_blocks = chunk / 32 > 0 ? chunk / 32 : 1;
        J->panel_blocks = panel / 32 > 0 ? panel / 32 : 1;
        J->row_blocks = row_blocks, J->next_chunk = &next_chunk;
        J->scored_all = &scored_all, J->limit = limit * (n + m);
        J->give_up = &give_up;
        J->all = jobs, J->threads = threads;
        J->rows = &rows;
        col_s[t] = malloc((size_t)m * k * sizeof(float));
        col_i[t] = malloc((size_t)m * k * sizeof(int64_t));
        if (!col_s[t] || !col_i[t]) goto out;
        if (alloc_lists(&J->cols, m, k, col_s[t], col_i[t], yalpha, ybeta, xres) < 0) goto out;
        for (int64_t q = 0; q < m * k; q++) col_s[t][q] = -INFINITY, col_i[t][q] = -1;
    }
    run_parallel(work, jobs, sizeof(job), threads);
    if (give_up) {
        total = -1;
        goto out;
    }
    if (!(merge = calloc((size_t)threads, sizeof(column_merge)))) goto out;
    for (int t = 0; t < threads; t++) {
        column_merge *F = &merge[t];
        F->jobs = jobs, F->threads = threads, F->out_s = y2x_s, F->out_i = y2x_i;
        F->next = &next_column;
    }
    run_parallel(finish_columns, merge, sizeof(column_merge), threads);
    total = 0;
    for (int t = 0; t < threads; t++) total += jobs[t].scored + merge[t].scored;
out:
    for (int t = 0; jobs && t < threads; t++) free_lists(&jobs[t].cols);
    for (int t = 0; col_s && t < threads; t++) free(col_s[t]);
    for (int t = 0; col_i && t < threads; t++) free(col_i[t]);
    free_lists(&rows);
    free(jobs), free(merge), free(col_s), free(col_i);
    return total;
}

#else

int screen_isa(void) { return 0; }

int64_t knn_screen(const float *x, const float *xinv, int64_t n, const float *y, const float *yinv, int64_t m, int d,
                   const uint8_t *xb, const uint8_t *yb, int precision, const float *xscale, const float *yscale,
                   const int32_t *xoff, const int32_t *yoff, const float *xalpha, const double *xbeta,
                   const float *xres, const float *yalpha, const double *ybeta, const float *yres, int k,
                   float *x2y_s, int64_t *x2y_i, float *y2x_s, int64_t *y2x_i, int64_t chunk, int64_t panel,
                   int threads, int64_t limit) {
    (void)x, (void)xinv, (void)n, (void)y, (void)yinv, (void)m, (void)d, (void)xb, (void)yb, (void)precision;
    (void)xscale, (void)yscale, (void)xoff, (void)yoff, (void)xalpha, (void)xbeta, (void)xres, (void)yalpha;
    (void)ybeta, (void)yres, (void)k, (void)x2y_s, (void)x2y_i, (void)y2x_s, (void)y2x_i, (void)chunk, (void)panel;
    (void)threads, (void)limit;
    return -2;
}

#endif

#if !HAVE_AVX2
double probe_products(int precision, int threads, int64_t reps) { /* AVX2 builds only */
    (void)precision, (void)threads, (void)reps;
    return -1.0;
}
#endif
