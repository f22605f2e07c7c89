/* mfcore/topk_bf16.h: exact float32 top-N with a bfloat16 screening pass (AVX-512 BF16).

   What it computes (for one user u of a batch and the items of a range):
       s[u, i] = fl32( sum_k (double)U[u, k] * (double)V[i, k] + bias_weight * (double)b[i] )
   i.e. the float32 rounding of the score computed in double precision, and the N best
   items by (s descending, item id ascending) among the items that are not excluded
   (seen items of the user, item_mask == 0). NumPy twin of the result:
       S = (U.astype(f64) @ V.astype(f64).T + w * b.astype(f64)).astype(f32)
       per user: lexsort by (-S, item id) over the candidates, first N.

   How: the scores are first *screened* with AVX-512 BF16 dot products (vdpbf16ps, twice
   the multiply-adds per instruction of float32 FMA): u and v rounded to bfloat16, products
   accumulated in float32. Every screened score t carries a rigorous error bound
       |t - s| <= e = a_u * n_i + d_i,
       a_u = c1 * ||u||,  n_i = ||v_i||,  d_i = c2 * |w b_i| + A
   (c1 = 2^-7 + 2^-16 + gamma_K * 1.01 + 8 * 2^-24: bfloat16 rounding of both factors
   (2^-8 relative each), float32 accumulation over K terms (gamma_K = K 2^-24 / (1 - K 2^-24))
   and the few float32 roundings of the screening arithmetic; c2 = 2^-20; A an absolute
   term for values flushed to zero (denormals), ~2^-120). Per user the kernel keeps the N
   largest lower bounds t - e seen so far (a min-heap; its root is lambda) and admits as a
   candidate every item whose upper bound t + e >= lambda. Since N items have s >= lambda,
   the N-th best exact score is >= lambda, so every item of the exact top N (ties included)
   has an upper bound >= lambda at the time it is visited: the candidates are a superset of
   the answer. The candidates (typically a few dozen per user) are then rescored exactly
   (double sums of the float32 inputs) and the N best picked by (score, id).
   A user whose candidate list overflows (adversarial near-ties: e.g. every item with the
   same score) is rescored exactly over all items of the range instead.

   Pruning: the packed items are ordered by decreasing bound w b_i + t ||v_i|| for a typical
   user norm t (mfcore._topk.pack_items), and the users of a block by decreasing norm. Before
   a micro-tile (12 users x 32 items, or 1 user x 64 items) is computed, its bound
   max_i (w b_i + max_u ||u|| ||v_i||) (Cauchy-Schwarz, with the roundings) is compared with
   the smallest lambda of its users: when below, no item of the tile can enter any of the
   lists and the tile is skipped. Only speed depends on the order; the result does not.
   On ALS factors of the 32M-shaped data about 15% (K=64) / 9% (K=13) of the tiles remain.

   Layout of the packed items ("VNNI" layout, built once per item matrix by
   mfc_tk_pack_items): items in blocks of 16 (a 64-byte vector of float32 lanes); for
   block vb and factor pair p the 16 items' (v[2p], v[2p+1]) bfloat16 pairs are 64
   contiguous bytes at ((vb * P + p) * 16) * 2 uint16s, P = ceil(K / 2) (odd K padded with 0).
   The block count is padded to a multiple of 4 (padding items: zero vectors, offset NaN).

   Dispatch: only with the AVX-512 build level (mfc_level() == MFC_LEVEL_AVX512, so
   MFCORE_SIMD=avx2/baseline turns it off) on a CPU with AVX512_BF16; the caller falls back
   to the float32 gemm path otherwise (and for float64, the portable build, N > MFC_TK_MAX_N). */
#ifndef MFCORE_TOPK_BF16_H
#define MFCORE_TOPK_BF16_H

#include "simd.h"
#include <stdlib.h>

#if MFC_X86 && (defined(__clang__) || (__GNUC__ >= 10))
#define MFC_HAVE_BF16 1
#include <immintrin.h>
#define MFC_TARGET_BF16 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx512bf16,avx2,fma")))
#else
#define MFC_HAVE_BF16 0
#endif

