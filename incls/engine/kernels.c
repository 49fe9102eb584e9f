/* Native kernels of the incremental engine: position-wise rows and local-window attention.
 *
 * Why native: after a word edit the engine recomputes a handful of rows per layer. In
 * tensor calls that is a few hundred small operations of 5-15 us each plus BLAS
 * matmuls padded to 16 rows; here it is one call per step, and matmuls of exactly the
 * rows in hand.
 *
 * Why every result is batch-invariant: each output number is computed by one thread, by
 * the same code, in a summation order fixed by the shapes alone (one 8-lane accumulator
 * per output advanced along the reduction axis, then a fixed horizontal sum). A row
 * recomputed alone after an edit therefore has the bits of the same row computed among
 * all rows of a fresh document, whatever the thread count. Built with -ffp-contract=off,
 * so the compiler fuses no multiply-add on its own.
 *
 * Layouts are row-major; "rows" arguments are int64 storage-row indices. Functions that
 * need scratch memory return -1 (having written nothing) when it cannot be had.
 */

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define INCLS_AVX2 1
#endif

typedef int64_t i64;

/* ---- float32 dot products in a fixed order ---------------------------------------- */

/* Weights are float32, or float16 where every value of a matrix is exactly a float16 (the
 * trained layers ship as float16): converted on load, the products are the same, and half
 * the bytes stream from memory. A weight matrix is passed with its type. */
typedef struct {
    const void *data;   /* (b, a) row-major */
    int f16;            /* 1: uint16 float16 values, 0: float32 */
} Weights;

