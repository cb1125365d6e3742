/* PC's inference moves on packed dense networks, member by member (dense_kernel.py builds and calls it).

   For member m and k = 0..steps-1, at the value nodes x_1..x_{L-1} of every hidden layer (pre-activations):
     a_l = f(x_l);  mu_{l+1} = W_l a_l + b_l;  eps_l = x_l - mu_l (mu_1 given: the input is clamped);
     output: r = (t - o) * mask with o = f(mu_L) or mu_L, eps_L = f'(mu_L) r or r;
     x_l <- x_l - gamma (eps_l - f'(x_l) (eps_{l+1} W_l));
     2 E_k = sum of eps_l^2 (hidden) + sum of r^2;  gamma <- gamma * d where 2 E_k >= 2 E_{k-1}.
   Both products are sums of weight rows (mu from the rows of W's transpose, eps W from W's), BLOCK outputs
   at a time in registers. Members run one after another, so that a member's weights stay in the cache
   over all its steps.

   REAL (float or double) and NAME are set by the compiler's command line. */
#include <stdlib.h>
#include <string.h>
#include <tgmath.h>   /* exp and tanh of REAL's type */

#if defined(__x86_64__) && defined(__GNUC__)
#define CLONES __attribute__((target_clones("avx512f", "arch=haswell", "default")))
#else
#define CLONES
#endif
#define INLINE static inline __attribute__((always_inline))   /* into each clone, built for its CPU kind */

typedef REAL vec __attribute__((vector_size(64)));   /* 512 bits; narrower CPUs split it */
typedef REAL vec_at __attribute__((vector_size(64), aligned(sizeof(REAL))));   /* one at any REAL's address */
#define LANES ((long)(sizeof(vec) / sizeof(REAL)))
#define BLOCK (4 * LANES)   /* outputs summed at a time */

enum { IDENTITY, SIGMOID, TANH, RELU, LEAKY_RELU };

INLINE REAL activate(int act, REAL x) {
    switch (act) {
    case SIGMOID: return 1 / (1 + exp(-x));
    case TANH: return tanh(x);
    case RELU: return x > 0 ? x : 0;
    case LEAKY_RELU: return x > 0 ? x : (REAL)0.01 * x;
    default: return x;
    }
}

/* f'(x) from x and fx = f(x), as network.ACTIVATIONS computes it */
INLINE REAL slope(int act, REAL x, REAL fx) {
    switch (act) {
    case SIGMOID: return fx * (1 - fx);
    case TANH: return 1 - fx * fx;
    case RELU: return x > 0 ? 1 : 0;
    case LEAKY_RELU: return x > 0 ? 1 : (REAL)0.01;
    default: return 1;
    }
}

INLINE vec load(const REAL *at) { return *(const vec_at *)at; }
INLINE void store(REAL *at, vec v) { *(vec_at *)at = v; }

/* out = init + sum over r < count of c[r] * rows[r] (rows [count, n], row-major; init NULL for 0). */
INLINE void combine(REAL *restrict out, const REAL *restrict init, const REAL *restrict rows,
                    const REAL *restrict c, long count, long n) {
    long j0 = 0;
    for (; j0 + BLOCK <= n; j0 += BLOCK) {
        vec a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
        if (init) {
            a0 = load(init + j0), a1 = load(init + j0 + LANES);
            a2 = load(init + j0 + 2 * LANES), a3 = load(init + j0 + 3 * LANES);
        }
        for (long r = 0; r < count; r++) {
            const REAL *row = rows + r * n + j0;
            a0 += c[r] * load(row), a1 += c[r] * load(row + LANES);
            a2 += c[r] * load(row + 2 * LANES), a3 += c[r] * load(row + 3 * LANES);
        }
        store(out + j0, a0), store(out + j0 + LANES, a1);
        store(out + j0 + 2 * LANES, a2), store(out + j0 + 3 * LANES, a3);
    }
    for (; j0 + LANES <= n; j0 += LANES) {
        vec a = init ? load(init + j0) : (vec){0};
        for (long r = 0; r < count; r++) a += c[r] * load(rows + r * n + j0);
        store(out + j0, a);
    }
    if (j0 < n) {   /* fewer than LANES left: independent sums, one per output */
        REAL a[LANES];
        for (long v = 0; v < n - j0; v++) a[v] = init ? init[j0 + v] : 0;
        for (long r = 0; r < count; r++)
            for (long v = 0; v < n - j0; v++) a[v] += c[r] * rows[r * n + j0 + v];
        memcpy(out + j0, a, sizeof(REAL) * (n - j0));
    }
}

/* sum of e[i]^2 over i < n, LANES partial sums at a time */
INLINE REAL sum_of_squares(const REAL *restrict e, long n) {
    vec partial = {0};
    long i = 0;
    for (; i + LANES <= n; i += LANES) partial += load(e + i) * load(e + i);
    REAL sum = 0;
    for (long v = 0; v < LANES; v++) sum += partial[v];
    for (; i < n; i++) sum += e[i] * e[i];
    return sum;
}

/* The errors eps_{l+1} [B, n_out] of a hidden layer l+1 (x_next given) or of the output from layer l's
   activities fx [B, n_in], then back = eps_{l+1} W [B, n_in]; returns the sum of the squared errors (at the
   output, of the residual r). wt is W's transpose. */