#define MFC_TK_MAX_N 256   /* longest list the bf16 path serves */
#define MFC_TK_ROWS 12     /* users per micro-tile (x 32 items) */

/* Testing/benchmark switch (the module's _bf16_screening hook): 0 turns the path off. */
static int mfc_tk_bf16_on = 1;

/* 1 if the bf16 screening path can run here and now. */
static int mfc_tk_bf16_available(void) {
#if MFC_HAVE_BF16
    if (!mfc_tk_bf16_on || mfc_level() < MFC_LEVEL_AVX512)
        return 0;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bf16") ? 1 : 0;
#else
    return 0;
#endif
}

/* float32 -> bfloat16, round to nearest even; zero and subnormals -> signed zero
   (the dot-product instruction treats bfloat16 denormals as zero anyway). Finite input. */
static inline uint16_t mfc_to_bf16(float x) {
    uint32_t b;
    memcpy(&b, &x, sizeof b);
    if ((b & 0x7f800000u) == 0)
        return (uint16_t)((b >> 16) & 0x8000u);
    b += 0x7fffu + ((b >> 16) & 1u);
    return (uint16_t)(b >> 16);
}

/* Pack V (n_items x K float32, row-major) into `out` (nvb * P * 32 uint16, nvb a multiple
   of 4 >= ceil(n_items / 16)), item order[pos] at position pos (a permutation of the ids),
   and write the item norms (rounded up) into nrm (nvb * 16, by position; 0 for padding).
   Returns 0, or -1 if a value rounds to an infinite bfloat16. */
static int mfc_tk_pack_items(const float *V, int n_items, int K, int nvb, const int32_t *order,
                             uint16_t *out, float *nrm) {
    int P = (K + 1) / 2;
    for (int vb = 0; vb < nvb; vb++) {
        for (int l = 0; l < 16; l++) {
            int pos = vb * 16 + l;
            int i = pos < n_items ? order[pos] : n_items;
            double ss = 0.0;
            for (int p = 0; p < P; p++) {
                uint16_t lo = 0, hi = 0;
                if (i < n_items) {
                    lo = mfc_to_bf16(V[(size_t)i * K + 2 * p]);
                    if (2 * p + 1 < K)
                        hi = mfc_to_bf16(V[(size_t)i * K + 2 * p + 1]);
                    if ((lo & 0x7f80u) == 0x7f80u || (hi & 0x7f80u) == 0x7f80u)
                        return -1;
                }
                out[(((size_t)vb * P + p) * 16 + l) * 2] = lo;
                out[(((size_t)vb * P + p) * 16 + l) * 2 + 1] = hi;
            }
            if (i < n_items)
                for (int k = 0; k < K; k++)
                    ss += (double)V[(size_t)i * K + k] * V[(size_t)i * K + k];
            nrm[(size_t)vb * 16 + l] = (float)(sqrt(ss) * (1.0 + 1e-6));
        }
    }
    return 0;
}

/* The error-bound constants for K factors (see the top of the file). */
static inline double mfc_tk_c1(int K) {
    double u = 5.9604644775390625e-08; /* 2^-24 */
    int Kp = 2 * ((K + 1) / 2);
    double gamma = Kp * u / (1.0 - Kp * u);
    return (0.0078125 + 1.52587890625e-05 + gamma * 1.01 + 8.0 * u) * 1.0001;
}
#define MFC_TK_C2 9.5367431640625e-07 /* 2^-20 */

/* Read-only description of the items for one call. */
typedef struct {
    const uint16_t *vp;   /* packed bfloat16 items (see above) */
    const float *nrm;     /* nvb*16 item norms        (all per-item arrays by position) */
    const float *o;       /* nvb*16: fl32(w b_i), NaN if excluded by item_mask or padding */
    const float *d;       /* nvb*16: c2 |w b_i| + A */
    const float *od;      /* nvb*16: fl32(o + d) */
    const float *V;       /* the float32 items, n_items x K */
    const int32_t *order; /* position -> item id (positions >= n_items: padding) */
    const float *bias;    /* n_items or NULL (no bias term) */
    double w;             /* bias weight */
    int n_items, K, P, nvb;
} mfc_tk_items;

