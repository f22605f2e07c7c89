/* mfcore/cg_row.h: the implicit-ALS conjugate-gradient row solve (mfcore._implicit_als).

   For one row u with observed columns J and confidences c'_j:
       A_u = YtY + reg I + sum_{j in J} c'_j y_j y_j^T,  b_u = sum_{j in J} (1 + c'_j) y_j
   mfc_ials_<s|d>_cg_row(isa, ...) runs cg_steps warm-started CG steps on A_u x = b_u
   without forming A_u, with the build for instruction-set level `isa` (simd.h:
   mfc_level()). NumPy: x = CG(A_u, b_u, x0=x, steps=cg_steps).
   With a prior (`prior` not NULL: the row's centroid c_u, K values) b_u gains
   tau c_u; the caller adds tau to `reg` (the prior's tau I on A_u's diagonal). */
#ifndef MFCORE_CG_ROW_H
#define MFCORE_CG_ROW_H

#include "mfcore/simd.h"

/* How many entries ahead the rows of Y are prefetched when read in place. */
#ifndef MFC_IALS_PREFETCH_AHEAD
#define MFC_IALS_PREFETCH_AHEAD 16
#endif

/* The CG kernels, written once as a macro and instantiated per value type and
   instruction set: P = function prefix, T = value type, TP = its vector type
   prefix, VB = vector bytes (16, 32 or 64), TGT = target attribute (or empty).
   Vectors of K values are processed in chunks of W = VB / sizeof(T) values,
   then of 16 bytes, then one value at a time, so any K >= 1 works (K = 64
   floats is four AVX-512 or eight AVX2 vectors). Every sum runs in an order
   fixed by K and the build alone, so results never depend on the thread count.

   P##_fold:  the 16-byte parts of a VB-byte vector added lane-wise.
              NumPy: a.reshape(-1, 16 // itemsize).sum(0)
   P##_dot:   a . b over K values.  NumPy: a[:K] @ b[:K]
   P##_dot4:  NumPy: u[:4] = np.stack([y0, y1, y2, y3])[:, :K] @ v[:K]
              u_t = y_t . v for four rows y0..y3 of Y (one horizontal
              transpose-and-add reduction for the four).
   P##_axpy4: NumPy: out[:K] += e[:4] @ R, R = np.stack([y0, y1, y2, y3])[:, :K]; g[:4 K] = R.ravel()
              out += e0 y0 + e1 y1 + e2 y2 + e3 y3 in one sweep over out; when g
              is not NULL the four rows are also stored to g (rows of K values):
              that is the gather, done while the rows pass through registers.
   P##_one:   dot, coefficient and update of a single entry (the n % 4 last).
              NumPy: u = y @ v; e = 1 + c - c u if residual else c u; out += e y; g[:K] = y

   P##_pass: NumPy: Yu = Y[cols]; u = Yu @ v; e = 1 + c' - c' u if residual else c' u;
                    out += Yu.T @ e  (g[:n] = Yu if g)
             one pass over the n entries of a row,
       residual = 0:  out += sum_j c'_j (y_j . v) y_j
       residual = 1:  out += sum_j (1 + c'_j - c'_j (y_j . v)) y_j,
   four entries at a time, with rows y_j = Y + cols[j] K (in place, prefetched
   MFC_IALS_PREFETCH_AHEAD entries ahead) or, with cols NULL, y_j = Y + j K
   (the gathered contiguous copy). Per group of four: the dots, the
   coefficients e_t = c'_t u_t (residual = 0) or 1 + c'_t - c'_t u_t
   (residual = 1), then the update, which reads the four rows again from L1.
   Entries are grouped 0-3, 4-7, ... and summed in the same order either way,
   so a gathered and an in-place row give the same result.

   P##_symv_reg: NumPy: out = YtY @ v + reg * v
             out = (YtY + reg I) v for the symmetric row-major K x K YtY,
   as out = sum_b v_b YtY[b, :] + reg v: up to four vectors of columns of out
   are accumulated over b in registers, with separate accumulators for even and
   odd b (independent dependency chains, no horizontal sums).

   P##_cg: the whole CG solve of one row (see _cg_row in the Cython code);
           NumPy: r = b_u - A_u x; p = r; repeat cg_steps: a = r.r / p.A_u p, x += a p,
           r_new = r - a A_u p, p = r_new + (r_new.r_new / r.r) p  (stop when r.r < 1e-20)
   P##_cg_row: its entry point, with a copy specialised for K = 64 (constant
   trip counts: the K loops are unrolled and out stays in registers). */