static inline float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f) bits = sign | 0x7f800000u | (man << 13);                /* inf, nan */
    else if (exp) bits = sign | ((exp + 112) << 23) | (man << 13);            /* normal */
    else if (!man) bits = sign;                                              /* zero */
    else {                                                                   /* subnormal */
        int shift = 0;
        while (!(man & 0x400)) { man <<= 1; shift++; }
        bits = sign | ((uint32_t)(113 - shift) << 23) | ((man & 0x3ff) << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

#ifdef INCLS_AVX2
static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

#define LOAD_f32(p) _mm256_loadu_ps(p)
#define LOAD_f16(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))
#define SCALAR_f32(v) (v)
#define SCALAR_f16(v) half_to_float(v)

/* y[r * ldy + c] = x_r . w_c for an MR x NR tile; a = reduction length. One accumulator
 * per output, loaded operands pinned in registers (12 accumulators + 3 weights + 1 row);
 * pf: where to prefetch the next weight tile from. */
#define TILE(WT, CT, MR, NR)                                                                \
static void tile_##WT##_##MR##_##NR(const float *x, i64 a, const CT *w, float *y, i64 ldy,  \
                                    const CT *pf) {                                         \
    __m256 acc[MR][NR];                                                                     \
    for (int r = 0; r < MR; r++)                                                            \
        for (int c = 0; c < NR; c++) acc[r][c] = _mm256_setzero_ps();                       \
    i64 k = 0;                                                                              \
    for (; k + 8 <= a; k += 8) {                                                            \
        _mm_prefetch((const char *)(pf + NR * k), _MM_HINT_T0);                             \
        _mm_prefetch((const char *)(pf + NR * k + 16), _MM_HINT_T0);                        \
        __m256 wv[NR];                                                                      \
        for (int c = 0; c < NR; c++) {                                                      \
            wv[c] = LOAD_##WT(w + c * a + k);                                               \
            __asm__("" : "+x"(wv[c]));                                                      \
        }                                                                                   \
        for (int r = 0; r < MR; r++) {                                                      \
            __m256 xv = _mm256_loadu_ps(x + r * a + k);                                     \
            __asm__("" : "+x"(xv));                                                         \
            for (int c = 0; c < NR; c++) acc[r][c] = _mm256_fmadd_ps(xv, wv[c], acc[r][c]); \
        }                                                                                   \
    }                                                                                       \
    for (int r = 0; r < MR; r++)                                                            \
        for (int c = 0; c < NR; c++) {                                                      \
            float s = hsum8(acc[r][c]);                                                     \
            for (i64 t = k; t < a; t++) s += x[r * a + t] * SCALAR_##WT(w[c * a + t]);      \
            y[r * ldy + c] = s;                                                             \
        }                                                                                   \
}
#define TILES_OF(WT, CT)                                                                    \
TILE(WT, CT, 4, 3) TILE(WT, CT, 3, 3) TILE(WT, CT, 2, 3) TILE(WT, CT, 1, 3)                 \
TILE(WT, CT, 4, 2) TILE(WT, CT, 3, 2) TILE(WT, CT, 2, 2) TILE(WT, CT, 1, 2)                 \
TILE(WT, CT, 4, 1) TILE(WT, CT, 3, 1) TILE(WT, CT, 2, 1) TILE(WT, CT, 1, 1)                 \
typedef void (*tile_##WT)(const float *, i64, const CT *, float *, i64, const CT *);       \
static const tile_##WT TILES_##WT[5][4] = {                                                 \
    {0, 0, 0, 0},                                                                           \
    {0, tile_##WT##_1_1, tile_##WT##_1_2, tile_##WT##_1_3},                                 \
    {0, tile_##WT##_2_1, tile_##WT##_2_2, tile_##WT##_2_3},                                 \
    {0, tile_##WT##_3_1, tile_##WT##_3_2, tile_##WT##_3_3},                                 \
    {0, tile_##WT##_4_1, tile_##WT##_4_2, tile_##WT##_4_3},                                 \
};
TILES_OF(f32, float)
TILES_OF(f16, uint16_t)
#endif

/* Portable path: the same fixed order as 8 lanes, then a fixed lane sum. */
static float dot_lanes(const float *x, i64 a, Weights w, i64 row) {
    float lane[8] = {0};
    const float *w32 = (const float *)w.data + row * a;
    const uint16_t *w16 = (const uint16_t *)w.data + row * a;
#define W_AT(t) (w.f16 ? half_to_float(w16[t]) : w32[t])
    i64 k = 0;
    for (; k + 8 <= a; k += 8)
        for (int l = 0; l < 8; l++) lane[l] = lane[l] + x[k + l] * W_AT(k + l);
    float s = ((lane[0] + lane[4]) + (lane[2] + lane[6])) + ((lane[1] + lane[5]) + (lane[3] + lane[7]));
    for (; k < a; k++) s += x[k] * W_AT(k);
#undef W_AT
    return s;
}

#define TILE_ROWS 4  /* rows of x per tile (TILES_* are indexed up to these) */
#define TILE_COLS 3  /* weight rows per tile */
#define W_BLOCK 48   /* weight rows per parallel task */
#define X_CHUNK 32   /* rows of x kept in L2 while a weight block passes over them */

/* y (n, b) = x (n, a) @ w (b, a)^T. Threads split the weight rows, never a reduction.
 * Each small tile of weight rows, once loaded (from memory, the first time), is used
 * by every row of the chunk while it sits in L1: a few rows cost one pass over the weights. */
static void matmul(const float *x, i64 n, i64 a, Weights w, i64 b, float *y, int threads) {
    i64 blocks = (b + W_BLOCK - 1) / W_BLOCK;
    if (n * b * a < (1 << 18)) threads = 1;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (i64 blk = 0; blk < blocks; blk++) {
        i64 c0 = blk * W_BLOCK, c1 = c0 + W_BLOCK < b ? c0 + W_BLOCK : b;
        for (i64 r0 = 0; r0 < n; r0 += X_CHUNK) {
            i64 r1 = r0 + X_CHUNK < n ? r0 + X_CHUNK : n;
            for (i64 c = c0; c < c1; c += TILE_COLS) {
                int nr = c1 - c < TILE_COLS ? (int)(c1 - c) : TILE_COLS;
                for (i64 r = r0; r < r1; r += TILE_ROWS) {
                    int mr = r1 - r < TILE_ROWS ? (int)(r1 - r) : TILE_ROWS;
#ifdef INCLS_AVX2
                    /* the chunk's first tile fetches the next weight tile ahead of use */
                    i64 next = r == r0 ? c + nr : c;
                    if (w.f16) {
                        const uint16_t *w16 = w.data;
                        TILES_f16[mr][nr](x + r * a, a, w16 + c * a, y + r * b + c, b, w16 + next * a);
                    } else {
                        const float *w32 = w.data;
                        TILES_f32[mr][nr](x + r * a, a, w32 + c * a, y + r * b + c, b, w32 + next * a);
                    }
#else
                    for (i64 rr = r; rr < r + mr; rr++)
                        for (i64 cc = c; cc < c + nr; cc++) y[rr * b + cc] = dot_lanes(x + rr * a, a, w, cc);
#endif
                }
            }
        }
    }
}

void incls_matmul(const float *x, i64 n, i64 a, const void *w, int w_f16, i64 b, float *y, int threads) {
    matmul(x, n, a, (Weights){w, w_f16}, b, y, threads);
}

/* ---- position-wise rows ---------------------------------------------------------------- */

/* Sum of squares of x (d,) in 8 lanes, then a fixed lane sum (the compiler vectorizes it). */
static float sum_squares(const float *x, i64 d) {
    float lane[8] = {0};
    i64 k = 0;
    for (; k + 8 <= d; k += 8)
        for (int l = 0; l < 8; l++) lane[l] = lane[l] + x[k + l] * x[k + l];
    float s = ((lane[0] + lane[4]) + (lane[2] + lane[6])) + ((lane[1] + lane[5]) + (lane[3] + lane[7]));
    for (; k < d; k++) s += x[k] * x[k];
    return s;
}

/* out (n, d) = RMSNorm of x (n, d) with weight g: x * (1 / sqrt(mean(x^2) + eps)) * g. */
static void rms_norm_rows(const float *x, i64 n, i64 d, const float *g, float eps, float *out) {
    for (i64 r = 0; r < n; r++) {
        const float *xr = x + r * d;
        float inv = 1.0f / sqrtf(sum_squares(xr, d) / (float)d + eps);
        for (i64 k = 0; k < d; k++) out[r * d + k] = (xr[k] * inv) * g[k];
    }
}

/* silu(g) * u elementwise, with exp from + and * alone (Cody-Waite reduction, degree-6
 * polynomial, within 1 ulp of expf): eight at a time in AVX2, the rest by the same
 * operations in scalar code, so an element's bits never depend on where it sits. */
#define EXP_CLAMP_LO -87.0f
#define EXP_CLAMP_HI 88.0f
#define EXP_LOG2E 1.44269504088896341f
#define EXP_ROUND 12582912.0f                  /* 1.5 * 2^23: adding it rounds to an integer */
#define EXP_LN2_HI 0.693359375f
#define EXP_LN2_LO -2.12194440e-4f
static const float EXP_POLY[6] = {1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f,
                                  4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f};

static inline float exp_f32(float x) {
    x = x < EXP_CLAMP_LO ? EXP_CLAMP_LO : (x > EXP_CLAMP_HI ? EXP_CLAMP_HI : x);
    float n = (x * EXP_LOG2E + EXP_ROUND) - EXP_ROUND;
    float r = (x - n * EXP_LN2_HI) - n * EXP_LN2_LO;
    float p = EXP_POLY[0];
    for (int i = 1; i < 6; i++) p = p * r + EXP_POLY[i];
    p = (p * r) * r + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

static void silu_mul(const float *g, const float *u, float *out, i64 n) {
    i64 k = 0;
#ifdef INCLS_AVX2
    const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    for (; k + 8 <= n; k += 8) {
        __m256 gv = _mm256_loadu_ps(g + k);
        __m256 x = _mm256_sub_ps(zero, gv);
        x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(EXP_CLAMP_LO)), _mm256_set1_ps(EXP_CLAMP_HI));
        __m256 round = _mm256_set1_ps(EXP_ROUND);
        __m256 nv = _mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(x, _mm256_set1_ps(EXP_LOG2E)), round), round);
        __m256 r = _mm256_sub_ps(_mm256_sub_ps(x, _mm256_mul_ps(nv, _mm256_set1_ps(EXP_LN2_HI))),
                                 _mm256_mul_ps(nv, _mm256_set1_ps(EXP_LN2_LO)));
        __m256 p = _mm256_set1_ps(EXP_POLY[0]);
        for (int i = 1; i < 6; i++) p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(EXP_POLY[i]));
        p = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(_mm256_mul_ps(p, r), r), r), one);
        __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(nv), _mm256_set1_epi32(127)), 23);
        __m256 e = _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
        __m256 silu = _mm256_div_ps(gv, _mm256_add_ps(one, e));
        _mm256_storeu_ps(out + k, _mm256_mul_ps(silu, _mm256_loadu_ps(u + k)));
    }
