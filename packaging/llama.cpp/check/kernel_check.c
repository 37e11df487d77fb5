// Hearth's patched ggml CPU kernels against double-precision references, for one build target.
//
// Built by packaging/llama.cpp/check_targets.py against the ggml-cpu library it compiled for a
// target (SSE4.2, AVX2, AVX-512, aarch64 NEON, ...), and run on this machine when its CPU has
// the target's instructions, or under qemu-user for aarch64. Plain C and ggml's public API
// only, so the same file runs on every target; tests/unit/test_cpu_kernels.py checks the
// library that the environment itself loads in the same way, from Python.
//
// Checks (every one through ggml's graph, as llama.cpp calls it):
//   gelu        the tanh GELU of patch 0001, vector lanes of every width
//   soft_max    the softmax sum of patch 0001
//   flash_attn  patches 0002 (tiled kernel's mask row) and 0004 (blocked rows): F16 and F32
//               K/V, head sizes 64, 68, 72, 256, one to 70 query rows, 1 and 2 threads
// Prints one line per check and exits 0 when all pass, 1 otherwise.

#include "ggml.h"
#include "ggml-cpu.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_HEAD 9
#define N_HEAD_KV 3

static uint64_t rng_state;

static double uniform(double lo, double hi) {  // xorshift64*: the same numbers on every target
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    const uint64_t r = rng_state * 0x2545F4914F6CDD1DULL;
    return lo + (hi - lo) * (double) (r >> 11) / 9007199254740992.0;
}

static struct ggml_context * new_context(size_t bytes) {
    struct ggml_init_params params = {bytes + 64 * 1024 * 1024, NULL, false};
    return ggml_init(params);
}

static int compute(struct ggml_context * ctx, struct ggml_tensor * out, int threads) {
    struct ggml_cgraph * graph = ggml_new_graph(ctx);
    ggml_build_forward_expand(graph, out);
    return ggml_graph_compute_with_ctx(ctx, graph, threads) == GGML_STATUS_SUCCESS;
}

static double gelu_ref(double x) {
    return 0.5 * x * (1.0 + tanh(0.7978845608028654 * x * (1.0 + 0.044715 * x * x)));
}

// GELU over [-12, 12]; 4,096 values, a multiple of every vector width, so every value goes
// through the vector lanes. The stock FP16 table is off by up to ~5e-3 here.
static int check_gelu(void) {
    const int n = 4096;
    struct ggml_context * ctx = new_context(8 * (size_t) n * sizeof(float));
    struct ggml_tensor * x = ggml_new_tensor_1d(ctx, GGML_TYPE_F32, n);
    float * xd = (float *) x->data;
    for (int i = 0; i < n; ++i) {
        xd[i] = (float) (-12.0 + 24.0 * i / (n - 1));
    }
    struct ggml_tensor * y = ggml_gelu(ctx, x);
    int ok = compute(ctx, y, 1);
    double worst = 0.0;
    for (int i = 0; ok && i < n; ++i) {
        const double want = gelu_ref(xd[i]);
        const double got = ((float *) y->data)[i];
        const double err = fabs(got - want) / (1.0 + fabs(want));
        worst = err > worst || isnan(err) ? err : worst;
        if (!isfinite(got)) {
            worst = INFINITY;
        }
    }
    ggml_free(ctx);
    ok = ok && worst < 2e-6;
    printf("gelu        n=%d worst error %.2e %s\n", n, worst, ok ? "ok" : "FAILED");
    return ok;
}