/* One thread's state for a block of up to B users. */
typedef struct {
    int B, N, C;
    float *thr;      /* B: lambda, the admission threshold on upper bounds */
    float *lbh;      /* B*N: min-heaps of lower bounds */
    int *hcnt;       /* B */
    int32_t *cid;    /* B*C: candidate ids */
    float *cub;      /* B*C: their upper bounds */
    int *ccnt;       /* B: candidates held; -1 = overflowed (exact rescan) */
    float *ua;       /* B: a_u */
    float *un;       /* B: ||u|| (rounded up) */
    uint32_t *ubf;   /* ceil(B/12)*12 * P: users' bfloat16 pairs */
    float *tmp;      /* 16 */
    double *sc;      /* C: exact candidate scores */
} mfc_tk_scratch;

static void mfc_tk_scratch_free(mfc_tk_scratch *s) {
    if (s == NULL)
        return;
    free(s->thr); free(s->lbh); free(s->hcnt); free(s->cid); free(s->cub); free(s->ccnt);
    free(s->ua); free(s->un); free(s->ubf); free(s->tmp); free(s->sc);
    free(s);
}

static mfc_tk_scratch *mfc_tk_scratch_new(int B, int N, int P) {
    mfc_tk_scratch *s = (mfc_tk_scratch *)calloc(1, sizeof(mfc_tk_scratch));
    int rows = ((B + MFC_TK_ROWS - 1) / MFC_TK_ROWS) * MFC_TK_ROWS;
    if (s == NULL)
        return NULL;
    s->B = B;
    s->N = N;
    s->C = 8 * N > 128 ? 8 * N : 128;
    s->thr = (float *)malloc((size_t)rows * sizeof(float));
    s->lbh = (float *)malloc((size_t)B * N * sizeof(float));
    s->hcnt = (int *)malloc((size_t)B * sizeof(int));
    s->cid = (int32_t *)malloc((size_t)B * s->C * sizeof(int32_t));
    s->cub = (float *)malloc((size_t)B * s->C * sizeof(float));
    s->ccnt = (int *)malloc((size_t)B * sizeof(int));
    s->ua = (float *)malloc((size_t)rows * sizeof(float));
    s->un = (float *)malloc((size_t)rows * sizeof(float));
    s->ubf = (uint32_t *)calloc((size_t)rows * (P > 0 ? P : 1), sizeof(uint32_t));
    s->tmp = (float *)malloc(16 * sizeof(float));
    s->sc = (double *)malloc((size_t)s->C * sizeof(double));
    if (!s->thr || !s->lbh || !s->hcnt || !s->cid || !s->cub || !s->ccnt || !s->ua || !s->un
        || !s->ubf || !s->tmp || !s->sc) {
        mfc_tk_scratch_free(s);
        return NULL;
    }
    return s;
}

/* Exact score of user row u (float32, K) with item i: double sum, rounded to float32. */
static inline float mfc_tk_exact(const mfc_tk_items *it, const float *u, int32_t i) {
    const float *v = it->V + (size_t)i * it->K;
    double acc = 0.0;
    for (int k = 0; k < it->K; k++)
        acc += (double)u[k] * (double)v[k];
    if (it->bias != NULL)
        acc += it->w * (double)it->bias[i];
    return (float)acc;
}

/* (sa, ia) ranks below (sb, ib). */
static inline int mfc_tk_worse(float sa, int32_t ia, float sb, int32_t ib) {
    return sa < sb || (sa == sb && ia > ib);
}

/* Insert (s, i) into the best-first list ids/sc of *n entries (capacity N) if it belongs. */
static inline void mfc_tk_list_insert(int32_t *ids, float *sc, int *n, int N, float s, int32_t i) {
    int p = *n;
    if (p == N) {
        if (!mfc_tk_worse(sc[N - 1], ids[N - 1], s, i))
            return;
        p = N - 1;
    } else {
        (*n)++;
    }
    while (p > 0 && mfc_tk_worse(sc[p - 1], ids[p - 1], s, i)) {
        sc[p] = sc[p - 1];
        ids[p] = ids[p - 1];
        p--;
    }
    sc[p] = s;
    ids[p] = i;
}