#endif
    for (; k < n; k++) out[k] = (g[k] / (1.0f + exp_f32(0.0f - g[k]))) * u[k];
}

void incls_rms_norm(const float *x, i64 n, i64 d, const float *g, float eps, float *out) {
    rms_norm_rows(x, n, d, g, eps, out);
}

/* ---- the engine's state, laid out as incls/engine/native.py declares it ------------------ */

/* Shapes and tables shared by every layer. */
typedef struct {
    i64 d, H, Hkv, hd, K, dff, W;
    i64 sink;                           /* 1: local layers also see key 0, at the clipped distance W */
    double eps, scale;
    const float *embed;                 /* (V, d) token embeddings: the residual inputs of layer 0 */
    const double *rot_cos, *rot_sin;    /* (W + 1, hd): rotation by t - W for t = 0..W */
    const double *win_cos, *win_sin;    /* (hd,): rotation by W */
} Model;

/* One layer's weights. */
typedef struct {
    const float *ln1, *ln2;             /* (d,) */
    const void *w_qkv;                  /* ((H + 2 Hkv) hd, d): the q rows, then k, then v */
    const void *w_gate_up, *w_down;     /* (2 dff, d) gate rows then up rows; (d, dff) */
    i64 qkv_f16, mlp_f16;               /* 1: w_qkv (w_gate_up and w_down) hold float16 values */
    const float *table;                 /* (H, K, d) output projection of every code */
    const double *codebook, *codes_sq;  /* (H, K, hd), (H, K) */
} Layer;