// Softmax over rows of 1,003 values (a tail after the vector lanes), values up to +-20.
static int check_soft_max(void) {
    const int n = 1003, rows = 7;
    struct ggml_context * ctx = new_context(8 * (size_t) n * rows * sizeof(float));
    struct ggml_tensor * x = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, n, rows);
    float * xd = (float *) x->data;
    for (int i = 0; i < n * rows; ++i) {
        xd[i] = (float) uniform(-20.0, 20.0);
    }
    struct ggml_tensor * y = ggml_soft_max(ctx, x);
    int ok = compute(ctx, y, 2);
    double worst = 0.0;
    for (int r = 0; ok && r < rows; ++r) {
        const float * row = xd + (size_t) r * n;
        double mx = -INFINITY, sum = 0.0;
        for (int i = 0; i < n; ++i) {
            mx = row[i] > mx ? row[i] : mx;
        }
        for (int i = 0; i < n; ++i) {
            sum += exp(row[i] - mx);
        }
        for (int i = 0; i < n; ++i) {
            const double want = exp(row[i] - mx) / sum;
            const double got = ((float *) y->data)[(size_t) r * n + i];
            const double err = fabs(got - want) / (want + 1e-30);
            if (!(err <= worst)) {
                worst = want > 1e-30 ? err : worst;
            }
            if (!isfinite(got)) {
                worst = INFINITY;
            }
        }
    }
    ggml_free(ctx);
    ok = ok && worst < 1e-5;
    printf("soft_max    n=%d worst relative error %.2e %s\n", n, worst, ok ? "ok" : "FAILED");
    return ok;
}

// ggml_flash_attn_ext with random Q, K, V, grouped heads (9 over 3, as SmolLM2), a causal mask
// and a padded tail of masked rows, against the softmax(QK^T scale + mask) V in double.
static int check_flash_attn(enum ggml_type kv_type, int d, int n_kv, int n_valid, int n_batch,
                            int threads) {
    rng_state = 0x9E3779B97F4A7C15ULL ^ (uint64_t) (n_kv * 10 + n_batch + d);
    const size_t nq = (size_t) d * n_batch * N_HEAD, nk = (size_t) d * n_kv * N_HEAD_KV;
    struct ggml_context * ctx = new_context(4 * (nq * 2 + nk * 2) + 2 * (size_t) n_kv * n_batch);
    struct ggml_tensor * q = ggml_new_tensor_4d(ctx, GGML_TYPE_F32, d, n_batch, N_HEAD, 1);
    struct ggml_tensor * k = ggml_new_tensor_4d(ctx, kv_type, d, n_kv, N_HEAD_KV, 1);
    struct ggml_tensor * v = ggml_new_tensor_4d(ctx, kv_type, d, n_kv, N_HEAD_KV, 1);
    struct ggml_tensor * m = ggml_new_tensor_4d(ctx, GGML_TYPE_F16, n_kv, n_batch, 1, 1);
    double * k64 = malloc(nk * sizeof(double));
    double * v64 = malloc(nk * sizeof(double));
    double * s = malloc((size_t) n_kv * sizeof(double));
    for (size_t i = 0; i < nq; ++i) {
        ((float *) q->data)[i] = (float) uniform(-2.0, 2.0);
    }
    for (int which = 0; which < 2; ++which) {  // K in [-2, 2], V in [-1, 1], as stored
        struct ggml_tensor * t = which ? v : k;
        double * ref = which ? v64 : k64;
        const double lim = which ? 1.0 : 2.0;
        for (size_t i = 0; i < nk; ++i) {
            const float f = (float) uniform(-lim, lim);
            if (kv_type == GGML_TYPE_F16) {
                ((ggml_fp16_t *) t->data)[i] = ggml_fp32_to_fp16(f);
                ref[i] = ggml_fp16_to_fp32(((ggml_fp16_t *) t->data)[i]);
            } else {
                ((float *) t->data)[i] = f;
                ref[i] = f;
            }
        }
    }
    for (int b = 0; b < n_batch; ++b) {  // the last row sees n_valid positions
        const int visible = n_valid - (n_batch - 1 - b);
        for (int j = 0; j < n_kv; ++j) {
            ((ggml_fp16_t *) m->data)[(size_t) b * n_kv + j] =
                ggml_fp32_to_fp16(j < visible ? 0.0f : -INFINITY);
        }
    }
    const float scale = 1.0f / sqrtf((float) d);
    struct ggml_tensor * out = ggml_flash_attn_ext(ctx, q, k, v, m, scale, 0.0f, 0.0f);
    int ok = compute(ctx, out, threads);
    double worst = 0.0;
    for (int h = 0; ok && h < N_HEAD; ++h) {
        const int hk = h / (N_HEAD / N_HEAD_KV);
        for (int b = 0; b < n_batch; ++b) {
            const float * qr = (const float *) q->data + ((size_t) h * n_batch + b) * d;
            const int visible = n_valid - (n_batch - 1 - b);
            double mx = -INFINITY, sum = 0.0;
            for (int j = 0; j < visible; ++j) {
                const double * kr = k64 + ((size_t) hk * n_kv + j) * d;
                double dot = 0.0;
                for (int c = 0; c < d; ++c) {
                    dot += qr[c] * kr[c];
                }
                s[j] = dot * scale;
                mx = s[j] > mx ? s[j] : mx;
            }
            for (int j = 0; j < visible; ++j) {
                s[j] = exp(s[j] - mx);
                sum += s[j];
            }
            // ggml's result is permuted: [d, n_head, n_batch]
            const float * got = (const float *) out->data + ((size_t) b * N_HEAD + h) * d;
            double err2 = 0.0, norm2 = 0.0;
            for (int c = 0; c < d; ++c) {
                double want = 0.0;
                for (int j = 0; j < visible; ++j) {
                    want += s[j] * v64[((size_t) hk * n_kv + j) * d + c];
                }
                want /= sum;
                const double e = isfinite(got[c]) ? got[c] - want : INFINITY;
                err2 += e * e;
                norm2 += want * want;
            }
            const double rel = sqrt(err2 / norm2);
            worst = rel > worst || isnan(rel) ? rel : worst;
        }
    }
    free(k64);
    free(v64);
    free(s);
    ggml_free(ctx);
    ok = ok && worst < 2e-5;
    printf("flash_attn  %s d=%d n_kv=%d valid=%d rows=%d threads=%d worst relative error %.2e %s\n",
           kv_type == GGML_TYPE_F16 ? "f16" : "f32", d, n_kv, n_valid, n_batch, threads, worst,
           ok ? "ok" : "FAILED");
    return ok;
}