INLINE REAL layer_pass(const REAL *restrict w, const REAL *restrict wt, const REAL *restrict bias,
                       const REAL *restrict fx, long n_in, long n_out, int B, const REAL *restrict x_next,
                       int act, int on_output, const REAL *restrict t, const REAL *restrict mask,
                       REAL *restrict eps_next, REAL *restrict back) {
    REAL squares = 0;
    for (int b = 0; b < B; b++) {
        REAL *restrict e = eps_next + b * n_out;
        const REAL *target = t + b * n_out, *kept = mask ? mask + b * n_out : NULL;
        combine(e, bias, wt, fx + b * n_in, n_in, n_out);   /* mu, made the error in place */
        if (x_next) {
            for (long i = 0; i < n_out; i++) e[i] = x_next[b * n_out + i] - e[i];
            squares += sum_of_squares(e, n_out);
        } else {
            for (long i = 0; i < n_out; i++) {
                REAL o = on_output ? activate(act, e[i]) : e[i];
                REAL r = kept ? (target[i] - o) * kept[i] : target[i] - o;
                squares += r * r;
                e[i] = on_output ? slope(act, e[i], o) * r : r;
            }
        }
        combine(back + b * n_in, NULL, w, e, n_out, n_in);
    }
    return squares;
}

/* One member's moves. x[l] (l = 1..L-1) points at its value nodes [B, n[l]]; W[l], WT[l], bias[l] at its
   layer l, its transpose and its bias; fx, eps and back are scratch. */
INLINE void member_moves(int L, const long *n, int B, int steps, int act, int on_output, REAL *const *W,
                         REAL *const *WT, REAL *const *bias, REAL **x, const REAL *mu1, const REAL *t,
                         const REAL *mask, REAL gamma, REAL discount, REAL **fx, REAL **eps, REAL *back) {
    REAL previous = NAN;
    for (int k = 0; k < steps; k++) {
        for (int l = 1; l < L; l++)
            for (long j = 0; j < B * n[l]; j++) fx[l][j] = activate(act, x[l][j]);
        for (long j = 0; j < B * n[1]; j++) eps[1][j] = x[1][j] - mu1[j];
        REAL energy2 = sum_of_squares(eps[1], B * n[1]);
        for (int l = 1; l < L; l++) {
            energy2 += layer_pass(W[l], WT[l], bias[l], fx[l], n[l], n[l + 1], B, l + 1 < L ? x[l + 1] : NULL,
                                  act, on_output, t, mask, eps[l + 1], back);
            for (long j = 0; j < B * n[l]; j++)   /* x_l is read no more this step: move it now */
                x[l][j] -= gamma * (eps[l][j] - slope(act, x[l][j], fx[l][j]) * back[j]);
        }
        if (energy2 >= previous) gamma *= discount;
        previous = energy2;
    }
}

INLINE void transpose(REAL *restrict to, const REAL *restrict from, long rows, long cols) {
    for (long i = 0; i < rows; i++)
        for (long j = 0; j < cols; j++) to[j * rows + i] = from[i * cols + j];
}

/* All members' moves. Arrays hold every member, member-major: W[l] [M, n[l+1], n[l]], bias[l] [M, n[l+1]] or
   NULL, x[l] [M, B, n[l]] (l = 1..L-1, moved in place; x[0] unused), mu1 [M, B, n[1]], t and mask [M, B, n[L]]
   (mask may be NULL), gamma and discount [M]. Returns 0, or -1 when out of memory. */
CLONES int NAME(int L, const long *n, int M, int B, int steps, int act, int on_output, REAL *const *W,
                REAL *const *bias, REAL *const *x, const REAL *mu1, const REAL *t, const REAL *mask,
                const REAL *gamma, const REAL *discount) {
    long size = 0;   /* of the scratch, from layer 1 on (the input is clamped): fx, eps, transposes, back */
    for (int l = 1; l <= L; l++) size += 2 * B * n[l] + (l < L ? n[l] * n[l + 1] + B * n[l] : 0);
    REAL *scratch = malloc(sizeof(REAL) * size);
    REAL **at = malloc(sizeof(REAL *) * 6 * (L + 1));
    if (!scratch || !at) {
        free(scratch);
        free(at);
        return -1;
    }
    REAL **fx = at, **eps = at + (L + 1), **WT = at + 2 * (L + 1), **Wm = at + 3 * (L + 1);
    REAL **bm = at + 4 * (L + 1), **xm = at + 5 * (L + 1), *free_at = scratch;
    for (int l = 1; l <= L; l++) {
        fx[l] = free_at;
        eps[l] = free_at + B * n[l];
        free_at += 2 * B * n[l];
        if (l < L) {
            WT[l] = free_at;
            free_at += n[l] * n[l + 1];
        }
    }
    REAL *back = free_at;   /* the rest: B * n[l] for the widest hidden layer at most */
    for (int m = 0; m < M; m++) {
        for (int l = 1; l < L; l++) {
            Wm[l] = W[l] + (long)m * n[l + 1] * n[l];
            bm[l] = bias[l] ? bias[l] + (long)m * n[l + 1] : NULL;
            xm[l] = x[l] + (long)m * B * n[l];
            transpose(WT[l], Wm[l], n[l + 1], n[l]);
        }
        long out = (long)m * B * n[L];
        member_moves(L, n, B, steps, act, on_output, Wm, WT, bm, xm, mu1 + (long)m * B * n[1], t + out,
                     mask ? mask + out : NULL, gamma[m], discount[m], fx, eps, back);
    }
    free(scratch);
    free(at);
    return 0;
}