/* One layer's cache, in storage rows (see incls/engine/slots.py). */
typedef struct {
    float *x;                           /* (S, d) residual inputs, or NULL: the token embeddings (layer 0) */
    const int32_t *tokens;              /* (S,) token of each storage row */
    float *k, *v;                       /* (S, Hkv, hd) unrotated keys, values */
    int16_t *codes;                     /* (S, H) chosen codes */
    float *q;                           /* (S, H, hd) queries, or NULL: recomputed when needed */
    const i64 *rows_of;                 /* (T,) storage row of each position */
    i64 T;
} Cache;

/* Sizes and field offsets of the three structs, one "name value" line each, for the Python
 * side to check its declarations against by name; returns the length of the whole text
 * (written up to `room` bytes, NUL included). */
typedef struct { const char *name; i64 value; } LayoutEntry;
#define STRUCT(S) {#S, (i64)sizeof(S)}
#define FIELD(S, f) {#f, (i64)offsetof(S, f)}
static const LayoutEntry LAYOUT[] = {
    STRUCT(Model), FIELD(Model, d), FIELD(Model, H), FIELD(Model, Hkv), FIELD(Model, hd), FIELD(Model, K),
    FIELD(Model, dff), FIELD(Model, W), FIELD(Model, sink), FIELD(Model, eps), FIELD(Model, scale), FIELD(Model, embed),
    FIELD(Model, rot_cos), FIELD(Model, rot_sin), FIELD(Model, win_cos), FIELD(Model, win_sin),
    STRUCT(Layer), FIELD(Layer, ln1), FIELD(Layer, ln2), FIELD(Layer, w_qkv), FIELD(Layer, w_gate_up),
    FIELD(Layer, w_down), FIELD(Layer, qkv_f16), FIELD(Layer, mlp_f16), FIELD(Layer, table),
    FIELD(Layer, codebook), FIELD(Layer, codes_sq),
    STRUCT(Cache), FIELD(Cache, x), FIELD(Cache, tokens), FIELD(Cache, k), FIELD(Cache, v), FIELD(Cache, codes),
    FIELD(Cache, q), FIELD(Cache, rows_of), FIELD(Cache, T),
};
#undef STRUCT
#undef FIELD

i64 incls_layout(char *out, i64 room) {
    i64 used = 0;
    for (size_t i = 0; i < sizeof LAYOUT / sizeof LAYOUT[0]; i++)
        used += snprintf(out + (used < room ? used : room), (size_t)(used < room ? room - used : 0), "%s %lld\n",
                         LAYOUT[i].name, (long long)LAYOUT[i].value);
    return used;
}