int main(int argc, char ** argv) {
    const int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;  // under an emulator
    ggml_cpu_init();
    rng_state = 0x243F6A8885A308D3ULL;
    int failed = 0;
    failed += !check_gelu();
    failed += !check_soft_max();
    static const int cases[][3] = {
        {256, 1, 1},        // the first token
        {256, 77, 1},       // a block and a part of one, the rest masked
        {768, 700, 3},      // a few rows of a prompt
        {3840, 3715, 1},    // a token late in a long conversation
        {4096, 4096, 70},   // a prompt batch (the tiled kernel)
    };
    for (int t = 0; t < 2; ++t) {
        const enum ggml_type type = t ? GGML_TYPE_F32 : GGML_TYPE_F16;
        for (int threads = 1; threads <= 2; ++threads) {
            for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); ++c) {
                int n_kv = cases[c][0], n_valid = cases[c][1];
                if (quick && cases[c][2] == 70) {
                    if (threads == 1) {
                        continue;  // the prompt batch once (two threads) is enough emulated
                    }
                    // A quarter of the keys: still 16 tiles of 64 with a masked tail, the
                    // tiled kernel's every path, in a quarter of the emulated time (SVE
                    // under qemu took 8 minutes with 4096).
                    n_kv = 1024;
                    n_valid = 1000;
                }
                failed += !check_flash_attn(type, 64, n_kv, n_valid, cases[c][2], threads);
            }
            static const int heads[] = {68, 72, 256};  // a part of a 32-value step; Gemma 3
            for (size_t h = 0; h < sizeof(heads) / sizeof(heads[0]); ++h) {
                failed += !check_flash_attn(type, heads[h], 1280, 1203, 1, threads);
            }
        }
    }
    printf("%s: %d check(s) failed\n", failed ? "FAILED" : "passed", failed);
    return failed ? 1 : 0;
}