/* 1 if i is in the sorted list seen[0 .. n). */
static inline int mfc_tk_is_seen(const int32_t *seen, int n, int32_t i) {
    int lo = 0, hi = n;
    while (lo < hi) {
        int mid = (lo + hi) >> 1;
        if (seen[mid] < i)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && seen[lo] == i;
}

/* Slow path: item i passed user bu's screen (upper bound ub, screened score t, bound e). */
static void mfc_tk_admit(mfc_tk_scratch *s, int bu, int32_t i, float t, float e, float ub,
                         const int32_t *seen, int seen_end) {
    int c = s->ccnt[bu], N = s->N, n, pos, child;
    float lb, x, *h;
    if (c < 0)
        return;
    if (seen != NULL && mfc_tk_is_seen(seen, seen_end, i))
        return;
    if (c == s->C) {  /* compact: drop candidates that can no longer make the list */
        float th = s->thr[bu];
        int32_t *ci = s->cid + (size_t)bu * s->C;
        float *cu = s->cub + (size_t)bu * s->C;
        int k = 0;
        for (int j = 0; j < c; j++) {
            if (cu[j] >= th) {
                ci[k] = ci[j];
                cu[k] = cu[j];
                k++;
            }
        }
        if (k > s->C / 2) {  /* too many near-ties: exact rescan of this user */
            s->ccnt[bu] = -1;
            s->thr[bu] = INFINITY;
            return;
        }
        c = k;
    }
    s->cid[(size_t)bu * s->C + c] = i;
    s->cub[(size_t)bu * s->C + c] = ub;
    s->ccnt[bu] = c + 1;
    lb = t - e;
    h = s->lbh + (size_t)bu * N;
    n = s->hcnt[bu];
    if (n < N) {  /* push */
        pos = n;
        while (pos > 0 && lb < h[(pos - 1) / 2]) {
            h[pos] = h[(pos - 1) / 2];
            pos = (pos - 1) / 2;
        }
        h[pos] = lb;
        s->hcnt[bu] = n + 1;
        if (n + 1 == N)
            s->thr[bu] = h[0];
    } else if (lb > h[0]) {  /* replace the root, sift down */
        pos = 0;
        for (;;) {
            child = 2 * pos + 1;
            if (child >= N)
                break;
            if (child + 1 < N && h[child + 1] < h[child])
                child++;
            x = h[child];
            if (x < lb) {
                h[pos] = x;
                pos = child;
            } else {
                break;
            }
        }
        h[pos] = lb;
        s->thr[bu] = h[0];
    }
}

#if MFC_HAVE_BF16
/* Screen the 16 lanes of one vector of screened dot products for block user bu. */
#define MFC_TK_SCREEN(ACC, ITEM0, BU)                                                          \
    do {                                                                                       \
        __m512 x_ = _mm512_fmadd_ps(_mm512_set1_ps(s->ua[BU]), _mm512_loadu_ps(it->nrm + (ITEM0)), \
                                    _mm512_add_ps((ACC), _mm512_loadu_ps(it->od + (ITEM0))));  \
        __mmask16 m_ = _mm512_cmp_ps_mask(x_, _mm512_set1_ps(s->thr[BU]), _CMP_GE_OQ);         \
        if (m_) {                                                                              \
            float ubv_[16];                                                                    \
            _mm512_storeu_ps(s->tmp, (ACC));                                                   \
            _mm512_storeu_ps(ubv_, x_);                                                        \
            while (m_) {                                                                       \
                int l_ = __builtin_ctz((unsigned)m_);                                          \
                int32_t q_ = (int32_t)((ITEM0) + l_);                                          \
                m_ &= (__mmask16)(m_ - 1);                                                     \
                mfc_tk_admit(s, (BU), it->order[q_], s->tmp[l_] + it->o[q_],                   \
                             s->ua[BU] * it->nrm[q_] + it->d[q_], ubv_[l_],                    \
                             seen ? seen + seen_lo[BU] : NULL, seen ? seen_hi[BU] - seen_lo[BU] : 0); \
            }                                                                                  \
        }                                                                                      \
    } while (0)

/* 1 if no item of blocks vb .. vb+nv-1 can enter the list of any block user r0 .. r0+nrow-1:
   every score s <= w b + ||u|| ||v|| (Cauchy-Schwarz) and od + t * nrm bounds that from
   above with the roundings (od includes d >= 2^-20 |w b|, nrm is rounded up), t the
   largest user norm (s->un); lambda <= the N-th best exact score, so s < lambda excludes
   the item, ties included. Excluded items (od NaN) are left out of the max. */
MFC_TARGET_BF16 static inline int mfc_tk_skip(const mfc_tk_items *it, mfc_tk_scratch *s, int r0, int nrow,
                                              int vb, int nv) {
    float t = 0.0f, lam = INFINITY;
    for (int r = r0; r < r0 + nrow; r++) {
        if (s->un[r] > t)
            t = s->un[r];
        if (s->thr[r] < lam)
            lam = s->thr[r];
    }
    if (!(lam > -INFINITY))
        return 0;
    __m512 tv = _mm512_set1_ps(t), mx = _mm512_set1_ps(-INFINITY);
    for (int j = 0; j < nv; j++) {
        size_t q = (size_t)(vb + j) * 16;
        __m512 x = _mm512_fmadd_ps(tv, _mm512_loadu_ps(it->nrm + q), _mm512_loadu_ps(it->od + q));
        mx = _mm512_max_ps(x, mx);  /* x NaN -> mx kept (MAXPS returns the second operand) */
    }
    return _mm512_reduce_max_ps(mx) < lam;
}

/* 12 users (rows r0.. of the block, nrow <= 12 real) x 32 items (blocks vb, vb + 1). */
MFC_TARGET_BF16 static void mfc_tk_tile12(const mfc_tk_items *it, mfc_tk_scratch *s, int r0, int nrow,
                                          int vb, const int32_t *seen, const int *seen_lo,
                                          const int *seen_hi) {
    const int P = it->P;
    const uint16_t *v0 = it->vp + (size_t)vb * P * 32;
    const uint16_t *v1 = v0 + (size_t)P * 32;
    const uint32_t *ub = s->ubf + (size_t)r0 * P;
    if (mfc_tk_skip(it, s, r0, nrow, vb, 2))
        return;
    __m512 a00, a01, a10, a11, a20, a21, a30, a31, a40, a41, a50, a51;
    __m512 a60, a61, a70, a71, a80, a81, a90, a91, aA0, aA1, aB0, aB1;
    a00 = a01 = a10 = a11 = a20 = a21 = a30 = a31 = a40 = a41 = a50 = a51 = _mm512_setzero_ps();
    a60 = a61 = a70 = a71 = a80 = a81 = a90 = a91 = aA0 = aA1 = aB0 = aB1 = _mm512_setzero_ps();
    for (int p = 0; p < P; p++) {
        __m512bh x0 = (__m512bh)_mm512_loadu_si512((const void *)(v0 + (size_t)p * 32));
        __m512bh x1 = (__m512bh)_mm512_loadu_si512((const void *)(v1 + (size_t)p * 32));
        __m512bh y;
#define MFC_TK_ROW(R, A0, A1)                                              \
        y = (__m512bh)_mm512_set1_epi32((int)ub[(size_t)(R) * P + p]);     \
        A0 = _mm512_dpbf16_ps(A0, x0, y);                                  \
        A1 = _mm512_dpbf16_ps(A1, x1, y);
        MFC_TK_ROW(0, a00, a01) MFC_TK_ROW(1, a10, a11) MFC_TK_ROW(2, a20, a21)
        MFC_TK_ROW(3, a30, a31) MFC_TK_ROW(4, a40, a41) MFC_TK_ROW(5, a50, a51)
        MFC_TK_ROW(6, a60, a61) MFC_TK_ROW(7, a70, a71) MFC_TK_ROW(8, a80, a81)
        MFC_TK_ROW(9, a90, a91) MFC_TK_ROW(10, aA0, aA1) MFC_TK_ROW(11, aB0, aB1)
#undef MFC_TK_ROW
    }
    {
        int i0 = vb * 16, i1 = vb * 16 + 16;
#define MFC_TK_ROWSCREEN(R, A0, A1)                 \
        if ((R) < nrow) {                           \
            MFC_TK_SCREEN(A0, i0, r0 + (R));        \
            MFC_TK_SCREEN(A1, i1, r0 + (R));        \
        }
        MFC_TK_ROWSCREEN(0, a00, a01) MFC_TK_ROWSCREEN(1, a10, a11) MFC_TK_ROWSCREEN(2, a20, a21)
        MFC_TK_ROWSCREEN(3, a30, a31) MFC_TK_ROWSCREEN(4, a40, a41) MFC_TK_ROWSCREEN(5, a50, a51)
        MFC_TK_ROWSCREEN(6, a60, a61) MFC_TK_ROWSCREEN(7, a70, a71) MFC_TK_ROWSCREEN(8, a80, a81)
        MFC_TK_ROWSCREEN(9, a90, a91) MFC_TK_ROWSCREEN(10, aA0, aA1) MFC_TK_ROWSCREEN(11, aB0, aB1)
#undef MFC_TK_ROWSCREEN
    }
}

/* One user (block row r) x 64 items (blocks vb .. vb + 3). */
MFC_TARGET_BF16 static void mfc_tk_tile1(const mfc_tk_items *it, mfc_tk_scratch *s, int r, int vb,
                                         const int32_t *seen, const int *seen_lo, const int *seen_hi) {
    const int P = it->P;
    const size_t stride = (size_t)P * 32;
    const uint16_t *v0 = it->vp + (size_t)vb * stride;
    const uint32_t *ub = s->ubf + (size_t)r * P;
    if (mfc_tk_skip(it, s, r, 1, vb, 4))
        return;
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    __m512 a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
    for (int p = 0; p < P; p++) {
        __m512bh y = (__m512bh)_mm512_set1_epi32((int)ub[p]);
        const uint16_t *q = v0 + (size_t)p * 32;
        a0 = _mm512_dpbf16_ps(a0, (__m512bh)_mm512_loadu_si512((const void *)q), y);
        a1 = _mm512_dpbf16_ps(a1, (__m512bh)_mm512_loadu_si512((const void *)(q + stride)), y);
        a2 = _mm512_dpbf16_ps(a2, (__m512bh)_mm512_loadu_si512((const void *)(q + 2 * stride)), y);
        a3 = _mm512_dpbf16_ps(a3, (__m512bh)_mm512_loadu_si512((const void *)(q + 3 * stride)), y);
    }
    MFC_TK_SCREEN(a0, vb * 16, r);
    MFC_TK_SCREEN(a1, vb * 16 + 16, r);
    MFC_TK_SCREEN(a2, vb * 16 + 32, r);
    MFC_TK_SCREEN(a3, vb * 16 + 48, r);
}
#endif /* MFC_HAVE_BF16 */

/* Top-N of block users u0 .. u0+nb-1 (rows of U, float32 n x K) over item blocks
   [vb_lo, vb_hi) (both multiples of 4). Block user b is batch row perm[u0 + b] (perm NULL:
   u0 + b) and writes out row perm[out_row + b] (NULL: out_row + b). ua, un: a_u and ||u||
   (rounded up) per batch row. seen_indptr/indices: the
   batch's sorted exclusion CSR or NULL. Writes row out_row + b (N entries, best first,
   padded with -1 / -inf) of out_ids / out_scores. Returns 0, or -1 without AVX512_BF16. */
static int mfc_tk_block(const mfc_tk_items *it, const float *U, const float *ua, const float *un,
                        const int32_t *perm, int u0, int nb,
                        int vb_lo, int vb_hi, const int32_t *seen_indptr, const int32_t *seen,
                        mfc_tk_scratch *s, int32_t *out_ids, float *out_scores, int out_row) {
#if MFC_HAVE_BF16
    const int K = it->K, P = it->P, N = s->N;
    int seen_lo[256], seen_hi[256];
    int rows = ((nb + MFC_TK_ROWS - 1) / MFC_TK_ROWS) * MFC_TK_ROWS;
    int i_lo = vb_lo * 16, i_hi = vb_hi * 16 < it->n_items ? vb_hi * 16 : it->n_items;
    if (nb > s->B || nb > 256)
        return -1;
    for (int b = 0; b < rows; b++) {
        int ub_ = b < nb ? (perm ? perm[u0 + b] : u0 + b) : 0;
        const float *u = U + (size_t)ub_ * K;
        s->thr[b] = b < nb ? -INFINITY : INFINITY;
        s->ua[b] = b < nb ? ua[ub_] : 0.0f;
        s->un[b] = b < nb ? un[ub_] : 0.0f;
        for (int p = 0; p < P; p++) {
            uint32_t lo = 0, hi = 0;
            if (b < nb) {
                lo = mfc_to_bf16(u[2 * p]);
                hi = 2 * p + 1 < K ? mfc_to_bf16(u[2 * p + 1]) : 0;
            }
            s->ubf[(size_t)b * P + p] = lo | (hi << 16);
        }
        if (b < nb) {
            s->hcnt[b] = 0;
            s->ccnt[b] = 0;
            seen_lo[b] = seen != NULL ? seen_indptr[ub_] : 0;
            seen_hi[b] = seen != NULL ? seen_indptr[ub_ + 1] : 0;
        }
    }
    if (nb <= 4) {
        for (int b = 0; b < nb; b++)
            for (int vb = vb_lo; vb < vb_hi; vb += 4)
                mfc_tk_tile1(it, s, b, vb, seen, seen_lo, seen_hi);
    } else {
        for (int vb = vb_lo; vb < vb_hi; vb += 2)
            for (int r0 = 0; r0 < nb; r0 += MFC_TK_ROWS)
                mfc_tk_tile12(it, s, r0, nb - r0 < MFC_TK_ROWS ? nb - r0 : MFC_TK_ROWS, vb, seen,
                              seen_lo, seen_hi);
    }
    /* Rescore the candidates exactly and pick the N best. */
    for (int b = 0; b < nb; b++) {
        const float *u = U + (size_t)(perm ? perm[u0 + b] : u0 + b) * K;
        size_t orow = (size_t)(perm ? perm[out_row + b] : out_row + b);
        int32_t *oid = out_ids + orow * N;
        float *osc = out_scores + orow * N;
        int n = 0, c = s->ccnt[b];
        if (c >= 0) {
            const int32_t *ci = s->cid + (size_t)b * s->C;
            const float *cu = s->cub + (size_t)b * s->C;
            float th = s->thr[b];
            for (int j = 0; j < c; j++)
                if (cu[j] >= th)
                    mfc_tk_list_insert(oid, osc, &n, N, mfc_tk_exact(it, u, ci[j]), ci[j]);
        } else {  /* overflowed: exact scan of every candidate item of the range */
            for (int q = i_lo; q < i_hi; q++) {
                int32_t i = it->order[q];
                if (it->o[q] != it->o[q])
                    continue;
                if (seen != NULL && mfc_tk_is_seen(seen + seen_lo[b], seen_hi[b] - seen_lo[b], i))
                    continue;
                mfc_tk_list_insert(oid, osc, &n, N, mfc_tk_exact(it, u, i), i);
            }
        }
        for (int p = n; p < N; p++) {
            oid[p] = -1;
            osc[p] = -INFINITY;
        }
    }
    return 0;
#else
    (void)it; (void)U; (void)ua; (void)un; (void)perm; (void)u0; (void)nb; (void)vb_lo; (void)vb_hi; (void)seen_indptr;
    (void)seen; (void)s; (void)out_ids; (void)out_scores; (void)out_row;
    return -1;
#endif
}

#endif /* MFCORE_TOPK_BF16_H */