/* Residual input of storage row s: cached, or (layer 0) its token's embedding. */
static inline const float *input_row(const Model *M, const Cache *C, i64 s) {
    return C->x ? C->x + s * M->d : M->embed + (i64)C->tokens[s] * M->d;
}

/* out (H, hd) float64 = q (H, hd) rotated by W. */
static void rotate_query(const Model *M, const float *q, double *out) {
    i64 hd = M->hd, half = hd / 2;
    for (i64 hh = 0; hh < M->H; hh++, q += hd, out += hd)
        for (i64 k = 0; k < hd; k++) {
            double rot = k < half ? -(double)q[k + half] : (double)q[k - half];
            out[k] = (double)q[k] * M->win_cos[k] + rot * M->win_sin[k];
        }
}

/* Store n rows: residual inputs x (n, d) (when the cache keeps them), k and v, and the
 * queries (when the cache keeps them; else only the k and v rows of w_qkv are multiplied).
 * dst (n,): the rows' storage rows. */
int incls_project(const Model *M, const Layer *Ly, Cache *C, const float *x, const i64 *dst, i64 n, int threads) {
    i64 d = M->d, kv = M->Hkv * M->hd, q_cols = C->q ? M->H * M->hd : 0, b = q_cols + 2 * kv;
    const char *w = (const char *)Ly->w_qkv + (M->H * M->hd - q_cols) * d * (Ly->qkv_f16 ? 2 : 4);
    float *h = malloc(sizeof(float) * n * (d + b));                 /* normed rows, then [q |] k | v */
    if (!h) return -1;
    float *out = h + n * d;
    rms_norm_rows(x, n, d, Ly->ln1, (float)M->eps, h);
    matmul(h, n, d, (Weights){w, (int)Ly->qkv_f16}, b, out, threads);
    for (i64 r = 0; r < n; r++) {
        i64 s = dst[r];
        const float *row = out + r * b;
        if (C->x) memcpy(C->x + s * d, x + r * d, sizeof(float) * d);
        if (C->q) memcpy(C->q + s * M->H * M->hd, row, sizeof(float) * M->H * M->hd);
        memcpy(C->k + s * kv, row + q_cols, sizeof(float) * kv);
        memcpy(C->v + s * kv, row + q_cols + kv, sizeof(float) * kv);
    }
    free(h);
    return 0;
}

/* The rest of a layer for n storage rows src (n,): residual add of the attention block (one
 * table row per head and code) and the gated MLP; out (n, d). */
int incls_finish(const Model *M, const Layer *Ly, const Cache *C, const i64 *src, i64 n, float *out, int threads) {
    i64 d = M->d, H = M->H, dff = M->dff;
    float *x = malloc(sizeof(float) * (2 * n * d + 3 * n * dff + d));  /* one block of scratch */
    if (!x) return -1;
    float *h = x + n * d, *gu = h + n * d, *act = gu + n * 2 * dff, *t = act + n * dff;
    for (i64 r = 0; r < n; r++) {
        const float *xr = input_row(M, C, src[r]);
        for (i64 k = 0; k < d; k++) t[k] = 0.0f;
        for (i64 hh = 0; hh < H; hh++) {
            const float *row = Ly->table + (hh * M->K + C->codes[src[r] * H + hh]) * d;
            for (i64 k = 0; k < d; k++) t[k] += row[k];
        }
        for (i64 k = 0; k < d; k++) x[r * d + k] = xr[k] + t[k];
    }
    rms_norm_rows(x, n, d, Ly->ln2, (float)M->eps, h);
    matmul(h, n, d, (Weights){Ly->w_gate_up, (int)Ly->mlp_f16}, 2 * dff, gu, threads);
    for (i64 r = 0; r < n; r++) silu_mul(gu + r * 2 * dff, gu + r * 2 * dff + dff, act + r * dff, dff);
    matmul(act, n, dff, (Weights){Ly->w_down, (int)Ly->mlp_f16}, d, out, threads);
    for (i64 k = 0; k < n * d; k++) out[k] = x[k] + out[k];
    free(x);
    return 0;
}

/* ---- local-window attention and code search (float64) ----------------------------------- */