#ifndef MFC_PORTABLE
#define MFC_IALS_KERNELS(P, T, TP, VB, TGT)                                          \
typedef TP##_v##VB P##_v;                                                            \
typedef TP##_u##VB P##_vu;                                                           \
                                                                                     \
MFC_INLINE TGT TP##_v16 P##_fold(P##_v a) {                                          \
    TP##_v16 q[4];                       /* room for 64 bytes */                     \
    memcpy(q, &a, VB);                                                               \
    if (VB == 64) { q[0] += q[2]; q[1] += q[3]; }                                    \
    if (VB >= 32) q[0] += q[1];                                                      \
    return q[0];                                                                     \
}                                                                                    \
                                                                                     \
MFC_INLINE TGT T P##_dot(const T *a, const T *b, int K) {                            \
    enum { W = VB / sizeof(T), Q = 16 / sizeof(T) };                                 \
    P##_v s = {0};                                                                   \
    TP##_v16 q;                                                                      \
    T u[4];                                                                          \
    int k;                                                                           \
    for (k = 0; k + W <= K; k += W)                                                  \
        s += *(const P##_vu *)(a + k) * *(const P##_vu *)(b + k);                    \
    q = P##_fold(s);                                                                 \
    for (; k + Q <= K; k += Q)                                                       \
        q += *(const TP##_u16 *)(a + k) * *(const TP##_u16 *)(b + k);                \
    TP##_hsum4_16(q, q, q, q, u);                                                    \
    for (; k < K; k++) u[0] += a[k] * b[k];                                          \
    return u[0];                                                                     \
}                                                                                    \
                                                                                     \
MFC_INLINE TGT void P##_dot4(const T *restrict y0, const T *restrict y1,             \
                                     const T *restrict y2, const T *restrict y3,     \
                                     const T *restrict v, int K, T *restrict u) {    \
    enum { W = VB / sizeof(T), Q = 16 / sizeof(T) };                                 \
    P##_v s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};                                    \
    int k;                                                                           \
    for (k = 0; k + W <= K; k += W) {                                                \
        P##_v vk = *(const P##_vu *)(v + k);                                         \
        s0 += *(const P##_vu *)(y0 + k) * vk;                                        \
        s1 += *(const P##_vu *)(y1 + k) * vk;                                        \
        s2 += *(const P##_vu *)(y2 + k) * vk;                                        \
        s3 += *(const P##_vu *)(y3 + k) * vk;                                        \
    }                                                                                \
    TP##_hsum4_##VB(s0, s1, s2, s3, u);                                              \
    if (k + Q <= K) {                        /* 16-byte chunks (VB > 16 only) */     \
        TP##_v16 q0 = {0}, q1 = {0}, q2 = {0}, q3 = {0};                             \
        T w[4];                                                                      \
        for (; k + Q <= K; k += Q) {                                                 \
            TP##_v16 vk = *(const TP##_u16 *)(v + k);                                \
            q0 += *(const TP##_u16 *)(y0 + k) * vk;                                  \
            q1 += *(const TP##_u16 *)(y1 + k) * vk;                                  \
            q2 += *(const TP##_u16 *)(y2 + k) * vk;                                  \
            q3 += *(const TP##_u16 *)(y3 + k) * vk;                                  \
        }                                                                            \
        TP##_hsum4_16(q0, q1, q2, q3, w);                                            \
        u[0] += w[0]; u[1] += w[1]; u[2] += w[2]; u[3] += w[3];                      \
    }                                                                                \
    for (; k < K; k++) {                                                             \
        T vk = v[k];                                                                 \
        u[0] += y0[k] * vk; u[1] += y1[k] * vk; u[2] += y2[k] * vk; u[3] += y3[k] * vk; \
    }                                                                                \
}                                                                                    \
                                                                                     \
MFC_INLINE TGT void P##_axpy4(const T *restrict y0, const T *restrict y1,            \
                                      const T *restrict y2, const T *restrict y3,    \
                                      const T *restrict e, int K, T *restrict out,   \
                                      T *restrict g) {                               \
    enum { W = VB / sizeof(T), Q = 16 / sizeof(T) };                                 \
    T e0 = e[0], e1 = e[1], e2 = e[2], e3 = e[3];                                    \
    int k;                                                                           \
    for (k = 0; k + W <= K; k += W) {                                                \
        P##_v a0 = *(const P##_vu *)(y0 + k), a1 = *(const P##_vu *)(y1 + k);        \
        P##_v a2 = *(const P##_vu *)(y2 + k), a3 = *(const P##_vu *)(y3 + k);        \
        if (g) {                                                                     \
            *(P##_vu *)(g + k) = a0; *(P##_vu *)(g + K + k) = a1;                    \
            *(P##_vu *)(g + 2 * K + k) = a2; *(P##_vu *)(g + 3 * K + k) = a3;        \
        }                                                                            \
        *(P##_vu *)(out + k) += e0 * a0 + e1 * a1 + e2 * a2 + e3 * a3;               \
    }                                                                                \
    for (; k + Q <= K; k += Q) {                                                     \
        TP##_v16 a0 = *(const TP##_u16 *)(y0 + k), a1 = *(const TP##_u16 *)(y1 + k); \
        TP##_v16 a2 = *(const TP##_u16 *)(y2 + k), a3 = *(const TP##_u16 *)(y3 + k); \
        if (g) {                                                                     \
            *(TP##_u16 *)(g + k) = a0; *(TP##_u16 *)(g + K + k) = a1;                \
            *(TP##_u16 *)(g + 2 * K + k) = a2; *(TP##_u16 *)(g + 3 * K + k) = a3;    \
        }                                                                            \
        *(TP##_u16 *)(out + k) += e0 * a0 + e1 * a1 + e2 * a2 + e3 * a3;             \
    }                                                                                \
    for (; k < K; k++) {                                                             \
        T a0 = y0[k], a1 = y1[k], a2 = y2[k], a3 = y3[k];                            \
        if (g) { g[k] = a0; g[K + k] = a1; g[2 * K + k] = a2; g[3 * K + k] = a3; }   \
        out[k] += e0 * a0 + e1 * a1 + e2 * a2 + e3 * a3;                             \
    }                                                                                \
}                                                                                    \
                                                                                     \
MFC_INLINE TGT void P##_one(const T *restrict y, T c, int K,                         \
                                    const T *restrict v, T *restrict out,            \
                                    int residual, T *restrict g) {                   \
    enum { W = VB / sizeof(T), Q = 16 / sizeof(T) };                                 \
    T u = P##_dot(y, v, K);                                                          \
    T e = residual ? (T)1 + c - c * u : c * u;                                       \
    int k;                                                                           \
    for (k = 0; k + W <= K; k += W) {                                                \
        P##_v a = *(const P##_vu *)(y + k);                                          \
        if (g) *(P##_vu *)(g + k) = a;                                               \
        *(P##_vu *)(out + k) += e * a;                                               \
    }                                                                                \
    for (; k + Q <= K; k += Q) {                                                     \
        TP##_v16 a = *(const TP##_u16 *)(y + k);                                     \
        if (g) *(TP##_u16 *)(g + k) = a;                                             \
        *(TP##_u16 *)(out + k) += e * a;                                             \
    }                                                                                \
    for (; k < K; k++) {                                                             \
        if (g) g[k] = y[k];                                                          \
        out[k] += e * y[k];                                                          \
    }                                                                                \
}                                                                                    \
                                                                                     \
MFC_INLINE TGT void P##_pass(const T *Y, const int32_t *cols, int64_t n,             \
                                     int K, const T *conf, const T *v, T *out,       \
                                     int residual, T *g) {                           \
    const T *y0, *y1, *y2, *y3;                                                      \
    T u[4], e[4];                                                                    \
    int64_t j, i, nq = n & ~(int64_t)3;      /* entries taken four at a time */      \
    int t;                                                                           \
    for (j = 0; j < nq; j += 4) {                                                    \
        if (cols) {                                                                  \
            for (i = j + MFC_IALS_PREFETCH_AHEAD;                                    \
                 i < j + 4 + MFC_IALS_PREFETCH_AHEAD && i < n; i++)                  \
                mfc_prefetch_range(Y + (int64_t)cols[i] * K, K * sizeof(T));         \
            y0 = Y + (int64_t)cols[j] * K; y1 = Y + (int64_t)cols[j + 1] * K;        \
            y2 = Y + (int64_t)cols[j + 2] * K; y3 = Y + (int64_t)cols[j + 3] * K;    \
        } else {                                                                     \
            y0 = Y + j * K; y1 = y0 + K; y2 = y1 + K; y3 = y2 + K;                   \
        }                                                                            \
        P##_dot4(y0, y1, y2, y3, v, K, u);                                           \
        for (t = 0; t < 4; t++) {                                                    \
            T c = conf[j + t];                                                       \
            e[t] = residual ? (T)1 + c - c * u[t] : c * u[t];                        \
        }                                                                            \
        P##_axpy4(y0, y1, y2, y3, e, K, out, g ? g + j * K : NULL);                  \
    }                                                                                \
    for (j = nq; j < n; j++)                                                         \
        P##_one(cols ? Y + (int64_t)cols[j] * K : Y + j * K, conf[j], K, v, out,     \
                residual, g ? g + j * K : NULL);                                     \
}                                                                                    \
                                                                                     \
MFC_INLINE TGT void P##_symv_reg(const T *restrict YtY, T reg,                       \
                                         const T *restrict v, T *restrict out,       \
                                         int K) {                                    \
    enum { W = VB / sizeof(T), Q = 16 / sizeof(T) };                                 \
    int c0 = 0, b, k;                                                                \
    for (; c0 + 4 * W <= K; c0 += 4 * W) {   /* four vectors of columns */           \
        P##_v a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};                                \
        P##_v b0 = {0}, b1 = {0}, b2 = {0}, b3 = {0};                                \
        const T *col = YtY + c0;                                                     \
        for (b = 0; b + 2 <= K; b += 2) {                                            \
            const T *r0 = col + (int64_t)b * K, *r1 = r0 + K;                        \
            T v0 = v[b], v1 = v[b + 1];                                              \
            a0 += v0 * *(const P##_vu *)r0;                                          \
            a1 += v0 * *(const P##_vu *)(r0 + W);                                    \
            a2 += v0 * *(const P##_vu *)(r0 + 2 * W);                                \
            a3 += v0 * *(const P##_vu *)(r0 + 3 * W);                                \
            b0 += v1 * *(const P##_vu *)r1;                                          \
            b1 += v1 * *(const P##_vu *)(r1 + W);                                    \
            b2 += v1 * *(const P##_vu *)(r1 + 2 * W);                                \
            b3 += v1 * *(const P##_vu *)(r1 + 3 * W);                                \
        }                                                                            \
        if (b < K) {                                                                 \
            const T *r0 = col + (int64_t)b * K;                                      \
            T v0 = v[b];                                                             \
            a0 += v0 * *(const P##_vu *)r0;                                          \
            a1 += v0 * *(const P##_vu *)(r0 + W);                                    \
            a2 += v0 * *(const P##_vu *)(r0 + 2 * W);                                \
            a3 += v0 * *(const P##_vu *)(r0 + 3 * W);                                \
        }                                                                            \
        *(P##_vu *)(out + c0) = (a0 + b0) + reg * *(const P##_vu *)(v + c0);         \
        *(P##_vu *)(out + c0 + W) = (a1 + b1) + reg * *(const P##_vu *)(v + c0 + W); \
        *(P##_vu *)(out + c0 + 2 * W) = (a2 + b2) + reg * *(const P##_vu *)(v + c0 + 2 * W); \
        *(P##_vu *)(out + c0 + 3 * W) = (a3 + b3) + reg * *(const P##_vu *)(v + c0 + 3 * W); \
    }                                                                                \
    for (; c0 + 2 * W <= K; c0 += 2 * W) {   /* two vectors of columns */            \
        P##_v a0 = {0}, a1 = {0}, b0 = {0}, b1 = {0};                                \
        const T *col = YtY + c0;                                                     \
        for (b = 0; b + 2 <= K; b += 2) {                                            \
            const T *r0 = col + (int64_t)b * K, *r1 = r0 + K;                        \
            a0 += v[b] * *(const P##_vu *)r0;                                        \
            a1 += v[b] * *(const P##_vu *)(r0 + W);                                  \
            b0 += v[b + 1] * *(const P##_vu *)r1;                                    \
            b1 += v[b + 1] * *(const P##_vu *)(r1 + W);                              \
        }                                                                            \
        if (b < K) {                                                                 \
            const T *r0 = col + (int64_t)b * K;                                      \
            a0 += v[b] * *(const P##_vu *)r0;                                        \
            a1 += v[b] * *(const P##_vu *)(r0 + W);                                  \
        }                                                                            \
        *(P##_vu *)(out + c0) = (a0 + b0) + reg * *(const P##_vu *)(v + c0);         \
        *(P##_vu *)(out + c0 + W) = (a1 + b1) + reg * *(const P##_vu *)(v + c0 + W); \
    }                                                                                \
    for (; c0 + W <= K; c0 += W) {           /* one vector of columns */             \
        P##_v a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};                                \
        const T *col = YtY + c0;                                                     \
        for (b = 0; b + 4 <= K; b += 4) {                                            \
            const T *r0 = col + (int64_t)b * K;                                      \
            a0 += v[b] * *(const P##_vu *)r0;                                        \
            a1 += v[b + 1] * *(const P##_vu *)(r0 + K);                              \
            a2 += v[b + 2] * *(const P##_vu *)(r0 + 2 * K);                          \
            a3 += v[b + 3] * *(const P##_vu *)(r0 + 3 * K);                          \
        }                                                                            \
        for (; b < K; b++) a0 += v[b] * *(const P##_vu *)(col + (int64_t)b * K);     \
        *(P##_vu *)(out + c0) = ((a0 + a1) + (a2 + a3)) + reg * *(const P##_vu *)(v + c0); \
    }                                                                                \
    for (; c0 + Q <= K; c0 += Q) {           /* 16 bytes of columns */               \
        TP##_v16 a0 = {0}, a1 = {0};                                                 \
        const T *col = YtY + c0;                                                     \
        for (b = 0; b + 2 <= K; b += 2) {                                            \
            a0 += v[b] * *(const TP##_u16 *)(col + (int64_t)b * K);                  \
            a1 += v[b + 1] * *(const TP##_u16 *)(col + (int64_t)(b + 1) * K);        \
        }                                                                            \
        if (b < K) a0 += v[b] * *(const TP##_u16 *)(col + (int64_t)b * K);           \
        *(TP##_u16 *)(out + c0) = (a0 + a1) + reg * *(const TP##_u16 *)(v + c0);     \
    }                                                                                \
    for (k = c0; k < K; k++) {               /* the last K % Q columns */            \
        T s = 0;                                                                     \
        for (b = 0; b < K; b++) s += v[b] * YtY[(int64_t)b * K + k];                 \
        out[k] = s + reg * v[k];                                                     \
    }                                                                                \
}                                                                                    \
                                                                                     \
MFC_INLINE TGT int P##_cg(T *x, const T *Y, const int32_t *cols, T *G,               \
                                  const T *conf, int64_t n, const T *YtY, T reg,     \
                                  int K, int cg_steps, T *r, T *p, T *Ap,            \
                                  const T *prior, T tau) {                           \
    double rs, rs_new, pAp, alpha, beta;                                             \
    int step, k;                                                                     \
    /* r = b - A x = sum_j [(1 + c'_j) - c'_j (y_j . x)] y_j - (YtY + reg I) x,      \
       reading Y in place and gathering the rows into G on the way */                \
    P##_symv_reg(YtY, reg, x, r, K);                                                 \
    for (k = 0; k < K; k++) r[k] = -r[k];                                            \
    if (prior)                               /* b += tau c (a prior's pull) */       \
        for (k = 0; k < K; k++) r[k] += tau * prior[k];                              \
    if (G) {                                                                         \
        P##_pass(Y, cols, n, K, conf, x, r, 1, G);                                   \
        Y = G;                               /* later passes read the copy */        \
        cols = NULL;                                                                 \
    } else {                                                                         \
        P##_pass(Y, cols, n, K, conf, x, r, 1, NULL);                                \
    }                                                                                \
    memcpy(p, r, (size_t)K * sizeof(T));                                             \
    rs = (double)P##_dot(r, r, K);                                                   \
    for (step = 0; step < cg_steps; step++) {                                        \
        if (rs < 1e-20)                                                              \
            break;                                                                   \
        /* Ap = (YtY + reg I) p + sum_j c'_j (y_j . p) y_j */                        \
        P##_symv_reg(YtY, reg, p, Ap, K);                                            \
        if (cols)                                                                    \
            P##_pass(Y, cols, n, K, conf, p, Ap, 0, NULL);                           \
        else                                                                         \
            P##_pass(Y, NULL, n, K, conf, p, Ap, 0, NULL);                           \
        pAp = (double)P##_dot(p, Ap, K);                                             \
        if (!(pAp > 0))                                                              \
            return 1;                                                                \
        alpha = rs / pAp;                                                            \
        for (k = 0; k < K; k++) {                                                    \
            x[k] += (T)alpha * p[k];                                                 \
            r[k] -= (T)alpha * Ap[k];                                                \
        }                                                                            \
        rs_new = (double)P##_dot(r, r, K);                                           \
        beta = rs_new / rs;                                                          \
        for (k = 0; k < K; k++) p[k] = r[k] + (T)beta * p[k];                        \
        rs = rs_new;                                                                 \
    }                                                                                \
    return 0;                                                                        \
}                                                                                    \
                                                                                     \
static TGT int P##_cg_row(T *x, const T *Y, const int32_t *cols, T *G,               \
                          const T *conf, int64_t n, const T *YtY, T reg, int K,      \
                          int cg_steps, T *r, T *p, T *Ap, const T *prior, T tau) {  \
    if (K == 64)                                                                     \
        return P##_cg(x, Y, cols, G, conf, n, YtY, reg, 64, cg_steps, r, p, Ap,      \
                      prior, tau);                                                   \
    return P##_cg(x, Y, cols, G, conf, n, YtY, reg, K, cg_steps, r, p, Ap,           \
                  prior, tau);                                                       \
}

MFC_IALS_KERNELS(mfc_ials_s0, float, mfc_f, 16, )
MFC_IALS_KERNELS(mfc_ials_d0, double, mfc_d, 16, )
#else  /* MFC_PORTABLE: the plain-C build (level 0 only) */
/* The same contract as the vector kernels above, in plain C99: the dot products,
   (YtY + reg I) v and the passes as simple loops, one entry at a time.
   NumPy: as above (P##_dot: a[:K] @ b[:K]; P##_symv_reg: YtY @ v + reg * v;
   P##_pass: out += Y[cols].T @ e, e = 1 + c' - c' (Y[cols] @ v) or c' (Y[cols] @ v)). */
#define MFC_IALS_SCALAR(P, T, TGT)                                                   \
MFC_INLINE T P##_dot(const T *a, const T *b, int K) {                                \
    T s = 0;                                                                         \
    int k;                                                                           \
    for (k = 0; k < K; k++) s += a[k] * b[k];                                        \
    return s;                                                                        \
}                                                                                    \
                                                                                     \
MFC_INLINE void P##_symv_reg(const T *YtY, T reg, const T *v, T *out, int K) {       \
    int b, k;                                                                        \
    for (k = 0; k < K; k++) out[k] = reg * v[k];                                     \
    for (b = 0; b < K; b++) {                                                        \
        const T *row = YtY + (int64_t)b * K;                                         \
        T vb = v[b];                                                                 \
        for (k = 0; k < K; k++) out[k] += vb * row[k];                               \
    }                                                                                \
}                                                                                    \
                                                                                     \
MFC_INLINE void P##_pass(const T *Y, const int32_t *cols, int64_t n, int K,          \
                         const T *conf, const T *v, T *out, int residual, T *g) {    \
    int64_t j;                                                                       \
    int k;                                                                           \
    for (j = 0; j < n; j++) {                                                        \
        const T *y = cols ? Y + (int64_t)cols[j] * K : Y + j * K;                    \
        T c = conf[j], u = P##_dot(y, v, K);                                         \
        T e = residual ? (T)1 + c - c * u : c * u;                                   \
        if (g) memcpy(g + j * K, y, (size_t)K * sizeof(T));                          \
        for (k = 0; k < K; k++) out[k] += e * y[k];                                  \
    }                                                                                \
}                                                                                    \
                                                                                     \
MFC_INLINE TGT int P##_cg(T *x, const T *Y, const int32_t *cols, T *G,               \
                                  const T *conf, int64_t n, const T *YtY, T reg,     \
                                  int K, int cg_steps, T *r, T *p, T *Ap,            \
                                  const T *prior, T tau) {                           \
    double rs, rs_new, pAp, alpha, beta;                                             \
    int step, k;                                                                     \
    /* r = b - A x = sum_j [(1 + c'_j) - c'_j (y_j . x)] y_j - (YtY + reg I) x,      \
       reading Y in place and gathering the rows into G on the way */                \
    P##_symv_reg(YtY, reg, x, r, K);                                                 \
    for (k = 0; k < K; k++) r[k] = -r[k];                                            \
    if (prior)                               /* b += tau c (a prior's pull) */       \
        for (k = 0; k < K; k++) r[k] += tau * prior[k];                              \
    if (G) {                                                                         \
        P##_pass(Y, cols, n, K, conf, x, r, 1, G);                                   \
        Y = G;                               /* later passes read the copy */        \
        cols = NULL;                                                                 \
    } else {                                                                         \
        P##_pass(Y, cols, n, K, conf, x, r, 1, NULL);                                \
    }                                                                                \
    memcpy(p, r, (size_t)K * sizeof(T));                                             \
    rs = (double)P##_dot(r, r, K);                                                   \
    for (step = 0; step < cg_steps; step++) {                                        \
        if (rs < 1e-20)                                                              \
            break;                                                                   \
        /* Ap = (YtY + reg I) p + sum_j c'_j (y_j . p) y_j */                        \
        P##_symv_reg(YtY, reg, p, Ap, K);                                            \
        if (cols)                                                                    \
            P##_pass(Y, cols, n, K, conf, p, Ap, 0, NULL);                           \
        else                                                                         \
            P##_pass(Y, NULL, n, K, conf, p, Ap, 0, NULL);                           \
        pAp = (double)P##_dot(p, Ap, K);                                             \
        if (!(pAp > 0))                                                              \
            return 1;                                                                \
        alpha = rs / pAp;                                                            \
        for (k = 0; k < K; k++) {                                                    \
            x[k] += (T)alpha * p[k];                                                 \
            r[k] -= (T)alpha * Ap[k];                                                \
        }                                                                            \
        rs_new = (double)P##_dot(r, r, K);                                           \
        beta = rs_new / rs;                                                          \
        for (k = 0; k < K; k++) p[k] = r[k] + (T)beta * p[k];                        \
        rs = rs_new;                                                                 \
    }                                                                                \
    return 0;                                                                        \
}                                                                                    \
                                                                                     \
static TGT int P##_cg_row(T *x, const T *Y, const int32_t *cols, T *G,               \
                          const T *conf, int64_t n, const T *YtY, T reg, int K,      \
                          int cg_steps, T *r, T *p, T *Ap, const T *prior, T tau) {  \
    if (K == 64)                                                                     \
        return P##_cg(x, Y, cols, G, conf, n, YtY, reg, 64, cg_steps, r, p, Ap,      \
                      prior, tau);                                                   \
    return P##_cg(x, Y, cols, G, conf, n, YtY, reg, K, cg_steps, r, p, Ap,           \
                  prior, tau);                                                       \
}
MFC_IALS_SCALAR(mfc_ials_s0, float, )
MFC_IALS_SCALAR(mfc_ials_d0, double, )
#endif /* MFC_PORTABLE */
#if MFC_X86
MFC_IALS_KERNELS(mfc_ials_s3, float, mfc_f, 32, MFC_TARGET_V3)
MFC_IALS_KERNELS(mfc_ials_d3, double, mfc_d, 32, MFC_TARGET_V3)
MFC_IALS_KERNELS(mfc_ials_s4, float, mfc_f, 64, MFC_TARGET_V4)
MFC_IALS_KERNELS(mfc_ials_d4, double, mfc_d, 64, MFC_TARGET_V4)
#endif

/* The CG solve of one row with the build for instruction set `isa`
   (mfc_level(); a lower level than the CPU's also works). */
#if MFC_X86
#define MFC_IALS_DISPATCH(P, T)                                                      \
static int P##_cg_row(int isa, T *x, const T *Y, const int32_t *cols, T *G,          \
                      const T *conf, int64_t n, const T *YtY, T reg, int K,          \
                      int cg_steps, T *r, T *p, T *Ap, const T *prior, T tau) {      \
    if (isa >= 2)                                                                    \
        return P##4_cg_row(x, Y, cols, G, conf, n, YtY, reg, K, cg_steps, r, p, Ap,  \
                              prior, tau);                                           \
    if (isa == 1)                                                                    \
        return P##3_cg_row(x, Y, cols, G, conf, n, YtY, reg, K, cg_steps, r, p, Ap,  \
                              prior, tau);                                           \
    return P##0_cg_row(x, Y, cols, G, conf, n, YtY, reg, K, cg_steps, r, p, Ap,      \
                          prior, tau);                                               \
}
#else
#define MFC_IALS_DISPATCH(P, T)                                                      \
static int P##_cg_row(int isa, T *x, const T *Y, const int32_t *cols, T *G,          \
                      const T *conf, int64_t n, const T *YtY, T reg, int K,          \
                      int cg_steps, T *r, T *p, T *Ap, const T *prior, T tau) {      \
    (void)isa;                                                                       \
    return P##0_cg_row(x, Y, cols, G, conf, n, YtY, reg, K, cg_steps, r, p, Ap,      \
                          prior, tau);                                               \
}
#endif
MFC_IALS_DISPATCH(mfc_ials_s, float)
MFC_IALS_DISPATCH(mfc_ials_d, double)

/* y += a x (Cholesky right-hand side; y and x never overlap here).  NumPy: y[:n] += a * x[:n] */
static inline void mfc_ials_saxpy(float *restrict y, const float *restrict x, float a, int n) {
    int k;
    #pragma omp simd
    for (k = 0; k < n; k++) y[k] += a * x[k];
}
static inline void mfc_ials_daxpy(double *restrict y, const double *restrict x, double a, int n) {
    int k;
    #pragma omp simd
    for (k = 0; k < n; k++) y[k] += a * x[k];
}

#endif /* MFCORE_CG_ROW_H */