static inline double dot64(const double *a, const double *b, i64 n) {
#ifdef INCLS_AVX2
    __m256d acc = _mm256_setzero_pd();
    i64 k = 0;
    for (; k + 4 <= n; k += 4) acc = _mm256_fmadd_pd(_mm256_loadu_pd(a + k), _mm256_loadu_pd(b + k), acc);
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(acc), _mm256_extractf128_pd(acc, 1));
    double t = _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
#else
    double lane[4] = {0};
    i64 k = 0;
    for (; k + 4 <= n; k += 4)
        for (int l = 0; l < 4; l++) lane[l] = lane[l] + a[k + l] * b[k + l];
    double t = (lane[0] + lane[2]) + (lane[1] + lane[3]);
#endif
    for (; k < n; k++) t += a[k] * b[k];
    return t;
}

/* Keys position i attends to: its W nearest, and key 0 (a sink) when it is farther. */
static inline i64 window_keys(const Model *M, i64 i) {
    return (i + 1 < M->W ? i + 1 : M->W) + (M->sink && i >= M->W);
}

/* The position of query i's t-th key: i - t for t < W; t = W is the sink. */
static inline i64 window_key(const Model *M, i64 i, i64 t) {
    return t < M->W ? i - t : 0;
}

/* Head outputs of query position i (its query q (H, hd), rotated by W) over its W nearest
 * keys (clipped RoPE), and the sink key 0 beyond them if the model has one, and the nearest
 * code of each head, written into C->codes; returns whether any head's code changed. The
 * score of query i and key i - t is q_i . rotate(k_{i-t}, W - t) * scale, t <= W; the sink
 * is scored as key i - W (t = W: no rotation) and read as key 0. kr ((W + 1) Hkv hd),
 * s (W + 1) and o (hd) are scratch. */
static int window_row_codes(const Model *M, const Layer *Ly, Cache *C, i64 i, const double *q, double *kr,
                            double *s, double *o) {
    i64 H = M->H, Hkv = M->Hkv, hd = M->hd, half = hd / 2, group = H / Hkv;
    i64 row = C->rows_of[i], nk = window_keys(M, i);
    for (i64 t = 0; t < nk; t++) {
        const double *cs = M->rot_cos + t * hd, *sn = M->rot_sin + t * hd;
        for (i64 g = 0; g < Hkv; g++) {
            const float *kj = C->k + (C->rows_of[window_key(M, i, t)] * Hkv + g) * hd;
            double *out = kr + (t * Hkv + g) * hd;
            for (i64 c = 0; c < hd; c++) {
                double rot = c < half ? -(double)kj[c + half] : (double)kj[c - half];
                out[c] = (double)kj[c] * cs[c] - rot * sn[c];
            }
        }
    }
    int moved = 0;
    for (i64 hh = 0; hh < H; hh++) {
        i64 g = hh / group;
        const double *qh = q + hh * hd;
        double mx = -INFINITY;
        for (i64 t = 0; t < nk; t++) {
            s[t] = dot64(qh, kr + (t * Hkv + g) * hd, hd) * M->scale;
            if (s[t] > mx) mx = s[t];
        }
        double Z = 0.0;
        for (i64 c = 0; c < hd; c++) o[c] = 0.0;
        for (i64 t = 0; t < nk; t++) {
            double e = exp(s[t] - mx);
            const float *vj = C->v + (C->rows_of[window_key(M, i, t)] * Hkv + g) * hd;
            Z += e;
            for (i64 c = 0; c < hd; c++) o[c] += e * (double)vj[c];
        }
        /* the output rounded through float32: float64 noise never reaches the choice */
        for (i64 c = 0; c < hd; c++) o[c] = (double)(float)(o[c] / Z);
        i64 best = 0;
        double best_d = INFINITY;
        for (i64 c = 0; c < M->K; c++) {
            double d2 = Ly->codes_sq[hh * M->K + c] - 2.0 * dot64(o, Ly->codebook + (hh * M->K + c) * hd, hd);
            if (d2 < best_d) { best_d = d2; best = c; }   /* ties to the lower index */
        }
        int16_t *slot = C->codes + row * H + hh;
        moved |= *slot != best;
        *slot = (int16_t)best;
    }
    return moved;
}

#define Q_CHUNK 256  /* reached rows whose queries are recomputed at once (bounds the scratch) */

/* Recompute the codes of every position a change reaches in a local layer and return the
 * next layer's dirty positions: those whose codes changed, plus the dirty ones.
 *
 * A dirty position (n,) reaches itself and the W - 1 positions after it; `extra` (e,) are
 * positions reached otherwise (a deleted key was among their W, or the sink changed). The
 * queries of the reached rows are recomputed from their residual inputs (the q rows of
 * w_qkv, rotated by W): the cache keeps none, and a reached row's query is one matmul row,
 * not worth its 8 bytes per number in every row of the document. Writes the dirty rows,
 * sorted, to out (room for n W + e) and returns their count; stats[0] = rows searched (and
 * queries computed), stats[1] = attention terms computed.
 */
i64 incls_window_update(const Model *M, const Layer *Ly, Cache *C, const i64 *dirty, i64 n, const i64 *extra,
                        i64 e, i64 *out, i64 *stats, int threads) {
    i64 T = C->T, W = M->W, d = M->d, qn = M->H * M->hd, per_thread = (W + 1) * (M->Hkv * M->hd + 1) + M->hd;
    int row_threads = n * W + e < 16 ? 1 : threads;
    i64 most = n * W + e;                                       /* at most this many positions reached */
    /* one block: reached positions and two byte arrays; then, once their number is known,
     * another: per-thread attention scratch and a chunk's queries (double), a chunk's
     * inputs, normed inputs and queries (float) */
    i64 *reach = malloc(sizeof(i64) * most + most + T);
    if (!reach) return -1;
    uint8_t *changed = (uint8_t *)(reach + most), *mark = changed + most;   /* mark: 1 reached, 2 dirty */
    memset(mark, 0, T);
    for (i64 a = 0; a < n; a++) {
        mark[dirty[a]] |= 2;
        for (i64 t = 0; t < W && dirty[a] + t < T; t++) mark[dirty[a] + t] |= 1;
    }
    for (i64 a = 0; a < e; a++)
        if (extra[a] < T) mark[extra[a]] |= 1;
    i64 m = 0, terms = 0;
    for (i64 i = 0; i < T; i++)
        if (mark[i]) {
            reach[m++] = i;
            terms += window_keys(M, i);
        }
    i64 chunk = m < Q_CHUNK ? m : Q_CHUNK;
    double *scratch = malloc(sizeof(double) * (per_thread * row_threads + chunk * qn) + sizeof(float) * chunk * (2 * d + qn));
    if (!scratch) {
        free(reach);
        return -1;
    }
    double *q64 = scratch + per_thread * row_threads;
    float *xin = (float *)(q64 + chunk * qn), *h = xin + chunk * d, *qf = h + chunk * d;
    for (i64 c0 = 0; c0 < m; c0 += chunk) {
        i64 c = m - c0 < chunk ? m - c0 : chunk;
        for (i64 r = 0; r < c; r++) memcpy(xin + r * d, input_row(M, C, C->rows_of[reach[c0 + r]]), sizeof(float) * d);
        rms_norm_rows(xin, c, d, Ly->ln1, (float)M->eps, h);
        matmul(h, c, d, (Weights){Ly->w_qkv, (int)Ly->qkv_f16}, qn, qf, threads);  /* the q rows come first */
        for (i64 r = 0; r < c; r++) rotate_query(M, qf + r * qn, q64 + r * qn);
#pragma omp parallel num_threads(row_threads)
        {
            double *kr = scratch + per_thread * omp_get_thread_num();  /* the row's keys, rotated */
            double *s = kr + (W + 1) * M->Hkv * M->hd, *o = s + W + 1;
#pragma omp for schedule(static)
            for (i64 r = 0; r < c; r++)
                changed[c0 + r] = (uint8_t)window_row_codes(M, Ly, C, reach[c0 + r], q64 + r * qn, kr, s, o);
        }
    }
    i64 count = 0;
    for (i64 r = 0; r < m; r++)
        if (changed[r] || (mark[reach[r]] & 2)) out[count++] = reach[r];
    stats[0] = m;
    stats[1] = terms;
    free(scratch);
    free(reach);
    return count;
}
