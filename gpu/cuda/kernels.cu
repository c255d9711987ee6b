// CUDA kernels of airanode's CUDA device (reproducibility class cuda-v1). Compiled to PTX by
// `make ptx` (kernels.ptx is committed and embedded), loaded with the driver API; no cuBLAS, no NVRTC.
//
// Determinism rules (DESIGN.md §7, docs/gpu.md): no atomics anywhere; every reduction has an order
// fixed by this code and by launch geometry that never depends on the card (block sizes are
// constants below); fused multiply-adds are explicit (fmaf) and contraction is disabled at compile
// time (-fmad=false) so the compiler never fuses on its own.
//
// Scalars: every kernel parameter is 8 bytes wide (gorgonia.org/cu copies 8 bytes per parameter):
// integers are long long, floats are passed as the low 32 bits of an 8-byte slot (declared float).

#define RED 256  // threads of every row-reduction block
// The staged chain kernels (norm_cols, k_sumsq_part): STAGED threads per block serve CHAIN_COLS
// chains (ptx.go: stagedBlock, chainCols, which TestGeometryMatchesKernels ties to these) and load
// CHAIN_ROWS rows (norm_cols) or SUMSQ_TILE elements (k_sumsq_part) of each at a time. Their index
// math assumes exactly STAGED threads.
#define STAGED 256
#define CHAIN_COLS 8
#define CHAIN_ROWS 256

// Dynamic shared memory, 16-byte aligned (the vector loads); the host emulation (emu/cuda_emu.h)
// defines its own.
#ifndef DYNAMIC_SHARED
#define DYNAMIC_SHARED(T, name) extern __shared__ __align__(16) T name[]
#endif

typedef long long i64;

// BLOCKS(n) is __launch_bounds__(256, n) on the GPU: the compiler keeps to the registers that n
// blocks of 256 threads per multiprocessor leave, at most 65536/(256·n) per thread. Left alone, the
// tiled attention forward and dk/dv kernels took 141 and 136 registers (ptxas 11.8 for sm_90), one
// block per multiprocessor, and they wait on memory and barriers more than they compute.
// `make ptx-regs` shows every kernel's registers and spills.
#ifdef __CUDA_ARCH__
#define BOUNDS(threads, n) __launch_bounds__(threads, n)
#else
#define BOUNDS(threads, n)
#endif
#define BLOCKS(n) BOUNDS(256, n)

__device__ __forceinline__ i64 gid() { return (i64)blockIdx.x * blockDim.x + threadIdx.x; }

// Fixed-order block maximum of RED values held in shared memory s (tree, strides halving).
__device__ float block_max(float* s) {
  __syncthreads();
  for (int w = RED / 2; w > 0; w >>= 1) {
    if (threadIdx.x < w) s[threadIdx.x] = fmaxf(s[threadIdx.x], s[threadIdx.x + w]);
    __syncthreads();
  }
  float r = s[0];
  __syncthreads();
  return r;
}

// ---- math: ours, no vendor library ----
// Every transcendental function here is a port, operation for operation, of the CPU device's
// (gpu/cpu/vec.go's kexp, the float32 kernels' exponential) or of gpu/fmath's (float64 polynomials
// with explicit fma). With contraction disabled (-fmad=false) and IEEE division and square root
// (nvcc's defaults), every operation is correctly rounded, so a function's bits are the CPU's on
// every card: the PTX holds no approximate instruction (TestPTXNoApprox). Class cuda-v1 therefore
// does not depend on the card's math library, and every kernel below gives the CPU device's bits
// (make cuda-emu).
__device__ __forceinline__ unsigned f2u(float x) { unsigned u; memcpy(&u, &x, 4); return u; }
__device__ __forceinline__ float u2f(unsigned u) { float x; memcpy(&x, &u, 4); return x; }
__device__ __forceinline__ unsigned long long d2u(double x) { unsigned long long u; memcpy(&u, &x, 8); return u; }
__device__ __forceinline__ double u2d(unsigned long long u) { double x; memcpy(&x, &u, 8); return x; }

// kexp: gpu/cpu's kexp (Cephes' expf with a clamp): 0 below -86.5, e^88.3 above 88.3, NaN for NaN.
__device__ __forceinline__ float kexp(float x) {
  if (x != x) return x;
  if (x < -86.5f) return 0.0f;
  if (x > 88.3f) x = 88.3f;
  float t = x * 1.44269504088896341f + 12582912.0f;
  float n = t - 12582912.0f;
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float z = r * r;
  float p = 1.9875691500e-4f * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  float y = p * z + r + 1.0f;
  return u2f(f2u(y) + (f2u(t) << 23));
}
// ksigm: gpu/cpu's ksigmoid, 1/(1+kexp(-x)).
__device__ __forceinline__ float ksigm(float x) { return 1.0f / (1.0f + kexp(-x)); }

#define FM_ROUND 6755399441055744.0           // 1.5·2^52
#define FM_LOG2E 1.44269504088896338700e+00
#define FM_LN2 6.93147180559945286227e-01
#define FM_MAXROUND 3.4028235677973366e+38     // the smallest float64 that rounds to +Inf in float32
#define FM_SQRT2 1.4142135623730951

// fm_expk: gpu/fmath's expk, e^d for |d| <= 700.
__device__ __forceinline__ double fm_expk(double d) {
  double kf = (d * FM_LOG2E + FM_ROUND) - FM_ROUND;
  double r = fma(-kf, FM_LN2, d);
  double q = fma(1.0 / 40320, r, 1.0 / 5040);
  q = fma(q, r, 1.0 / 720);
  q = fma(q, r, 1.0 / 120);
  q = fma(q, r, 1.0 / 24);
  q = fma(q, r, 1.0 / 6);
  q = fma(q, r, 1.0 / 2);
  q = fma(q, r, 1.0);
  q = fma(q, r, 1.0);
  return q * u2d((unsigned long long)((long long)kf + 1023) << 52);
}
// fm_to32: gpu/fmath's to32, float64 to float32 with values beyond the range mapped to ±Inf.
__device__ __forceinline__ float fm_to32(double d) {
  if (d >= FM_MAXROUND) return INFINITY;
  if (d <= -FM_MAXROUND) return -INFINITY;
  return (float)d;
}
// fm_exp: gpu/fmath's Exp.
__device__ __forceinline__ float fm_exp(float x) {
  if (x != x) return x;
  if (x > 89.0f) return INFINITY;
  if (x < -104.0f) return 0.0f;
  return fm_to32(fm_expk((double)x));
}
// fm_sigmoid: gpu/fmath's Sigmoid.
__device__ __forceinline__ float fm_sigmoid(float x) {
  if (x != x) return x;
  if (x > 20.0f) return 1.0f;
  if (x < -110.0f) return 0.0f;
  return (float)(1.0 / (1.0 + fm_expk(-(double)x)));
}
// fm_logk: gpu/fmath's logk, ln d for a positive finite d.
__device__ __forceinline__ double fm_logk(double d) {
  unsigned long long b = d2u(d);
  int e = (int)((b >> 52) & 0x7ff) - 1023;
  if (e == -1023) {  // subnormal: normalise
    d = d * 18014398509481984.0;  // 2^54
    b = d2u(d);
    e = (int)((b >> 52) & 0x7ff) - 1023 - 54;
  }
  double m = u2d((b & ((1ull << 52) - 1)) | (1023ull << 52));
  if (m > FM_SQRT2) { m = m * 0.5; e++; }
  double f = m - 1.0;
  double s = f / (2.0 + f);
  double s2 = s * s;
  double p = fma(1.0 / 9, s2, 1.0 / 7);
  p = fma(p, s2, 1.0 / 5);
  p = fma(p, s2, 1.0 / 3);
  p = p * s2;
  double s2x = s + s;
  double lm = fma(s2x, p, s2x);
  return fma((double)e, FM_LN2, lm);
}
// fm_log: gpu/fmath's Log.
__device__ __forceinline__ float fm_log(float x) {
  if (x != x || x == INFINITY) return x;
  if (x < 0.0f) return NAN;
  if (x == 0.0f) return -INFINITY;
  return (float)fm_logk((double)x);
}
// fm_softplus: gpu/fmath's Softplus.
__device__ __forceinline__ float fm_softplus(float x) {
  if (x != x) return x;
  if (x > 20.0f) return x;
  if (x < -104.0f) return 0.0f;
  double e = fm_expk((double)x);
  if (e < 1.0 / 1024) {
    double p = fma(-0.25, e, 1.0 / 3);
    p = fma(p, e, -0.5);
    return (float)fma(p * e, e, e);
  }
  return (float)fm_logk(1.0 + e);
}

// fm_exp64 and fm_log64: gpu/fmath's Exp64 and Log64 (fdlibm's algorithms, every product rounded).
__device__ __forceinline__ double fm_ldexp(double frac, int e) {
  unsigned long long b = d2u(frac);
  e += (int)((b >> 52) & 0x7ff) - 1023;
  double r;
  if (e > 1023) r = INFINITY;
  else if (e < -1075) r = 0.0;
  else if (e < -1022) r = u2d((b & ~(0x7ffull << 52)) | ((unsigned long long)(e + 53 + 1023) << 52)) * 0x1p-53;
  else r = u2d((b & ~(0x7ffull << 52)) | ((unsigned long long)(e + 1023) << 52));
  return r;
}
__device__ __forceinline__ double fm_exp64(double x) {
  const double ln2Hi = 6.93147180369123816490e-01, ln2Lo = 1.90821492927058770002e-10;
  double res;
  if (x != x) res = x;
  else if (x > 7.09782712893383973096e+02) res = INFINITY;
  else if (x < -7.45133219101941108420e+02) res = 0.0;
  else if (-1.0 / (1 << 28) < x && x < 1.0 / (1 << 28)) res = 1.0 + x;
  else {
    int k = x < 0 ? (int)(FM_LOG2E * x - 0.5) : (int)(FM_LOG2E * x + 0.5);
    double hi = x - (double)k * ln2Hi;
    double lo = (double)k * ln2Lo;
    double r = hi - lo;
    double t = r * r;
    double p = -1.65339022054652515390e-06 + t * 4.13813679705723846039e-08;
    p = 6.61375632143793436117e-05 + t * p;
    p = -2.77777777770155933842e-03 + t * p;
    p = 1.66666666666666657415e-01 + t * p;
    double c = r - t * p;
    double y = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi);
    res = fm_ldexp(y, k);
  }
  return res;
}
__device__ __forceinline__ double fm_log64(double x) {
  const double ln2Hi = 6.93147180369123816490e-01, ln2Lo = 1.90821492927058770002e-10;
  if (x != x || x == INFINITY) return x;
  if (x < 0) return NAN;
  if (x == 0) return -INFINITY;
  unsigned long long b = d2u(x);
  int ki = (int)((b >> 52) & 0x7ff) - 1022;
  if (ki == -1022) {  // subnormal
    x = x * 4503599627370496.0;  // 2^52
    b = d2u(x);
    ki = (int)((b >> 52) & 0x7ff) - 1022 - 52;
  }
  double f1 = u2d((b & ~(0x7ffull << 52)) | (1022ull << 52));
  if (f1 < FM_SQRT2 / 2) { f1 = f1 * 2; ki--; }
  double f = f1 - 1, k = (double)ki;
  double s = f / (2 + f);
  double s2 = s * s;
  double s4 = s2 * s2;
  double t1 = 1.818357216161805012e-01 + s4 * 1.479819860511658591e-01;
  t1 = 2.857142874366239149e-01 + s4 * t1;
  t1 = 6.666666666666735130e-01 + s4 * t1;
  t1 = s2 * t1;
  double t2 = 2.222219843214978396e-01 + s4 * 1.531383769920937332e-01;
  t2 = 3.999999999940941908e-01 + s4 * t2;
  t2 = s4 * t2;
  double R = t1 + t2;
  double hfsq = (0.5 * f) * f;
  return k * ln2Hi - ((hfsq - (s * (hfsq + R) + k * ln2Lo)) - f);
}

// fm_sincos: gpu/fmath's SinCos(float64) (Cody–Waite reduction below 2^25, Payne–Hanek with 256
// bits of 2/π above, Taylor kernels), each result rounded once to float32.
#define FM_PIO2A 1.5707963267948966
#define FM_PIO2B 6.123233995736766e-17
#define FM_PIO2C -1.4973849048591698e-33
#define FM_TWOOPI 0.6366197723675814
#define FM_CWLIMIT 33554432.0  // 2^25
__device__ __forceinline__ unsigned long long fm_twooverpi(int i) {
  return i == 0 ? 0xa2f9836e4e441529ull : i == 1 ? 0xfc2757d1f534ddc0ull : i == 2 ? 0xdb6295993c439041ull : 0xfe5163abdebbc561ull;
}
__device__ __forceinline__ double fm_reduce(double ax, int* q) {
  if (ax < FM_CWLIMIT) {
    double kf = (ax * FM_TWOOPI + FM_ROUND) - FM_ROUND;
    double r = fma(-kf, FM_PIO2A, ax);
    r = fma(-kf, FM_PIO2B, r);
    r = fma(-kf, FM_PIO2C, r);
    *q = (int)(long long)kf & 3;
    return r;
  }
  unsigned bx = f2u((float)ax);
  int e = (int)(bx >> 23) - 150;
  unsigned long long m = (unsigned long long)((bx & ((1u << 23) - 1)) | (1u << 23));
  int idx = e - 2, w = idx / 64;
  unsigned sh = (unsigned)(idx % 64);
  unsigned long long w0 = fm_twooverpi(w), w1 = fm_twooverpi(w + 1), w2 = fm_twooverpi(w + 2);
  unsigned long long hi = (w0 << sh) | (sh ? w1 >> (64 - sh) : 0);
  unsigned long long lo = (w1 << sh) | (sh ? w2 >> (64 - sh) : 0);
  unsigned long long c1 = __umul64hi(lo, m), p0 = lo * m;
  unsigned long long p1 = hi * m + c1;
  int qq = (int)(p1 >> 62);
  double f = fma((double)(p1 & ((1ull << 62) - 1)), 0x1p-62, (double)p0 * 0x1p-126);
  if (f >= 0.5) { f = f - 1; qq = (qq + 1) & 3; }
  *q = qq;
  return f * FM_PIO2A;
}
__device__ __forceinline__ double fm_sink(double r) {
  double r2 = r * r;
  double p = fma(-1.0 / 6227020800, r2, 1.0 / 39916800);
  p = fma(p, r2, -1.0 / 362880);
  p = fma(p, r2, 1.0 / 5040);
  p = fma(p, r2, -1.0 / 120);
  p = fma(p, r2, 1.0 / 6);
  p = p * r2;
  return fma(-p, r, r);
}
__device__ __forceinline__ double fm_cosk(double r) {
  double r2 = r * r;
  double p = fma(-1.0 / 87178291200, r2, 1.0 / 479001600);
  p = fma(p, r2, -1.0 / 3628800);
  p = fma(p, r2, 1.0 / 40320);
  p = fma(p, r2, -1.0 / 720);
  p = fma(p, r2, 1.0 / 24);
  p = fma(p, r2, -1.0 / 2);
  return fma(p, r2, 1.0);
}
__device__ __forceinline__ void fm_sincos(double x, float* sn, float* cs) {
  if (x != x || x == INFINITY || x == -INFINITY) {
    *sn = NAN; *cs = NAN;
    return;
  }
  bool neg = (d2u(x) >> 63) != 0;
  double ax = neg ? -x : x;
  if (ax >= FM_CWLIMIT) {
    ax = (double)(float)ax;
    if (ax > 3.40282346638528859811704183484516925440e+38) { *sn = NAN; *cs = NAN; return; }
  }
  int q;
  double r = fm_reduce(ax, &q);
  double sr = fm_sink(r), cr = fm_cosk(r), s, c;
  switch (q) {
    case 0: s = sr; c = cr; break;
    case 1: s = cr; c = -sr; break;
    case 2: s = -sr; c = -cr; break;
    default: s = -cr; c = sr; break;
  }
  if (neg) s = -s;
  *sn = (float)s; *cs = (float)c;
}

// ---- elementwise ----
extern "C" __global__ void k_fill(float* x, i64 n, float v) { i64 i = gid(); if (i < n) x[i] = v; }
extern "C" __global__ void k_add(float* d, const float* a, const float* b, i64 n) { i64 i = gid(); if (i < n) d[i] = a[i] + b[i]; }
extern "C" __global__ void k_addin(float* d, const float* s, i64 n) { i64 i = gid(); if (i < n) d[i] = d[i] + s[i]; }
extern "C" __global__ void k_scale(float* x, i64 n, float s) { i64 i = gid(); if (i < n) x[i] = x[i] * s; }
extern "C" __global__ void k_mul(float* o, const float* a, const float* b, i64 n) { i64 i = gid(); if (i < n) o[i] = a[i] * b[i]; }
extern "C" __global__ void k_mul_bwd(float* da, float* db, const float* dout, const float* a, const float* b, i64 n) {
  i64 i = gid(); if (i < n) { da[i] = dout[i] * b[i]; db[i] = dout[i] * a[i]; }
}
// The activations: gpu/cpu's formulas (vec.go's geluGo, siluGo, swigluGo and their backwards;
// elementwise.go's softplus and NegExp) operation for operation, so the CPU device's bits.
extern "C" __global__ void k_silu(float* o, const float* x, i64 n) { i64 i = gid(); if (i < n) { float v = x[i]; o[i] = v * ksigm(v); } }
extern "C" __global__ void k_silu_bwd(float* dx, const float* dout, const float* x, i64 n) {
  i64 i = gid();
  if (i < n) { float v = x[i], s = ksigm(v); dx[i] = dout[i] * (s + (v * s) * (1.0f - s)); }
}
extern "C" __global__ void k_swiglu(float* o, const float* g, const float* u, i64 n) {
  i64 i = gid();
  if (i < n) { float v = g[i]; o[i] = (v * ksigm(v)) * u[i]; }
}
extern "C" __global__ void k_swiglu_bwd(float* dg, float* du, const float* dout, const float* g, const float* u, i64 n) {
  i64 i = gid();
  if (i < n) {
    float v = g[i], y = dout[i], s = ksigm(v);
    float silu = v * s;
    dg[i] = (y * u[i]) * (s + silu * (1.0f - s));
    du[i] = y * silu;
  }
}
// GELU, tanh approximation: ½x(1+tanh(√(2/π)(x+0.044715x³))) = x·σ(2√(2/π)(x+0.044715x³)).
#define GELU_C1 1.5957691216057308f  // 2·√(2/π)
#define GELU_C2 0.044715f
#define GELU_C3 0.134145f            // 3·0.044715
extern "C" __global__ void k_gelu(float* o, const float* x, i64 n) {
  i64 i = gid();
  if (i < n) {
    float v = x[i], x2 = v * v;
    float z = GELU_C1 * (v + GELU_C2 * (x2 * v));
    o[i] = v * ksigm(z);
  }
}
extern "C" __global__ void k_gelu_bwd(float* dx, const float* dout, const float* x, i64 n) {
  i64 i = gid();
  if (i < n) {
    float v = x[i], x2 = v * v;
    float z = GELU_C1 * (v + GELU_C2 * (x2 * v));
    float s = ksigm(z);
    float dz = GELU_C1 * (1.0f + GELU_C3 * x2);
    dx[i] = dout[i] * (s + (v * (s * (1.0f - s))) * dz);
  }
}
extern "C" __global__ void k_softplus(float* o, const float* x, i64 n) { i64 i = gid(); if (i < n) o[i] = fm_softplus(x[i]); }
extern "C" __global__ void k_softplus_bwd(float* dx, const float* dout, const float* x, i64 n) {
  i64 i = gid(); if (i < n) dx[i] = dout[i] * fm_sigmoid(x[i]);
}
extern "C" __global__ void k_negexp(float* o, const float* x, i64 n) { i64 i = gid(); if (i < n) o[i] = -fm_exp(x[i]); }

// Sum of squares into out[0] as double, in gpu/cpu's order (so its bits, where x is the same): every
// block of SUMSQ_BLOCK elements summed alone in index order (k_sumsq_part; a float32 squared is exact
// in float64), then the block sums in block order (k_sumsq_sum, one thread). As in norm_cols, a block
// of 256 threads serves CHAIN_COLS sums: all its threads load SUMSQ_TILE consecutive elements of each
// (a warp reads 32 consecutive floats; the next tile goes into registers while the current one is
// summed) and warp 0's thread c carries sum c's chain through them.
#define SUMSQ_BLOCK 4096
#define SUMSQ_TILE 128
extern "C" __global__ void k_sumsq_part(double* part, const float* x, i64 n) {
  constexpr int L = CHAIN_COLS * SUMSQ_TILE / STAGED;
  __shared__ float xs[CHAIN_COLS][SUMSQ_TILE + 1];
  const int tid = threadIdx.x;
  const i64 blk0 = (i64)blockIdx.x * CHAIN_COLS;
  float px[L];
  auto load = [&](int k0) {
    for (int l = 0; l < L; l++) {
      int e = tid + STAGED * l, c = e / SUMSQ_TILE, k = e % SUMSQ_TILE;
      i64 at = (blk0 + c) * SUMSQ_BLOCK + k0 + k;
      px[l] = at < n ? x[at] : 0.0f;
    }
  };
  load(0);
  double s = 0.0;
  const i64 lo = (blk0 + tid) * SUMSQ_BLOCK;
  for (int k0 = 0; k0 < SUMSQ_BLOCK; k0 += SUMSQ_TILE) {
    for (int l = 0; l < L; l++) {
      int e = tid + STAGED * l;
      xs[e / SUMSQ_TILE][e % SUMSQ_TILE] = px[l];
    }
    __syncthreads();
    if (k0 + SUMSQ_TILE < SUMSQ_BLOCK) load(k0 + SUMSQ_TILE);
    if (tid < CHAIN_COLS && lo + k0 < n) {
      const int m = n - (lo + k0) < SUMSQ_TILE ? (int)(n - (lo + k0)) : SUMSQ_TILE;
#pragma unroll 8
      for (int k = 0; k < m; k++) {
        double f = (double)xs[tid][k];
        s = s + f * f;
      }
    }
    __syncthreads();
  }
  if (tid < CHAIN_COLS && lo < n) part[blk0 + tid] = s;
}
extern "C" __global__ void k_sumsq_sum(double* out, const double* part, i64 nb) {
  if (gid() == 0) {
    double s = 0.0;
    for (i64 b = 0; b < nb; b++) s = s + part[b];
    out[0] = s;
  }
}

// ---- embeddings ----
// Kernels that index by token ids or targets set *bad to 1 when one is outside the table or the
// vocabulary, and leave what it would have addressed alone; the device reports it as ErrIndex at the
// next synchronisation (the CPU device refuses such a call before it writes anything).
extern "C" __global__ void k_embed(float* out, const float* table, const int* tok, i64 rows, i64 V, i64 d, int* bad) {
  i64 i = gid();
  if (i < rows * d) {
    i64 r = i / d, j = i % d;
    int t = tok[r];
    if (t < 0 || t >= V) { bad[0] = 1; out[i] = 0.0f; return; }
    out[i] = table[(i64)t * d + j];
  }
}
// dtable[v, j] += Σ_{r: tok[r]==v} dout[r, j], r increasing. One thread per (v, j); the ids pass
// through shared memory EMBED_TOKS at a time. The grid checks the ids, each thread a few.
#define EMBED_TOKS 1024
extern "C" __global__ void k_embed_bwd(float* dtable, const float* dout, const int* tok, i64 rows, i64 V, i64 d, int* bad) {
  __shared__ int ts[EMBED_TOKS];
  const i64 i = gid();
  for (i64 r = i; r < rows; r += (i64)gridDim.x * blockDim.x)
    if (tok[r] < 0 || tok[r] >= V) bad[0] = 1;
  const bool live = i < V * d;
  const i64 v = live ? i / d : -1, j = live ? i % d : 0;
  float acc = live ? dtable[i] : 0.0f;
  for (i64 r0 = 0; r0 < rows; r0 += EMBED_TOKS) {
    const int n = rows - r0 < EMBED_TOKS ? (int)(rows - r0) : EMBED_TOKS;
    for (int q = threadIdx.x; q < n; q += blockDim.x) ts[q] = tok[r0 + q];
    __syncthreads();
    if (live)
      for (int q = 0; q < n; q++)
        if (ts[q] == v) acc = acc + dout[(r0 + q) * d + j];
    __syncthreads();
  }
  if (live) dtable[i] = acc;
}
extern "C" __global__ void k_addpos(float* x, const float* pos, i64 B, i64 T, i64 d) {
  i64 i = gid(); if (i < B * T * d) { i64 td = i % (T * d); x[i] = x[i] + pos[td]; }
}
extern "C" __global__ void k_addpos_bwd(float* dpos, const float* dx, i64 B, i64 T, i64 d) {
  i64 i = gid();
  if (i < T * d) { float acc = dpos[i]; for (i64 b = 0; b < B; b++) acc = acc + dx[b * T * d + i]; dpos[i] = acc; }
}

// ---- row reductions in gpu/cpu's order ----
// The CPU device sums a row in eight float64 lanes (element j in lane j mod 8, increasing j) combined
// as ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)) (gpu/cpu/vec.go, vec_norm.go). Here a block of 256 threads
// takes LR rows, 8 threads per row, thread (row, lane) summing its lane in order; lanes8 combines
// them the same way. With the CPU's formulas for everything else, a row kernel gives the CPU
// device's bits.
#define LR 32
__device__ __forceinline__ double lanes8(const double* s) { return ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7])); }
__device__ __forceinline__ float lanes8f(const float* s) { return ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7])); }

// ---- normalisation ----
extern "C" __global__ void k_rmsnorm(float* out, float* rstd, const float* x, const float* w, i64 rows, i64 d, float eps) {
  __shared__ double ls[LR * 8];
  int lane = threadIdx.x % 8, rr = threadIdx.x / 8;
  i64 r = (i64)blockIdx.x * LR + rr;
  bool live = r < rows;
  const float* xr = x + (live ? r : 0) * d;
  double s = 0.0;
  if (live)
    for (i64 j = lane; j < d; j += 8) { double f = (double)xr[j]; s = s + f * f; }
  ls[threadIdx.x] = s;
  __syncthreads();
  if (!live) return;
  float rs = (float)(1.0 / sqrt(lanes8(ls + rr * 8) / (double)d + (double)eps));
  for (i64 j = lane; j < d; j += 8) out[r * d + j] = (xr[j] * rs) * w[j];
  if (lane == 0) rstd[r] = rs;
}
// dx = rs·(g·w − x·c), c = rs²·⟨g·w, x⟩/d.
extern "C" __global__ void k_rmsnorm_bwd_dx(float* dx, const float* dout, const float* x, const float* w, const float* rstd, i64 rows, i64 d) {
  __shared__ double ls[LR * 8];
  int lane = threadIdx.x % 8, rr = threadIdx.x / 8;
  i64 r = (i64)blockIdx.x * LR + rr;
  bool live = r < rows;
  const float* xr = x + (live ? r : 0) * d;
  const float* gr = dout + (live ? r : 0) * d;
  double s = 0.0;
  if (live)
    for (i64 j = lane; j < d; j += 8) s = s + (double)(gr[j] * w[j]) * (double)xr[j];
  ls[threadIdx.x] = s;
  __syncthreads();
  if (!live) return;
  float rs = rstd[r];
  float c = (float)((double)rs * (double)rs * lanes8(ls + rr * 8) / (double)d);
  for (i64 j = lane; j < d; j += 8) dx[r * d + j] = rs * ((gr[j] * w[j]) - (xr[j] * c));
}
// The parameter gradients: every column sums its rows in increasing order in float64 and adds the
// sum to the gradient once (gpu/cpu's normColsTask). One thread per column walking every row alone
// waits on memory every few rows, so the loads are shared out: a block of 256 threads serves
// CHAIN_COLS columns; all its threads load a tile of CHAIN_ROWS rows × CHAIN_COLS columns (along the
// columns, so a warp reads CHAIN_COLS consecutive floats of each of a few rows; the next tile goes
// into registers while the current one is summed) and put each term into shared memory as the float64 it adds — a product of
// two floats widened to float64 is exact, so where it is computed does not change it — and warp 0's
// thread c carries column c's chains through them, two loads and two float64 additions a row. The
// chains, so the bits, are a lone thread's walking every row.
//   rms: dw[j] += Σ_r dout[r,j]·float32(x[r,j]·rstd[r])
//   ln:  dw[j] += Σ_r dout[r,j]·float32((x[r,j]−mean[r])·rstd[r]), db[j] += Σ_r dout[r,j]
template <bool LN>
__device__ __forceinline__ void norm_cols(float* dw, float* db, const float* dout, const float* x, const float* mean,
                                          const float* rstd, i64 rows, i64 d) {
  constexpr int PASS = STAGED / CHAIN_COLS, L = CHAIN_ROWS / PASS;  // rows per load pass, passes per tile
  __shared__ double ws[CHAIN_ROWS][CHAIN_COLS], bs[CHAIN_ROWS][CHAIN_COLS];  // the terms of dw and db
  const int tid = threadIdx.x, cc = tid % CHAIN_COLS, rr = tid / CHAIN_COLS;
  const i64 j = (i64)blockIdx.x * CHAIN_COLS + cc;
  // The loads keep the raw values and the terms are formed at the store: arithmetic right after a
  // load made every pass wait for its loads before the next pass's were issued.
  float pg[L], px[L], pm[L], pr[L];
  auto load = [&](i64 r0) {
    for (int l = 0; l < L; l++) {
      i64 r = r0 + rr + PASS * l;
      bool in = r < rows && j < d;
      pg[l] = in ? dout[r * d + j] : 0.0f;
      px[l] = in ? x[r * d + j] : 0.0f;
      pm[l] = in && LN ? mean[r] : 0.0f;
      pr[l] = in ? rstd[r] : 0.0f;
    }
  };
  double aw = 0.0, ab = 0.0;
  if (rows > 0) load(0);
  for (i64 r0 = 0; r0 < rows; r0 += CHAIN_ROWS) {
    for (int l = 0; l < L; l++) {
      float h = LN ? (px[l] - pm[l]) * pr[l] : px[l] * pr[l];
      ws[rr + PASS * l][cc] = (double)pg[l] * (double)h;
      if (LN) bs[rr + PASS * l][cc] = (double)pg[l];
    }
    __syncthreads();
    if (r0 + CHAIN_ROWS < rows) load(r0 + CHAIN_ROWS);
    if (tid < CHAIN_COLS) {
      const int n = rows - r0 < CHAIN_ROWS ? (int)(rows - r0) : CHAIN_ROWS;
#pragma unroll 8
      for (int q = 0; q < n; q++) {
        aw = aw + ws[q][tid];
        if (LN) ab = ab + bs[q][tid];
      }
    }
    __syncthreads();
  }
  if (tid < CHAIN_COLS && j < d) {
    dw[j] = (float)((double)dw[j] + aw);
    if (LN) db[j] = (float)((double)db[j] + ab);
  }
}
extern "C" __global__ void k_rmsnorm_bwd_dw(float* dw, const float* dout, const float* x, const float* rstd, i64 rows, i64 d) {
  norm_cols<false>(dw, nullptr, dout, x, nullptr, rstd, rows, d);
}
extern "C" __global__ void k_layernorm(float* out, float* mean, float* rstd, const float* x, const float* w, const float* b, i64 rows, i64 d, float eps) {
  __shared__ double ls[LR * 8];
  int lane = threadIdx.x % 8, rr = threadIdx.x / 8;
  i64 r = (i64)blockIdx.x * LR + rr;
  bool live = r < rows;
  const float* xr = x + (live ? r : 0) * d;
  double s = 0.0;
  if (live)
    for (i64 j = lane; j < d; j += 8) s = s + (double)xr[j];
  ls[threadIdx.x] = s;
  __syncthreads();
  double mu = lanes8(ls + rr * 8) / (double)d;
  __syncthreads();  // every row has read its lanes before they are overwritten
  s = 0.0;
  if (live)
    for (i64 j = lane; j < d; j += 8) { double c = (double)xr[j] - mu; s = s + c * c; }
  ls[threadIdx.x] = s;
  __syncthreads();
  if (!live) return;
  float rs = (float)(1.0 / sqrt(lanes8(ls + rr * 8) / (double)d + (double)eps));
  float m = (float)mu;
  for (i64 j = lane; j < d; j += 8) out[r * d + j] = ((xr[j] - m) * rs) * w[j] + b[j];
  if (lane == 0) { mean[r] = m; rstd[r] = rs; }
}
// dx = rs·((g·w − a) − x̂·bb), a = mean(g·w), bb = mean(g·w·x̂), x̂ = (x − m)·rs.
extern "C" __global__ void k_layernorm_bwd_dx(float* dx, const float* dout, const float* x, const float* w, const float* mean, const float* rstd, i64 rows, i64 d) {
  __shared__ double l1[LR * 8], l2[LR * 8];
  int lane = threadIdx.x % 8, rr = threadIdx.x / 8;
  i64 r = (i64)blockIdx.x * LR + rr;
  bool live = r < rows;
  const float* xr = x + (live ? r : 0) * d;
  const float* gr = dout + (live ? r : 0) * d;
  float m = live ? mean[r] : 0.0f, rs = live ? rstd[r] : 0.0f;
  double s1 = 0.0, s2 = 0.0;
  if (live)
    for (i64 j = lane; j < d; j += 8) {
      float gw = gr[j] * w[j], xh = (xr[j] - m) * rs;
      s1 = s1 + (double)gw;
      s2 = s2 + (double)gw * (double)xh;
    }
  l1[threadIdx.x] = s1;
  l2[threadIdx.x] = s2;
  __syncthreads();
  if (!live) return;
  float a = (float)(lanes8(l1 + rr * 8) / (double)d), bb = (float)(lanes8(l2 + rr * 8) / (double)d);
  for (i64 j = lane; j < d; j += 8) {
    float gw = gr[j] * w[j], xh = (xr[j] - m) * rs;
    dx[r * d + j] = rs * ((gw - a) - xh * bb);
  }
}
extern "C" __global__ void k_layernorm_bwd_dwb(float* dw, float* db, const float* dout, const float* x, const float* mean, const float* rstd, i64 rows, i64 d) {
  norm_cols<true>(dw, db, dout, x, mean, rstd, rows, d);
}

// ---- rotary ----
// The tables cos and sin [T, rot/2] of gpu/cpu's ropeTables: θ_i = exp64(−(2i/rot)·log64(base)), angle
// t·θ_i in float64, rounded once by fm_sincos. One thread per entry; the device keeps them while the
// shape and base stay the same.
extern "C" __global__ void k_rope_table(float* cs, float* sn, i64 T, i64 rot, float base) {
  i64 half = rot / 2, j = gid();
  if (j < T * half) {
    i64 t = j / half, p = j % half;
    double theta = fm_exp64(-(double)(2 * p) / (double)rot * fm_log64((double)base));
    fm_sincos((double)t * theta, &sn[j], &cs[j]);
  }
}
// One thread per (row, head, pair), gpu/cpu's rotation: sign 1 rotates by the angle, -1 back (the
// negated sine gives the backward's formula bit for bit).
extern "C" __global__ void k_rotary(float* x, const float* cs, const float* sn, i64 B, i64 T, i64 H, i64 D, i64 rot, float sign) {
  i64 half = rot / 2, i = gid();
  if (i < B * T * H * half) {
    i64 p = i % half, h = (i / half) % H, row = i / (half * H), t = row % T;
    float c = cs[t * half + p], sv = sign * sn[t * half + p];
    float* v = x + row * H * D + h * D;
    float a = v[p], b = v[p + half];
    v[p] = a * c - b * sv;
    v[p + half] = b * c + a * sv;
  }
}

// ---- vector loads from shared memory (the matmul tiles, the register-tiled attention) ----
#ifdef __CUDA_ARCH__
#define SHARED_ALIGN16 __align__(16)
#else
#define SHARED_ALIGN16 alignas(16)
#endif
// ldv copies V (1, 2 or 4) consecutive floats from 4·V-byte aligned shared memory, in one load. On
// the host (the emulation) a misaligned address, which a GPU would fault on, aborts.
template <int V>
__device__ __forceinline__ void ldv(float* d, const float* s) {
#ifdef __CUDA_ARCH__
  if (V == 4) {
    float4 t = *reinterpret_cast<const float4*>(s);
    d[0] = t.x, d[1] = t.y, d[2] = t.z, d[3] = t.w;
  } else if (V == 2) {
    float2 t = *reinterpret_cast<const float2*>(s);
    d[0] = t.x, d[1] = t.y;
  } else {
    d[0] = s[0];
  }
#else
  if (reinterpret_cast<unsigned long long>(s) % (4 * V) != 0) __builtin_trap();
  for (int v = 0; v < V; v++) d[v] = s[v];
#endif
}

// ---- attention ----
// Forward, gpu/cpu's formulas and order: the scores s_j = scale·(q·k_j) (one fmaf chain over e), their
// maximum m over the visible keys (order-free; -0 made +0), p_j = kexp(s_j − m) summed in eight
// float64 lanes (lane (j − lo) mod 8, j increasing), l = float32 of the sum, P_j = p_j·(1/l), the
// output one fmaf chain of P_j·v_j over j increasing, lse = m + log l. One block of RED threads per
// (b, h, t); the scores wait in shared memory (kernels.go refuses rows longer than 48 KiB holds).
#define FLT_BIG 3.40282346638528859811704183484516925440e+38f
// att_dot is a score's or a probability gradient's dot product: one fmaf chain over e from 0.
__device__ __forceinline__ float att_dot(const float* x, const float* y, i64 D) {
  float acc = 0.0f;
  for (i64 e = 0; e < D; e++) acc = fmaf(x[e], y[e], acc);
  return acc;
}
// att_lo is the first key query t sees: t-win+1 with a window, else 0.
__device__ __forceinline__ i64 att_lo(i64 t, i64 win) { return (win > 0 && t - win + 1 > 0) ? t - win + 1 : 0; }
// att_hi is the last query that sees key s: s + win − 1 with a window, capped at T − 1.
__device__ __forceinline__ i64 att_hi(i64 s, i64 win, i64 T) { return (win > 0 && s + win - 1 < T - 1) ? s + win - 1 : T - 1; }
extern "C" __global__ void k_attn_fwd(float* out, float* lse, const float* q, const float* k, const float* v,
                                      i64 B, i64 T, i64 H, i64 KVH, i64 D, i64 win, float scale) {
  DYNAMIC_SHARED(float, sc);  // T scores, then RED scratch
  float* s = sc + T;
  __shared__ double lanes[8];
  i64 idx = blockIdx.x; i64 t = idx % T, h = (idx / T) % H, b = idx / (T * H);
  i64 g = h / (H / KVH);
  i64 lo = att_lo(t, win);
  const float* qr = q + (b * T + t) * H * D + h * D;
  float m = -FLT_BIG;
  for (i64 j = lo + threadIdx.x; j <= t; j += RED) {
    float acc = att_dot(qr, k + (b * T + j) * KVH * D + g * D, D) * scale;
    sc[j] = acc;
    m = fmaxf(m, acc);
  }
  s[threadIdx.x] = m;
  float mx = block_max(s) + 0.0f;
  for (i64 j = lo + threadIdx.x; j <= t; j += RED) sc[j] = kexp(sc[j] - mx);
  __syncthreads();
  if (threadIdx.x < 8) {
    double acc = 0.0;
    for (i64 j = lo + threadIdx.x; j <= t; j += 8) acc = acc + (double)sc[j];
    lanes[threadIdx.x] = acc;
  }
  __syncthreads();
  float l = (float)lanes8(lanes), inv = 1.0f / l;
  for (i64 j = lo + threadIdx.x; j <= t; j += RED) sc[j] = sc[j] * inv;
  __syncthreads();
  for (i64 e = threadIdx.x; e < D; e += RED) {
    float acc = 0.0f;
    for (i64 j = lo; j <= t; j++) acc = fmaf(sc[j], v[(b * T + j) * KVH * D + g * D + e], acc);
    out[(b * T + t) * H * D + h * D + e] = acc;
  }
  if (threadIdx.x == 0) lse[(b * H + h) * T + t] = mx + fm_log(l);
}
// delta[b,h,t] = Σ_e dout·out (the softmax backward's row term): float64 products summed in order,
// as gpu/cpu. One thread per row.
extern "C" __global__ void k_attn_delta(float* delta, const float* dout, const float* out, i64 B, i64 T, i64 H, i64 D) {
  i64 i = gid();
  if (i < B * H * T) {
    i64 t = i % T, h = (i / T) % H, b = i / (T * H);
    const float* a = dout + (b * T + t) * H * D + h * D; const float* o = out + (b * T + t) * H * D + h * D;
    double acc = 0.0;
    for (i64 e = 0; e < D; e++) acc = acc + (double)a[e] * (double)o[e];
    delta[i] = (float)acc;
  }
}
// attn_p is a probability recomputed from its score and the row's log-sum-exp.
__device__ __forceinline__ float attn_p(const float* qr, const float* kr, i64 D, float scale, float lse) {
  return kexp(att_dot(qr, kr, D) * scale - lse);
}
// dq[b,t,h,e] = scale Σ_{s} P(t,s)(dP(t,s) - delta) k[s,e]; one thread per (b,t,h,e), s increasing.
extern "C" __global__ void k_attn_dq(float* dq, const float* dout, const float* lse, const float* delta, const float* q,
                                     const float* k, const float* v, i64 B, i64 T, i64 H, i64 KVH, i64 D, i64 win, float scale) {
  i64 i = gid();
  if (i < B * T * H * D) {
    i64 e = i % D, h = (i / D) % H, t = (i / (D * H)) % T, b = i / (D * H * T);
    i64 g = h / (H / KVH);
    i64 lo = att_lo(t, win);
    const float* qr = q + (b * T + t) * H * D + h * D; const float* gr = dout + (b * T + t) * H * D + h * D;
    float L = lse[(b * H + h) * T + t], dl = delta[(b * H + h) * T + t];
    float acc = 0.0f;
    for (i64 s = lo; s <= t; s++) {
      const float* kr = k + (b * T + s) * KVH * D + g * D; const float* vr = v + (b * T + s) * KVH * D + g * D;
      float p = attn_p(qr, kr, D, scale, L);
      float ds = (p * (att_dot(gr, vr, D) - dl)) * scale;
      acc = fmaf(ds, kr[e], acc);
    }
    dq[i] = acc;
  }
}
// dk and dv for key s of kv head g: sum over query heads of the group (increasing) and queries t >= s
// (increasing). One thread per (b, s, g, e).
extern "C" __global__ void k_attn_dkv(float* dk, float* dv, const float* dout, const float* lse, const float* delta, const float* q,
                                      const float* k, const float* v, i64 B, i64 T, i64 H, i64 KVH, i64 D, i64 win, float scale) {
  i64 i = gid();
  if (i < B * T * KVH * D) {
    i64 e = i % D, g = (i / D) % KVH, s = (i / (D * KVH)) % T, b = i / (D * KVH * T);
    i64 rep = H / KVH;
    i64 hi = att_hi(s, win, T);
    const float* kr = k + (b * T + s) * KVH * D + g * D; const float* vr = v + (b * T + s) * KVH * D + g * D;
    float ak = 0.0f, av = 0.0f;
    for (i64 h = g * rep; h < (g + 1) * rep; h++) {
      for (i64 t = s; t <= hi; t++) {
        const float* qr = q + (b * T + t) * H * D + h * D; const float* gr = dout + (b * T + t) * H * D + h * D;
        float p = attn_p(qr, kr, D, scale, lse[(b * H + h) * T + t]);
        av = fmaf(p, gr[e], av);
        float ds = (p * (att_dot(gr, vr, D) - delta[(b * H + h) * T + t])) * scale;
        ak = fmaf(ds, qr[e], ak);
      }
    }
    dk[i] = ak;
    dv[i] = av;
  }
}

// ---- attention, tiled (head dim D <= ATT_MAXD) ----
// Backward: the same sums as k_attn_dq and k_attn_dkv in the same order, so the same bits, with the
// work shared: a block of 256 threads takes ATT rows of queries (dq) or keys (dk, dv), walks the tiles of
// the other side in increasing order, computes the tile's probabilities P and score gradients dS once
// into shared memory (each one fmaf chain over e, att_dot), then every thread extends
// the fmaf chains of the outputs it owns over the tile. Shared memory: the four ATT×D tiles of q,
// dout, k and v (row stride D+1), P and dS (ATT×(ATT+1)), and lse and delta for ATT rows.
#define ATT 32
#define ATT_MAXD 64
#define ATT_OUT ((ATT * ATT_MAXD + 255) / 256)  // outputs per thread at most
// Every loop over a thread's outputs (r < ATT_OUT) is unrolled: indexed at run time, the
// accumulator arrays would live in local memory and every fmaf step would load and store them.

// att_rows copies rows r0.. r0+ATT-1 (those below T) of the [B,T,heads,D] tensor x, head hd, into sx
// (row stride ps: D+1 in the tiled kernels, D+ATT_PAD in the register-tiled ones); rows at or past T
// are zero.
__device__ __forceinline__ void att_rows(float* sx, const float* x, i64 b, i64 r0, i64 T, i64 heads, i64 hd, i64 D, int ps) {
  int d = (int)D;  // tile-local index math in 32 bits: a 64-bit division costs several times more
  for (int l = threadIdx.x; l < ATT * d; l += 256) {
    int rr = l / d, e = l - rr * d;
    i64 t = r0 + rr;
    sx[rr * ps + e] = t < T ? x[((b * T + t) * heads + hd) * D + e] : 0.0f;
  }
}

// att_fetch loads into registers the first ATT_PF elements att_rows copies for this thread, and
// att_put stores them and copies the rest (a tile's rows with D > 32) itself: with the two apart, a
// tile's loads are issued before the block works on the previous tile and arrive while it does,
// instead of after a barrier that waits for them. ATT_PF covers the whole tile for D ≤ 32; more
// registers held across the work spill (the tiled kernels are capped at 128, BLOCKS(2)).
#define ATT_PF (ATT * 32 / 256)
struct att_regs {
  float v[ATT_PF];
};
__device__ __forceinline__ void att_fetch(att_regs& f, const float* x, i64 b, i64 r0, i64 T, i64 heads, i64 hd, i64 D) {
  int d = (int)D;
  #pragma unroll
  for (int i = 0; i < ATT_PF; i++) {
    int l = threadIdx.x + 256 * i, rr = l / d, e = l - rr * d;
    i64 t = r0 + rr;
    f.v[i] = (l < ATT * d && t < T) ? x[((b * T + t) * heads + hd) * D + e] : 0.0f;
  }
}
// att_put's x..D are att_fetch's; ps is the row stride in sx (att_rows').
__device__ __forceinline__ void att_put(float* sx, const att_regs& f, const float* x, i64 b, i64 r0, i64 T, i64 heads, i64 hd, i64 D,
                                        int ps) {
  int d = (int)D;
  #pragma unroll
  for (int i = 0; i < ATT_PF; i++) {
    int l = threadIdx.x + 256 * i, rr = l / d, e = l - rr * d;
    if (l < ATT * d) sx[rr * ps + e] = f.v[i];
  }
  for (int l = threadIdx.x + 256 * ATT_PF; l < ATT * d; l += 256) {
    int rr = l / d, e = l - rr * d;
    i64 t = r0 + rr;
    sx[rr * ps + e] = t < T ? x[((b * T + t) * heads + hd) * D + e] : 0.0f;
  }
}

// att_own holds the tile coordinates of the outputs a thread owns: output o = threadIdx.x + 256r is
// row row[r] = o / D, column col[r] = o % D of its tile. They are computed once per kernel (the loops
// over r are unrolled, so the arrays live in registers), not once per tile.
struct att_own {
  int row[ATT_OUT], col[ATT_OUT];
};
__device__ __forceinline__ att_own att_owned(i64 D) {
  att_own w;
  int d = (int)D;
  #pragma unroll
  for (int r = 0; r < ATT_OUT; r++) {
    int o = threadIdx.x + 256 * r;
    w.row[r] = o / d;
    w.col[r] = o - w.row[r] * d;
  }
  return w;
}

// att_qtile holds, in registers, what the backward needs of a query tile: q and dout rows, and for
// threads below ATT one row's lse and delta (att_fetch/att_put, the same split).
struct att_qtile {
  att_regs q, g;
  float l, dl;
};
__device__ __forceinline__ void att_fetch_queries(att_qtile& f, const float* q, const float* dout, const float* lse,
                                                  const float* delta, i64 b, i64 h, i64 t0, i64 T, i64 H, i64 D) {
  att_fetch(f.q, q, b, t0, T, H, h, D);
  att_fetch(f.g, dout, b, t0, T, H, h, D);
  i64 t = t0 + threadIdx.x;
  bool in = threadIdx.x < ATT && t < T;
  f.l = in ? lse[(b * H + h) * T + t] : 0.0f;
  f.dl = in ? delta[(b * H + h) * T + t] : 0.0f;
}
// att_put_queries stores f into Qs and Gs (row stride ps), and lse and delta into Ls and Dl (zeros
// past T). att_put_queries' q..D are att_fetch_queries'.
__device__ __forceinline__ void att_put_queries(float* Qs, float* Gs, float* Ls, float* Dl, const att_qtile& f, const float* q,
                                                const float* dout, i64 b, i64 h, i64 t0, i64 T, i64 H, i64 D, int ps) {
  att_put(Qs, f.q, q, b, t0, T, H, h, D, ps);
  att_put(Gs, f.g, dout, b, t0, T, H, h, D, ps);
  if (threadIdx.x < ATT) {
    Ls[threadIdx.x] = f.l;
    Dl[threadIdx.x] = f.dl;
  }
}
// The backward's walks, the tiled and the register-tiled kernels' alike. dq walks the key tiles
// kt0..kt1 that query tile t0 sees (att_kv_walk: the first tile's keys and values fetched), each
// made the block's Ks and Vs by att_kv_step (row stride ps), which fetches the next tile's while
// the block works on this one.
struct att_kvw {
  i64 kt0, kt1;
  att_regs fk, fv;  // the next tile's keys and values, fetched a tile ahead
};
__device__ __forceinline__ att_kvw att_kv_walk(const float* k, const float* v, i64 b, i64 t0, i64 T, i64 KVH, i64 g, i64 D, i64 win) {
  att_kvw w;
  const i64 tl = t0 + ATT - 1 < T - 1 ? t0 + ATT - 1 : T - 1;
  w.kt0 = att_lo(t0, win) / ATT;
  w.kt1 = tl / ATT;
  att_fetch(w.fk, k, b, w.kt0 * ATT, T, KVH, g, D);
  att_fetch(w.fv, v, b, w.kt0 * ATT, T, KVH, g, D);
  return w;
}
__device__ __forceinline__ void att_kv_step(float* Ks, float* Vs, att_kvw& w, const float* k, const float* v, i64 b, i64 kt, i64 T,
                                            i64 KVH, i64 g, i64 D, int ps) {
  const i64 s0 = kt * ATT;
  __syncthreads();  // the previous tile's Ks, Vs and Ds are no longer read
  att_put(Ks, w.fk, k, b, s0, T, KVH, g, D, ps);
  att_put(Vs, w.fv, v, b, s0, T, KVH, g, D, ps);
  __syncthreads();
  if (kt < w.kt1) {
    att_fetch(w.fk, k, b, s0 + ATT, T, KVH, g, D);
    att_fetch(w.fv, v, b, s0 + ATT, T, KVH, g, D);
  }
}
// att_q_step makes query tile qt of head h, fetched a step ahead into fq, the block's Qs, Gs, Ls and
// Dl, and fetches the next step's: the next query tile up to the last, th / ATT, then the next head
// of the group (heads g·rep .. (g+1)·rep − 1) from tile st. dk/dv's walk.
__device__ __forceinline__ void att_q_step(float* Qs, float* Gs, float* Ls, float* Dl, att_qtile& fq, const float* q, const float* dout,
                                           const float* lse, const float* delta, i64 b, i64 h, i64 qt, i64 st, i64 th, i64 g,
                                           i64 rep, i64 T, i64 H, i64 D, int ps) {
  const i64 t0 = qt * ATT;
  __syncthreads();  // the previous tile's Qs, Gs, Ps and Ds are no longer read
  att_put_queries(Qs, Gs, Ls, Dl, fq, q, dout, b, h, t0, T, H, D, ps);
  __syncthreads();
  if (qt < th / ATT) att_fetch_queries(fq, q, dout, lse, delta, b, h, t0 + ATT, T, H, D);
  else if (h + 1 < (g + 1) * rep) att_fetch_queries(fq, q, dout, lse, delta, b, h + 1, st * ATT, T, H, D);
}

// att_extend extends the fmaf chains of the outputs this thread owns (w), acc[r] for those in the
// tile's first `rows` rows (query row w.row[r] of the tile starting at t0, column w.col[r]), over the key tile starting
// at s0 in increasing key order, for the keys the row sees: acc[r] += W[row][ss]·X[ss][e] (W row stride
// ws, X row stride D+1).
__device__ __forceinline__ void att_extend(float* acc, const att_own& w, const float* W, i64 ws, const float* X, i64 rows, i64 t0,
                                           i64 s0, i64 T, i64 D, i64 win) {
  #pragma unroll
  for (int r = 0; r < ATT_OUT; r++) {
    int tt = w.row[r], e = w.col[r];
    i64 t = t0 + tt;
    if (tt >= rows || t >= T) continue;
    i64 lo = att_lo(t, win);
    for (int ss = 0; ss < ATT; ss++) {
      i64 s = s0 + ss;
      if (s > t) break;
      if (s < lo) continue;
      acc[r] = fmaf(W[tt * ws + ss], X[ss * ((int)D + 1) + e], acc[r]);
    }
  }
}

// Register tiles (k_attn_fwd_c, k_attn_dq_r, k_attn_dkv_r; head dimension a multiple of 4): the same
// chains in the same order as att_dot and att_extend, but each thread works on a small tile of them
// in registers, so that one shared-memory load serves several fmaf instead of one load per operand
// of every fmaf: a thread's scores are 2×2 (1×2 in the forward) of one query-key tile, each loaded
// row serving two chains, and an output's chains run in units of four consecutive columns of one
// row, one float4 load of the other side's row serving four. The tiles' rows are padded to
// D + ATT_PAD floats, 16-byte aligned for ldv<4>.
#define ATT_PAD 4
// att_dots computes the R×C chains s[i][j] = Σ_e X[xr[i]][e]·Y[yr[j]][e] (row stride ps), each one
// fmaf chain over e increasing from 0 (att_dot's: fmaf's product does not depend on the order of
// its factors), four e at a time.
template <int R, int C>
__device__ __forceinline__ void att_dots(float (&s)[R][C], const float* X, const int (&xr)[R], const float* Y, const int (&yr)[C],
                                         int ps, int D) {
  #pragma unroll
  for (int i = 0; i < R; i++)
    #pragma unroll
    for (int j = 0; j < C; j++) s[i][j] = 0.0f;
  #pragma unroll 2
  for (int e = 0; e < D; e += 4) {
    float x[R][4], y[C][4];
    #pragma unroll
    for (int i = 0; i < R; i++) ldv<4>(x[i], X + xr[i] * ps + e);
    #pragma unroll
    for (int j = 0; j < C; j++) ldv<4>(y[j], Y + yr[j] * ps + e);
    #pragma unroll
    for (int u = 0; u < 4; u++)
      #pragma unroll
      for (int i = 0; i < R; i++)
        #pragma unroll
        for (int j = 0; j < C; j++) s[i][j] = fmaf(x[i][u], y[j][u], s[i][j]);
  }
}
// att_unit is output unit r (< ATT_UNITS) of this thread in a tile of `rows` rows of D outputs: row
// `row`, columns col.. col+3, or row −1 where the tile has no such unit.
#define ATT_UNITS ((ATT * ATT_MAXD / 4 + 255) / 256)
struct att_unit {
  int row, col;
};
__device__ __forceinline__ att_unit att_unit_of(int r, int rows, int D) {
  int per = D / 4, u = threadIdx.x + 256 * r;
  att_unit a;
  a.row = u < rows * per ? u / per : -1;
  a.col = a.row < 0 ? 0 : 4 * (u - a.row * per);
  return a;
}
// att_span clamps [lo − s0, hi − s0 + 1) to the tile: the tile positions j whose index s0 + j lies
// in [lo, hi].
struct att_span {
  int a, b;
};
__device__ __forceinline__ att_span att_span_of(i64 lo, i64 hi, i64 s0) {
  i64 a = lo - s0, b = hi - s0 + 1;
  att_span sp;
  sp.a = a < 0 ? 0 : a > ATT ? ATT : (int)a;
  sp.b = b < 0 ? 0 : b > ATT ? ATT : (int)b;
  return sp;
}
// att_extend4 extends the four chains of one output unit over tile positions j in [sp.a, sp.b) in
// increasing order: acc[u] += W[j]·X[j·ps + col + u] (att_extend's chains).
__device__ __forceinline__ void att_extend4(float (&acc)[4], const float* W, const float* X, int ps, int col, att_span sp) {
  #pragma unroll 2
  for (int j = sp.a; j < sp.b; j++) {
    float w = W[j], x[4];
    ldv<4>(x, X + j * ps + col);
    #pragma unroll
    for (int u = 0; u < 4; u++) acc[u] = fmaf(w, x[u], acc[u]);
  }
}

// Forward: the same sums as k_attn_fwd in the same order, so the same bits (gpu/cpu's). A block
// takes AFQ rows of queries and walks the key tiles three times: for each row's maximum
// (order-free), for the exponentials, which threads (row, lane) add to the row's eight float64
// lanes in increasing key order, and, with l known, for P_j = p_j·(1/l), which extends the output
// chains. kernels.go launches it where k_attn_fwd_c does not go (head dimensions that are not
// multiples of 4, or rows too long for its scores), with `cached` where the rows fit. With `cached`
// the first pass keeps the rows' scores in
// shared memory and the second replaces them by their
// exponentials, so the second pass loads no keys and the third loads only values, and neither
// recomputes a score; without, the scores are recomputed each time. Either way the same values: a
// score is one chain, the exponential kexp(s − m) with the same m, P that exponential times 1/l.
// Shared memory: the lanes (AFQ×8 doubles), q (AFQ×(D+1)), k and v (ATT×(D+1) each), P
// (AFQ×(ATT+1)), the row maxima and 1/l, and with `cached` the rows (AFQ×T).
#define AFQ 16
// att_fwd_sums: thread r < AFQ sets row r's 1/l from the row's eight lanes in Lsum and, for a row
// inside T, its log-sum-exp, max + log l.
__device__ __forceinline__ void att_fwd_sums(float* Inv, float* lse, const double* Lsum, const float* Mx, i64 b, i64 h, i64 t0,
                                             i64 T, i64 H) {
  if (threadIdx.x < AFQ) {
    i64 t = t0 + threadIdx.x;
    float l = (float)lanes8(Lsum + threadIdx.x * 8);
    Inv[threadIdx.x] = 1.0f / l;
    if (t < T) lse[(b * H + h) * T + t] = Mx[threadIdx.x] + fm_log(l);
  }
}
// att_fwd_block decodes a forward block's batch b, head h, key-value head g and first query row t0
// (AFQ rows a block), and loads its query rows into Qs (row stride ps; zeros past T).
struct att_fwd_at {
  i64 b, h, g, t0;
};
__device__ __forceinline__ att_fwd_at att_fwd_block(float* Qs, const float* q, i64 T, i64 H, i64 KVH, i64 D, int ps) {
  i64 nq = (T + AFQ - 1) / AFQ, idx = blockIdx.x;
  att_fwd_at a;
  a.h = (idx / nq) % H, a.b = idx / (nq * H), a.g = a.h / (H / KVH), a.t0 = (idx % nq) * AFQ;
  for (int l = threadIdx.x, d = (int)D; l < AFQ * d; l += 256) {
    int rr = l / d, e = l - rr * d;
    i64 t = a.t0 + rr;
    Qs[rr * ps + e] = t < T ? q[((a.b * T + t) * H + a.h) * D + e] : 0.0f;
  }
  return a;
}
extern "C" __global__ void BLOCKS(2) k_attn_fwd_t(float* out, float* lse, const float* q, const float* k, const float* v,
                                        i64 B, i64 T, i64 H, i64 KVH, i64 D, i64 win, float scale, i64 cached) {
  DYNAMIC_SHARED(double, smd);
  double* Lsum = smd;
  float *Qs = (float*)(Lsum + AFQ * 8), *Ks = Qs + AFQ * (D + 1), *Vs = Ks + ATT * (D + 1), *Ps = Vs + ATT * (D + 1);
  float *Mx = Ps + AFQ * (ATT + 1), *Inv = Mx + AFQ, *Sc = Inv + AFQ;  // Sc: the cached rows, stride T
  const att_fwd_at at = att_fwd_block(Qs, q, T, H, KVH, D, (int)D + 1);
  const i64 b = at.b, h = at.h, g = at.g, t0 = at.t0;
  if (threadIdx.x < AFQ) Mx[threadIdx.x] = -FLT_BIG;
  i64 lo0 = att_lo(t0, win);
  i64 tl = t0 + AFQ - 1 < T - 1 ? t0 + AFQ - 1 : T - 1;
  float acc[ATT_OUT];
  #pragma unroll
  for (int r = 0; r < ATT_OUT; r++) acc[r] = 0.0f;
  double lane_sum = 0.0;  // thread (row threadIdx.x/8, lane threadIdx.x%8), for threadIdx.x < AFQ·8
  const att_own own = att_owned(D);
  for (int pass = 0; pass < 3; pass++) {
    for (i64 kt = lo0 / ATT; kt <= tl / ATT; kt++) {
      i64 s0 = kt * ATT;
      __syncthreads();  // the previous tile's Ks, Vs and Ps are no longer read
      const bool scores = !cached || pass == 0;  // this pass computes the scores
      if (scores) att_rows(Ks, k, b, s0, T, KVH, g, D, (int)D + 1);
      if (pass == 2) att_rows(Vs, v, b, s0, T, KVH, g, D, (int)D + 1);
      __syncthreads();
      for (int r = 0; r < AFQ * ATT / 256; r++) {
        int o = threadIdx.x + 256 * r, tt = o / ATT, ss = o % ATT;
        i64 t = t0 + tt, s = s0 + ss;
        i64 lo = att_lo(t, win);
        float p = 0.0f;
        if (t < T && s <= t && s >= lo) {
          if (scores) {
            float sc = att_dot(Qs + tt * (D + 1), Ks + ss * (D + 1), D) * scale;
            p = pass == 0 ? sc : pass == 1 ? kexp(sc - Mx[tt]) : kexp(sc - Mx[tt]) * Inv[tt];
          } else {  // cached: pass 1 reads the score, pass 2 the exponential
            float c = Sc[tt * T + s];
            p = pass == 1 ? kexp(c - Mx[tt]) : c * Inv[tt];
          }
          if (cached && pass < 2) Sc[tt * T + s] = p;
        }
        Ps[tt * (ATT + 1) + ss] = p;
      }
      __syncthreads();
      if (pass == 0) {
        if (threadIdx.x < AFQ) {  // the row maxima (fmaxf: the order does not matter)
          i64 tt = threadIdx.x, t = t0 + tt;
          i64 lo = att_lo(t, win);
          float m = Mx[tt];
          for (i64 ss = 0; ss < ATT; ss++) {
            i64 s = s0 + ss;
            if (t < T && s <= t && s >= lo) m = fmaxf(m, Ps[tt * (ATT + 1) + ss]);
          }
          Mx[tt] = m;
        }
      } else if (pass == 1) {
        if (threadIdx.x < AFQ * 8) {  // each lane its keys s − lo ≡ lane (mod 8), in increasing order
          i64 tt = threadIdx.x / 8, lane = threadIdx.x % 8, t = t0 + tt;
          i64 lo = att_lo(t, win), first = s0 > lo ? s0 : lo, s = lo + lane;
          if (s < first) s += (first - s + 7) / 8 * 8;
          if (t < T)
            for (; s < s0 + ATT && s <= t; s += 8) lane_sum = lane_sum + (double)Ps[tt * (ATT + 1) + (s - s0)];
        }
      } else {
        att_extend(acc, own, Ps, ATT + 1, Vs, AFQ, t0, s0, T, D, win);
      }
    }
    __syncthreads();
    if (pass == 0 && threadIdx.x < AFQ) Mx[threadIdx.x] = Mx[threadIdx.x] + 0.0f;  // -0 → +0
    if (pass == 1) {
      if (threadIdx.x < AFQ * 8) Lsum[threadIdx.x] = lane_sum;
      __syncthreads();
      att_fwd_sums(Inv, lse, Lsum, Mx, b, h, t0, T, H);
    }
  }
  #pragma unroll
  for (int r = 0; r < ATT_OUT; r++) {
    i64 t = t0 + own.row[r];
    if (own.row[r] < AFQ && t < T) out[((b * T + t) * H + h) * D + own.col[r]] = acc[r];
  }
}

// The forward with the rows' scores in shared memory (kernels.go launches it when they fit, else
// k_attn_fwd_t): the same values in the same orders as k_attn_fwd_t, in six phases instead of three
// walks over the tiles, so that only the two walks that load (keys, then values) have barriers per
// tile and every other step runs on all threads at once:
//   1. the scores of the block's AFQ rows, a key tile at a time (the next tile fetched ahead);
//   2. each row's maximum, 16 threads a row over keys 16 apart, then one thread a row over the 16
//      (fmaxf: the order does not matter);
//   3. the exponentials in place; 4. the eight float64 lanes of each row, each in increasing key
//      order, then l, 1/l and the log-sum-exp; 5. P = p·(1/l) in place;
//   6. the output chains over the value tiles (the next tile fetched ahead), as k_attn_fwd_t's third walk.
// Phases 1 and 6 work in register tiles (D a multiple of 4; kernels.go launches k_attn_fwd_t for
// other head dimensions): a thread's scores are one row's against two keys 16 apart, and its
// outputs one unit of four columns (att_dots, att_extend4).
// Shared memory (attnFwdCached): the lanes (AFQ×8 doubles), q (AFQ×(D+ATT_PAD)), one tile of keys
// or values (ATT×(D+ATT_PAD)), the scores (AFQ rows of T, stride T+1: a warp's output units span
// four rows, whose scores would otherwise share a bank), 256 partial maxima, the row maxima and 1/l.
extern "C" __global__ void BLOCKS(2) k_attn_fwd_c(float* out, float* lse, const float* q, const float* k, const float* v,
                                        i64 B, i64 T, i64 H, i64 KVH, i64 D, i64 win, float scale) {
  DYNAMIC_SHARED(double, smd);
  const int d = (int)D, ps = d + ATT_PAD;
  const i64 ts = T + 1;  // the scores' row stride: rows a bank apart, for the output chains' loads
  double* Lsum = smd;
  float *Qs = (float*)(Lsum + AFQ * 8), *Xs = Qs + AFQ * ps, *Sc = Xs + ATT * ps, *Red = Sc + AFQ * ts;
  float *Mx = Red + 256, *Inv = Mx + AFQ;
  const att_fwd_at at = att_fwd_block(Qs, q, T, H, KVH, D, ps);
  const i64 b = at.b, h = at.h, g = at.g, t0 = at.t0;
  const i64 lo0 = att_lo(t0, win), tl = t0 + AFQ - 1 < T - 1 ? t0 + AFQ - 1 : T - 1;
  const i64 kt0 = lo0 / ATT, kt1 = tl / ATT, first = kt0 * ATT;
  const int span = (int)((kt1 - kt0 + 1) * ATT);  // the keys the block's rows may see start at first
  // valid says whether row tt sees key s.
  auto valid = [&](int tt, i64 s) {
    i64 t = t0 + tt;
    return t < T && s <= t && s >= att_lo(t, win);
  };
  // 1. scores: thread (row ty, keys tx and tx + 16 of each tile)
  static_assert(AFQ * ATT == 256 * 2 && AFQ == 16, "k_attn_fwd_c: a thread's scores are 1×2 of a tile");
  const int qr[1] = {(int)threadIdx.x / 16}, kr[2] = {(int)threadIdx.x % 16, (int)threadIdx.x % 16 + 16};
  att_regs f;
  att_fetch(f, k, b, first, T, KVH, g, D);
  for (i64 kt = kt0; kt <= kt1; kt++) {
    i64 s0 = kt * ATT;
    __syncthreads();  // the previous tile is no longer read (and Qs is complete)
    att_put(Xs, f, k, b, s0, T, KVH, g, D, ps);
    __syncthreads();
    if (kt < kt1) att_fetch(f, k, b, s0 + ATT, T, KVH, g, D);
    else att_fetch(f, v, b, first, T, KVH, g, D);  // phase 6's first tile
    float sc[1][2];
    att_dots<1, 2>(sc, Qs, qr, Xs, kr, ps, d);
    #pragma unroll
    for (int j = 0; j < 2; j++)
      if (valid(qr[0], s0 + kr[j])) Sc[qr[0] * ts + s0 + kr[j]] = sc[0][j] * scale;
  }
  __syncthreads();
  // 2. row maxima
  {
    int tt = threadIdx.x / 16, j = threadIdx.x % 16;
    i64 t = t0 + tt;
    float m = -FLT_BIG;
    if (t < T)
      for (i64 s = att_lo(t, win) + j; s <= t; s += 16) m = fmaxf(m, Sc[tt * ts + s]);
    Red[threadIdx.x] = m;
  }
  __syncthreads();
  if (threadIdx.x < AFQ) {
    float m = -FLT_BIG;
    for (int j = 0; j < 16; j++) m = fmaxf(m, Red[threadIdx.x * 16 + j]);
    Mx[threadIdx.x] = m + 0.0f;  // -0 → +0
  }
  __syncthreads();
  // 3. exponentials
  for (int o = threadIdx.x; o < AFQ * span; o += 256) {
    int tt = o / span;
    i64 s = first + (o - tt * span);
    if (valid(tt, s)) Sc[tt * ts + s] = kexp(Sc[tt * ts + s] - Mx[tt]);
  }
  __syncthreads();
  // 4. the lanes, l, 1/l, lse
  if (threadIdx.x < AFQ * 8) {
    int tt = threadIdx.x / 8, lane = threadIdx.x % 8;
    i64 t = t0 + tt;
    double sum = 0.0;
    if (t < T)
      for (i64 s = att_lo(t, win) + lane; s <= t; s += 8) sum = sum + (double)Sc[tt * ts + s];
    Lsum[threadIdx.x] = sum;
  }
  __syncthreads();
  att_fwd_sums(Inv, lse, Lsum, Mx, b, h, t0, T, H);
  __syncthreads();
  // 5. P
  for (int o = threadIdx.x; o < AFQ * span; o += 256) {
    int tt = o / span;
    i64 s = first + (o - tt * span);
    if (valid(tt, s)) Sc[tt * ts + s] = Sc[tt * ts + s] * Inv[tt];
  }
  // 6. the output chains: one unit of four columns a thread (AFQ·D/4 ≤ 256 units)
  static_assert(AFQ * ATT_MAXD / 4 <= 256, "k_attn_fwd_c: one output unit a thread");
  const att_unit un = att_unit_of(0, AFQ, d);
  const i64 t = t0 + un.row;
  const bool live = un.row >= 0 && t < T;
  const i64 lo = live ? att_lo(t, win) : 0;
  float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  for (i64 kt = kt0; kt <= kt1; kt++) {
    i64 s0 = kt * ATT;
    __syncthreads();  // P is complete; the previous tile is no longer read
    att_put(Xs, f, v, b, s0, T, KVH, g, D, ps);
    __syncthreads();
    if (kt < kt1) att_fetch(f, v, b, s0 + ATT, T, KVH, g, D);
    if (live) att_extend4(acc, Sc + un.row * ts + s0, Xs, ps, un.col, att_span_of(lo, t, s0));
  }
  if (live)
    #pragma unroll
    for (int u = 0; u < 4; u++) out[((b * T + t) * H + h) * D + un.col + u] = acc[u];
}

// dq: one block per (b, h, tile of ATT queries).
extern "C" __global__ void BLOCKS(2) k_attn_dq_t(float* dq, const float* dout, const float* lse, const float* delta, const float* q,
                                       const float* k, const float* v, i64 B, i64 T, i64 H, i64 KVH, i64 D, i64 win, float scale) {
  DYNAMIC_SHARED(float, sm);
  float *Qs = sm, *Gs = Qs + ATT * (D + 1), *Ks = Gs + ATT * (D + 1), *Vs = Ks + ATT * (D + 1);
  float *Ds = Vs + ATT * (D + 1), *Ls = Ds + ATT * (ATT + 1), *Dl = Ls + ATT;
  i64 nt = (T + ATT - 1) / ATT, idx = blockIdx.x;
  i64 qt = idx % nt, h = (idx / nt) % H, b = idx / (nt * H), g = h / (H / KVH);
  i64 t0 = qt * ATT;
  {
    att_qtile fq;
    att_fetch_queries(fq, q, dout, lse, delta, b, h, t0, T, H, D);
    att_put_queries(Qs, Gs, Ls, Dl, fq, q, dout, b, h, t0, T, H, D, (int)D + 1);
  }
  const att_own own = att_owned(D);
  float acc[ATT_OUT];
  #pragma unroll
  for (int r = 0; r < ATT_OUT; r++) acc[r] = 0.0f;
  att_kvw w = att_kv_walk(k, v, b, t0, T, KVH, g, D, win);
  for (i64 kt = w.kt0; kt <= w.kt1; kt++) {
    const i64 s0 = kt * ATT;
    att_kv_step(Ks, Vs, w, k, v, b, kt, T, KVH, g, D, (int)D + 1);
    for (int r = 0; r < ATT * ATT / 256; r++) {
      int o = threadIdx.x + 256 * r, tt = o / ATT, ss = o % ATT;
      i64 t = t0 + tt, s = s0 + ss;
      i64 lo = att_lo(t, win);
      if (t < T && s <= t && s >= lo) {
        float p = kexp(att_dot(Qs + tt * (D + 1), Ks + ss * (D + 1), D) * scale - Ls[tt]);
        Ds[tt * (ATT + 1) + ss] = (p * (att_dot(Gs + tt * (D + 1), Vs + ss * (D + 1), D) - Dl[tt])) * scale;
      }
    }
    __syncthreads();
    att_extend(acc, own, Ds, ATT + 1, Ks, ATT, t0, s0, T, D, win);
  }
  #pragma unroll
  for (int r = 0; r < ATT_OUT; r++) {
    i64 t = t0 + own.row[r];
    if (own.row[r] < ATT && t < T) dq[((b * T + t) * H + h) * D + own.col[r]] = acc[r];
  }
}

// dk, dv: one block per (b, kv head g, tile of ATT keys); query heads of the group in increasing
// order, then query tiles in increasing order.
extern "C" __global__ void BLOCKS(2) k_attn_dkv_t(float* dk, float* dv, const float* dout, const float* lse, const float* delta, const float* q,
                                        const float* k, const float* v, i64 B, i64 T, i64 H, i64 KVH, i64 D, i64 win, float scale) {
  DYNAMIC_SHARED(float, sm);
  float *Qs = sm, *Gs = Qs + ATT * (D + 1), *Ks = Gs + ATT * (D + 1), *Vs = Ks + ATT * (D + 1);
  float *Ps = Vs + ATT * (D + 1), *Ds = Ps + ATT * (ATT + 1), *Ls = Ds + ATT * (ATT + 1), *Dl = Ls + ATT;
  i64 nt = (T + ATT - 1) / ATT, idx = blockIdx.x;
  i64 st = idx % nt, g = (idx / nt) % KVH, b = idx / (nt * KVH), rep = H / KVH;
  i64 s0 = st * ATT;
  att_rows(Ks, k, b, s0, T, KVH, g, D, (int)D + 1);
  att_rows(Vs, v, b, s0, T, KVH, g, D, (int)D + 1);
  const att_own own = att_owned(D);
  float ak[ATT_OUT], av[ATT_OUT];
  #pragma unroll
  for (int r = 0; r < ATT_OUT; r++) { ak[r] = 0.0f; av[r] = 0.0f; }
  i64 sl = s0 + ATT - 1 < T - 1 ? s0 + ATT - 1 : T - 1;
  i64 th = att_hi(sl, win, T);  // the last query any key of the tile sees
  att_qtile fq;  // the next step's query tile, fetched a step ahead
  att_fetch_queries(fq, q, dout, lse, delta, b, g * rep, st * ATT, T, H, D);
  for (i64 h = g * rep; h < (g + 1) * rep; h++) {
    for (i64 qt = st; qt <= th / ATT; qt++) {
      i64 t0 = qt * ATT;
      att_q_step(Qs, Gs, Ls, Dl, fq, q, dout, lse, delta, b, h, qt, st, th, g, rep, T, H, D, (int)D + 1);
      for (int r = 0; r < ATT * ATT / 256; r++) {
        int o = threadIdx.x + 256 * r, ss = o / ATT, tt = o % ATT;
        i64 s = s0 + ss, t = t0 + tt;
        i64 hi = att_hi(s, win, T);
        if (s < T && t >= s && t <= hi) {
          float p = kexp(att_dot(Qs + tt * (D + 1), Ks + ss * (D + 1), D) * scale - Ls[tt]);
          Ps[ss * (ATT + 1) + tt] = p;
          Ds[ss * (ATT + 1) + tt] = (p * (att_dot(Gs + tt * (D + 1), Vs + ss * (D + 1), D) - Dl[tt])) * scale;
        }
      }
      __syncthreads();
      #pragma unroll
      for (int r = 0; r < ATT_OUT; r++) {
        int ss = own.row[r], e = own.col[r], d1 = (int)D + 1;
        i64 s = s0 + ss;
        if (ss >= ATT || s >= T) continue;
        i64 hi = att_hi(s, win, T);
        for (int tt = 0; tt < ATT; tt++) {
          i64 t = t0 + tt;
          if (t > hi) break;
          if (t < s) continue;
          av[r] = fmaf(Ps[ss * (ATT + 1) + tt], Gs[tt * d1 + e], av[r]);
          ak[r] = fmaf(Ds[ss * (ATT + 1) + tt], Qs[tt * d1 + e], ak[r]);
        }
      }
    }
  }
  #pragma unroll
  for (int r = 0; r < ATT_OUT; r++) {
    i64 s = s0 + own.row[r];
    if (own.row[r] < ATT && s < T) {
      dk[((b * T + s) * KVH + g) * D + own.col[r]] = ak[r];
      dv[((b * T + s) * KVH + g) * D + own.col[r]] = av[r];
    }
  }
}

// dq and dk/dv in register tiles (D a multiple of 4; kernels.go launches k_attn_dq_t and
// k_attn_dkv_t for other head dimensions): the blocks, walks and barriers of k_attn_dq_t and
// k_attn_dkv_t, and the same chains in the same order, with the tile's scores computed 2×2 a thread
// (rows ty and ty + 16 against columns tx and tx + 16) and the outputs extended a unit of four
// columns at a time (att_dots, att_extend4). Shared memory: as theirs, with rows of D + ATT_PAD.
extern "C" __global__ void BLOCKS(2) k_attn_dq_r(float* dq, const float* dout, const float* lse, const float* delta, const float* q,
                                       const float* k, const float* v, i64 B, i64 T, i64 H, i64 KVH, i64 D, i64 win, float scale) {
  static_assert(ATT * ATT == 256 * 4, "k_attn_dq_r: a thread's scores are 2×2 of a tile");
  DYNAMIC_SHARED(float, sm);
  const int d = (int)D, ps = d + ATT_PAD;
  float *Qs = sm, *Gs = Qs + ATT * ps, *Ks = Gs + ATT * ps, *Vs = Ks + ATT * ps;
  float *Ds = Vs + ATT * ps, *Ls = Ds + ATT * (ATT + 1), *Dl = Ls + ATT;
  i64 nt = (T + ATT - 1) / ATT, idx = blockIdx.x;
  i64 qt = idx % nt, h = (idx / nt) % H, b = idx / (nt * H), g = h / (H / KVH);
  i64 t0 = qt * ATT;
  {
    att_qtile fq;
    att_fetch_queries(fq, q, dout, lse, delta, b, h, t0, T, H, D);
    att_put_queries(Qs, Gs, Ls, Dl, fq, q, dout, b, h, t0, T, H, D, ps);
  }
  const int ty = threadIdx.x / 16, tx = threadIdx.x % 16;
  const int qr[2] = {ty, ty + 16}, kr[2] = {tx, tx + 16};
  att_unit un[ATT_UNITS];
  i64 ut[ATT_UNITS], ulo[ATT_UNITS];  // a unit's query and the first key it sees
  float acc[ATT_UNITS][4];
  #pragma unroll
  for (int r = 0; r < ATT_UNITS; r++) {
    un[r] = att_unit_of(r, ATT, d);
    ut[r] = t0 + un[r].row;
    if (un[r].row < 0 || ut[r] >= T) un[r].row = -1;
    ulo[r] = un[r].row < 0 ? 0 : att_lo(ut[r], win);
    #pragma unroll
    for (int u = 0; u < 4; u++) acc[r][u] = 0.0f;
  }
  att_kvw w = att_kv_walk(k, v, b, t0, T, KVH, g, D, win);
  for (i64 kt = w.kt0; kt <= w.kt1; kt++) {
    const i64 s0 = kt * ATT;
    att_kv_step(Ks, Vs, w, k, v, b, kt, T, KVH, g, D, ps);
    float sq[2][2], sg[2][2];
    att_dots<2, 2>(sq, Qs, qr, Ks, kr, ps, d);
    att_dots<2, 2>(sg, Gs, qr, Vs, kr, ps, d);
    #pragma unroll
    for (int i = 0; i < 2; i++)
      #pragma unroll
      for (int j = 0; j < 2; j++) {
        int tt = qr[i], ss = kr[j];
        i64 t = t0 + tt, s = s0 + ss;
        if (t < T && s <= t && s >= att_lo(t, win)) {
          float p = kexp(sq[i][j] * scale - Ls[tt]);
          Ds[tt * (ATT + 1) + ss] = (p * (sg[i][j] - Dl[tt])) * scale;
        }
      }
    __syncthreads();
    #pragma unroll
    for (int r = 0; r < ATT_UNITS; r++)
      if (un[r].row >= 0) att_extend4(acc[r], Ds + un[r].row * (ATT + 1), Ks, ps, un[r].col, att_span_of(ulo[r], ut[r], s0));
  }
  #pragma unroll
  for (int r = 0; r < ATT_UNITS; r++)
    if (un[r].row >= 0)
      #pragma unroll
      for (int u = 0; u < 4; u++) dq[((b * T + ut[r]) * H + h) * D + un[r].col + u] = acc[r][u];
}

extern "C" __global__ void BLOCKS(2) k_attn_dkv_r(float* dk, float* dv, const float* dout, const float* lse, const float* delta, const float* q,
                                        const float* k, const float* v, i64 B, i64 T, i64 H, i64 KVH, i64 D, i64 win, float scale) {
  static_assert(ATT * ATT == 256 * 4, "k_attn_dkv_r: a thread's scores are 2×2 of a tile");
  DYNAMIC_SHARED(float, sm);
  const int d = (int)D, ps = d + ATT_PAD;
  float *Qs = sm, *Gs = Qs + ATT * ps, *Ks = Gs + ATT * ps, *Vs = Ks + ATT * ps;
  float *Ps = Vs + ATT * ps, *Ds = Ps + ATT * (ATT + 1), *Ls = Ds + ATT * (ATT + 1), *Dl = Ls + ATT;
  i64 nt = (T + ATT - 1) / ATT, idx = blockIdx.x;
  i64 st = idx % nt, g = (idx / nt) % KVH, b = idx / (nt * KVH), rep = H / KVH;
  i64 s0 = st * ATT;
  att_rows(Ks, k, b, s0, T, KVH, g, D, ps);
  att_rows(Vs, v, b, s0, T, KVH, g, D, ps);
  // Scores: thread (keys ty and ty + 16, queries tx and tx + 16); chains X = q or dout, Y = k or v.
  const int ty = threadIdx.x / 16, tx = threadIdx.x % 16;
  const int kr[2] = {ty, ty + 16}, qr[2] = {tx, tx + 16};
  att_unit un[ATT_UNITS];
  i64 us[ATT_UNITS], uhi[ATT_UNITS];  // a unit's key and the last query that sees it
  float ak[ATT_UNITS][4], av[ATT_UNITS][4];
  #pragma unroll
  for (int r = 0; r < ATT_UNITS; r++) {
    un[r] = att_unit_of(r, ATT, d);
    us[r] = s0 + un[r].row;
    if (un[r].row < 0 || us[r] >= T) un[r].row = -1;
    uhi[r] = att_hi(us[r], win, T);
    #pragma unroll
    for (int u = 0; u < 4; u++) ak[r][u] = av[r][u] = 0.0f;
  }
  i64 sl = s0 + ATT - 1 < T - 1 ? s0 + ATT - 1 : T - 1;
  i64 th = att_hi(sl, win, T);  // the last query any key of the tile sees
  att_qtile fq;  // the next step's query tile, fetched a step ahead
  att_fetch_queries(fq, q, dout, lse, delta, b, g * rep, st * ATT, T, H, D);
  for (i64 h = g * rep; h < (g + 1) * rep; h++) {
    for (i64 qt = st; qt <= th / ATT; qt++) {
      i64 t0 = qt * ATT;
      att_q_step(Qs, Gs, Ls, Dl, fq, q, dout, lse, delta, b, h, qt, st, th, g, rep, T, H, D, ps);
      float sq[2][2], sg[2][2];  // [query][key]
      att_dots<2, 2>(sq, Qs, qr, Ks, kr, ps, d);
      att_dots<2, 2>(sg, Gs, qr, Vs, kr, ps, d);
      #pragma unroll
      for (int i = 0; i < 2; i++)
        #pragma unroll
        for (int j = 0; j < 2; j++) {
          int tt = qr[i], ss = kr[j];
          i64 s = s0 + ss, t = t0 + tt;
          i64 hi = att_hi(s, win, T);
          if (s < T && t >= s && t <= hi) {
            float p = kexp(sq[i][j] * scale - Ls[tt]);
            Ps[ss * (ATT + 1) + tt] = p;
            Ds[ss * (ATT + 1) + tt] = (p * (sg[i][j] - Dl[tt])) * scale;
          }
        }
      __syncthreads();
      #pragma unroll
      for (int r = 0; r < ATT_UNITS; r++) {
        if (un[r].row < 0) continue;
        const att_span sp = att_span_of(us[r], uhi[r], t0);
        const float *P = Ps + un[r].row * (ATT + 1), *S = Ds + un[r].row * (ATT + 1);
        #pragma unroll 2
        for (int j = sp.a; j < sp.b; j++) {
          float p = P[j], ds = S[j], g4[4], q4[4];
          ldv<4>(g4, Gs + j * ps + un[r].col);
          ldv<4>(q4, Qs + j * ps + un[r].col);
          #pragma unroll
          for (int u = 0; u < 4; u++) {
            av[r][u] = fmaf(p, g4[u], av[r][u]);
            ak[r][u] = fmaf(ds, q4[u], ak[r][u]);
          }
        }
      }
    }
  }
  #pragma unroll
  for (int r = 0; r < ATT_UNITS; r++)
    if (un[r].row >= 0)
      #pragma unroll
      for (int u = 0; u < 4; u++) {
        dk[((b * T + us[r]) * KVH + g) * D + un[r].col + u] = ak[r][u];
        dv[((b * T + us[r]) * KVH + g) * D + un[r].col + u] = av[r][u];
      }
}

// ---- causal depthwise conv1d ----
// Causal depthwise convolution, gpu/cpu's orders: the forward starts from the bias and adds the
// rounded products w·x in increasing j; dx adds w·dout from 0 in increasing j.
extern "C" __global__ void k_conv(float* out, const float* x, const float* w, const float* bias, i64 B, i64 T, i64 C, i64 K) {
  i64 i = gid();
  if (i < B * T * C) {
    i64 c = i % C, t = (i / C) % T, b = i / (C * T);
    float acc = bias[c];
    for (i64 j = 0; j < K; j++) { i64 ts = t - K + 1 + j; if (ts >= 0) acc = acc + w[c * K + j] * x[(b * T + ts) * C + c]; }
    out[i] = acc;
  }
}
extern "C" __global__ void k_conv_bwd_dx(float* dx, const float* dout, const float* w, i64 B, i64 T, i64 C, i64 K) {
  i64 i = gid();
  if (i < B * T * C) {
    i64 c = i % C, t = (i / C) % T, b = i / (C * T);
    float acc = 0.0f;
    for (i64 j = 0; j < K; j++) { i64 to = t + K - 1 - j; if (to < T) acc = acc + w[c * K + j] * dout[(b * T + to) * C + c]; }
    dx[i] = acc;
  }
}
// dw[c,j] += Σ_{b,t} dout[b,t,c]·x[b,t-K+1+j,c]; dbias[c] += Σ dout; float64 sums over (b,t)
// increasing, added to the gradient once. Thread per (c, j), j==K for the bias.
extern "C" __global__ void k_conv_bwd_dw(float* dw, float* dbias, const float* dout, const float* x, i64 B, i64 T, i64 C, i64 K) {
  i64 i = gid();
  if (i < C * (K + 1)) {
    i64 j = i % (K + 1), c = i / (K + 1);
    double acc = 0.0;
    if (j == K) {
#pragma unroll 8
      for (i64 r = 0; r < B * T; r++) acc = acc + (double)dout[r * C + c];
      dbias[c] = (float)((double)dbias[c] + acc);
    } else {
      for (i64 b = 0; b < B; b++)
#pragma unroll 8
        for (i64 t = 0; t < T; t++) {
          i64 ts = t - K + 1 + j;
          if (ts >= 0) acc = acc + (double)dout[(b * T + t) * C + c] * (double)x[(b * T + ts) * C + c];
        }
      dw[c * K + j] = (float)((double)dw[c * K + j] + acc);
    }
  }
}
#define MAXN 64
// Selective scan, gpu/cpu's formulas (vec_scan.go) and orders: one thread per (b, c), t increasing;
// the sum over the state index n in eight float32 lanes (n mod 8) combined by lanes8f.
extern "C" __global__ void k_scan(float* y, float* states, const float* u, const float* delta, const float* A, const float* Bm,
                                  const float* Cm, const float* Dv, i64 B, i64 T, i64 C, i64 N) {
  i64 i = gid();
  if (i < B * C) {
    i64 c = i % C, b = i / C;
    float h[MAXN];
    for (i64 n = 0; n < N; n++) h[n] = 0.0f;
    for (i64 t = 0; t < T; t++) {
      i64 r = b * T + t;
      float dt = delta[r * C + c], x = u[r * C + c], du = dt * x;
      float lanes[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
      for (i64 n = 0; n < N; n++) {
        float e = kexp(dt * A[c * N + n]);
        h[n] = e * h[n] + du * Bm[r * N + n];
        states[(r * C + c) * N + n] = h[n];
        lanes[n % 8] = lanes[n % 8] + Cm[r * N + n] * h[n];
      }
      y[r * C + c] = lanes8f(lanes) + Dv[c] * x;
    }
  }
}
// Backward, pass 1: per (b, c), time reversed, gpu/cpu's scanBack step. Writes du and ddelta, the
// per-(b,t,c,n) terms of dB and dC into gB/gC (summed over c by pass 2), and per-b float64 partials
// of dA and dD into pA [B,C,N] and pD [B,C] (summed over b by pass 3).
extern "C" __global__ void k_scan_bwd(float* du, float* ddelta, float* gB, float* gC, double* pA, double* pD,
                                      const float* dy, const float* states, const float* u, const float* delta, const float* A,
                                      const float* Bm, const float* Cm, const float* Dv, i64 B, i64 T, i64 C, i64 N) {
  i64 i = gid();
  if (i < B * C) {
    i64 c = i % C, b = i / C;
    float dh[MAXN];
    double pa[MAXN];
    for (i64 n = 0; n < N; n++) { dh[n] = 0.0f; pa[n] = 0.0; }
    double pd = 0.0;
    for (i64 t = T - 1; t >= 0; t--) {
      i64 r = b * T + t;
      float g = dy[r * C + c], d = delta[r * C + c], uc = u[r * C + c], dux = d * uc;
      float ld[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
      float lu[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
      for (i64 n = 0; n < N; n++) {
        float hc = states[(r * C + c) * N + n];
        float hp = t > 0 ? states[((r - 1) * C + c) * N + n] : 0.0f;
        float an = A[c * N + n], bn = Bm[r * N + n];
        float dhn = dh[n] + g * Cm[r * N + n];
        gC[(r * C + c) * N + n] = g * hc;
        float e = kexp(d * an);
        float ae = (dhn * hp) * e;
        pa[n] = pa[n] + (double)ae * (double)d;
        ld[n % 8] = ld[n % 8] + ((ae * an) + dhn * (uc * bn));
        gB[(r * C + c) * N + n] = dhn * dux;
        lu[n % 8] = lu[n % 8] + dhn * (d * bn);
        dh[n] = dhn * e;
      }
      ddelta[r * C + c] = lanes8f(ld);
      du[r * C + c] = g * Dv[c] + lanes8f(lu);
      pd = pd + (double)g * (double)uc;
    }
    for (i64 n = 0; n < N; n++) pA[(b * C + c) * N + n] = pa[n];
    pD[b * C + c] = pd;
  }
}
// Pass 2: dBm[r,n] = Σ_c gB[r,c,n], dCm likewise (c increasing). Thread per (r, n).
extern "C" __global__ void k_scan_bwd_bc(float* dBm, float* dCm, const float* gB, const float* gC, i64 rows, i64 C, i64 N) {
  i64 i = gid();
  if (i < rows * N) {
    i64 n = i % N, r = i / N;
    float ab = 0.0f, ac = 0.0f;
#pragma unroll 8
    for (i64 c = 0; c < C; c++) { ab = ab + gB[(r * C + c) * N + n]; ac = ac + gC[(r * C + c) * N + n]; }
    dBm[i] = ab; dCm[i] = ac;
  }
}
// Pass 3: dA[c,n] += Σ_b pA[b,c,n]; dD[c] += Σ_b pD[b,c] (float64, b increasing, added to the gradient
// once). Thread per (c, n), n==N for D.
extern "C" __global__ void k_scan_bwd_ad(float* dA, float* dD, const double* pA, const double* pD, i64 B, i64 C, i64 N) {
  i64 i = gid();
  if (i < C * (N + 1)) {
    i64 n = i % (N + 1), c = i / (N + 1);
    double acc = 0.0;
    if (n == N) { for (i64 b = 0; b < B; b++) acc = acc + pD[b * C + c]; dD[c] = (float)((double)dD[c] + acc); }
    else { for (i64 b = 0; b < B; b++) acc = acc + pA[(b * C + c) * N + n]; dA[c * N + n] = (float)((double)dA[c * N + n] + acc); }
  }
}

// ---- loss ----
// Cross-entropy, gpu/cpu's formulas and order: per row the maximum m (order-free; -0 made +0), the
// exponentials e_j = kexp(x_j − m) in eight float64 lanes, l = float32 of their sum, loss
// (m + log l) − x_target, dlogits e_j·(gscale/l) − gscale at the target. LR rows per block, 8 lanes each.
extern "C" __global__ void k_xent(float* losses, float* dlogits, const float* logits, const int* targets, i64 rows, i64 V, float gscale,
                                  int* bad) {
  __shared__ double ls[LR * 8];
  __shared__ float ms[LR * 8];
  int lane = threadIdx.x % 8, rr = threadIdx.x / 8;
  i64 r = (i64)blockIdx.x * LR + rr;
  int tg = r < rows ? targets[r] : -1;
  if (tg >= V) {  // a target outside the vocabulary: flagged, the row left alone
    if (lane == 0) bad[0] = 1;
    r = rows;
    tg = -1;
  }
  bool live = tg >= 0;
  const float* lr = logits + (r < rows ? r : 0) * V;
  float* dr = dlogits + (r < rows ? r : 0) * V;
  float m = -FLT_BIG;
  if (live)
    for (i64 j = lane; j < V; j += 8) m = fmaxf(m, lr[j]);
  ms[threadIdx.x] = m;
  __syncthreads();
  float mx = ms[rr * 8];
  for (int k = 1; k < 8; k++) mx = fmaxf(mx, ms[rr * 8 + k]);
  mx = mx + 0.0f;
  double acc = 0.0;
  if (live)
    for (i64 j = lane; j < V; j += 8) { float e = kexp(lr[j] - mx); dr[j] = e; acc = acc + (double)e; }
  ls[threadIdx.x] = acc;
  __syncthreads();
  if (r >= rows) return;
  if (!live) {
    for (i64 j = lane; j < V; j += 8) dr[j] = 0.0f;
    if (lane == 0) losses[r] = 0.0f;
    return;
  }
  float l = (float)lanes8(ls + rr * 8), sc = gscale / l;
  for (i64 j = lane; j < V; j += 8) dr[j] = dr[j] * sc;
  if (tg % 8 == lane) dr[tg] = dr[tg] - gscale;
  if (lane == 0) losses[r] = (mx + fm_log(l)) - lr[tg];
}
// The index of the row's largest value, the lowest on ties; NaNs are ignored, a row of NaNs gives 0.
extern "C" __global__ void k_argmax(int* out, const float* logits, i64 rows, i64 V) {
  i64 r = gid();
  if (r < rows) {
    const float* lr = logits + r * V;
    i64 bi = -1;
    float best = -INFINITY;
    for (i64 j = 0; j < V; j++) {
      float v = lr[j];
      if (v == v && (bi < 0 || v > best)) { bi = j; best = v; }
    }
    out[r] = bi < 0 ? 0 : (int)bi;
  }
}

// ---- optimizer ----
// gpu.AdamWScalars' update, operation for operation (the host computes the scalars as the CPU device
// does), so the CPU device's bits.
extern "C" __global__ void k_adamw(float* p, const float* g, float* m, float* v, const float* decay, i64 n, float b1, float b2,
                                   float omb1, float omb2, float decayF, float stepSize, float sqrtBC2, float eps, i64 hasDecay) {
  i64 i = gid();
  if (i < n) {
    float w = p[i];
    if (!hasDecay || decay[i] != 0.0f) w = w * decayF;
    float gi = g[i];
    float mi = b1 * m[i] + omb1 * gi;
    float vi = b2 * v[i] + (omb2 * gi) * gi;
    m[i] = mi; v[i] = vi;
    float denom = sqrtf(vi) / sqrtBC2 + eps;
    p[i] = w - (stepSize * mi) / denom;
  }
}

// ---- matmul: C[m,n] = op(A)·op(B) (+C) ----
// One template, several tile shapes (the Go side picks by the output's shape; the bits never depend
// on the choice): every output is one fmaf chain over k in increasing order, started from C (acc) or
// 0, the same chain as the CPU device's, so matmul bits match the CPU's.
//
// A block of NT threads computes a BM×BN tile of C. Thread (tx, ty) owns RM consecutive rows,
// ty·RM + i, and RN columns in runs of V = min(RN, 4) consecutive ones, run c at c·TX·V + tx·V: so
// its operands for one k come out of shared memory in a few vector loads (a warp's threads share
// row runs and read consecutive column runs, free of bank conflicts). op(A) and op(B) come through
// shared memory BK of k at a time; the loads of a later slice run while the current one is used, one
// slice ahead with one buffer (two barriers a slice) or two ahead with two (PF 2: one barrier). Loads
// run along the stored matrix's contiguous index so that a warp reads consecutive addresses.
//
// The weight gradients (k = the batch's tokens, an output of a few weight matrices) are the hard
// case: no split over k is allowed, so small outputs need small tiles to give every multiprocessor
// a block, and their slices are little work beside a load's latency. TestMatMulTiles times every
// tile on the training shapes; docs/gpu.md has the H100 figures behind kernels.go's matmulTile.
//
//   k_mm_128x128_8x8_k16_f:    128×128, 8×8 per thread, BK 16, 256 threads, one buffer  (large outputs)
//   k_mm_128x64_8x4_k16_pf2_f: 128×64,  8×4, BK 16, 256 threads
//   k_mm_64x64_4x4_k16_pf2_f:   64×64,  4×4, BK 16, 256 threads
//   k_mm_32x32_2x4_k64_pf2_f:   32×32,  2×4, BK 64, 128 threads  (weight gradients, the larger)
//   k_mm_32x16_2x2_k64_pf2_f:   32×16,  2×2, BK 64, 128 threads  (weight gradients, the smaller)
//   k_matmul:                   64×64,  4×4, BK 16, 256 threads, one buffer, without FAST (the
//                               reference kernels')
// They are the fastest of seventeen tiles TestMatMulTiles timed on an H100 (docs/gpu.md); the others,
// with other tile shapes, slices and buffering, and without FAST, were deleted after that run.
//
// FAST (the "_f" variants, which kernels.go picks): a slice that is whole in k, of a tile whole in
// the output, takes a path without bounds: its loads are unpredicated and its k loop is unrolled
// completely (a constant trip count), so that the compiler can issue the next k's shared loads
// while the current k's fmaf run. The weight-gradient tiles, with a few outputs a thread and one
// warp a scheduler, issue about three instructions for each fmaf on the general path (64-bit bound
// checks per load, a loop of eight k with its loads' latency exposed at each turn); the large tiles
// spend about a fifth of a slice on those checks. Same loads, same chains.
template <int BM, int BN, int RM, int RN, int BK, int PF, bool FAST = false>
__device__ __forceinline__ void matmul_tile(float* c, const float* a, const float* b, i64 M, i64 N, i64 K, i64 ta, i64 tb,
                                            i64 acc) {
  constexpr int TX = BN / RN, TY = BM / RM, NT = TX * TY;  // NT threads per block
  constexpr int V = RN < 4 ? RN : 4, VA = RM < 4 ? RM : 4;
  constexpr int LA = BM * BK / NT, LB = BK * BN / NT, NB = PF;  // NB shared buffers
  static_assert(LA * NT == BM * BK && LB * NT == BK * BN && RN % V == 0 && RM % VA == 0 && (PF == 1 || PF == 2),
                "matmul tile");
  static_assert(LA <= 32 && LB <= 32, "matmul loads: inA and inB hold a bit per element");
  // Rows padded by 4 floats: 16-byte aligned for the vector loads.
  SHARED_ALIGN16 __shared__ float As[NB][BK][BM + 4];
  SHARED_ALIGN16 __shared__ float Bs[NB][BK][BN + 4];
  const int tid = threadIdx.x, tx = tid % TX, ty = tid / TX;
  const i64 row0 = (i64)blockIdx.y * BM, col0 = (i64)blockIdx.x * BN;
  // col is the column within the tile of the thread's j-th output column.
  auto col = [&](int j) { return (j / V) * (TX * V) + tx * V + j % V; };
  float r[RM][RN];
  for (int i = 0; i < RM; i++)
    for (int j = 0; j < RN; j++) {
      i64 gi = row0 + ty * RM + i, gj = col0 + col(j);
      r[i][j] = (acc && gi < M && gj < N) ? c[gi * N + gj] : 0.0f;
    }
  // Thread tid loads elements e = tid + NT·l (l < LA) of each BK-deep slice of op(A), and likewise
  // of op(B). NT is a multiple of BM, BN and BK, so a thread's elements share one coordinate and
  // step the other by a constant: along k (stored k-major: ta, or !tb) or along the tile. Element
  // l's offset is therefore o + l·dl, o advancing by dk a slice, and its bounds split into a tile
  // part fixed for the whole kernel and a k part, kk + l·sk < K − k0. The address math that was
  // redone for every element and slice (64-bit products, ta/tb selects) is gone; the elements and
  // the chains are the same.
  static_assert(NT % BM == 0 && NT % BN == 0 && NT % BK == 0, "matmul loads");
  const int kA = ta ? tid / BM : tid % BK, skA = ta ? NT / BM : 0;  // element l's k: kA + l·skA
  const int mA = ta ? tid % BM : tid / BK, smA = ta ? 0 : NT / BK;  // its row in the tile: mA + l·smA
  const int kB = tb ? tid % BK : tid / BN, skB = tb ? 0 : NT / BN;
  const int nB = tb ? tid / BK : tid % BN, snB = tb ? NT / BK : 0;
  const i64 dlA = ta ? (i64)skA * M : (i64)smA * K, dkA = ta ? (i64)BK * M : BK;
  const i64 dlB = tb ? (i64)snB * K : (i64)skB * N, dkB = tb ? BK : (i64)BK * N;
  i64 oA = ta ? (i64)kA * M + row0 + mA : (row0 + mA) * K + kA;
  i64 oB = tb ? (col0 + nB) * K + kB : (i64)kB * N + col0 + nB;
  unsigned inA = 0, inB = 0;  // bit l: element l's row (column) is inside op(A) (op(B))
  for (int l = 0; l < LA; l++) inA |= (unsigned)(row0 + mA + l * smA < M) << l;
  for (int l = 0; l < LB; l++) inB |= (unsigned)(col0 + nB + l * snB < N) << l;
  // PF register sets of PF slices in flight: load(x, k0) fetches the k-slice starting at k0 into set
  // x, store(x, s) puts set x into shared buffer s. With PF 2 a slice's loads are issued two slices
  // before it is stored, so that their latency hides behind two slices' work instead of one (the
  // long-k weight gradients do little work a slice), and the slices alternate between two shared
  // buffers; with PF 1 one buffer serves every slice. Slices are loaded in increasing order.
  float pa[PF][LA], pb[PF][LB];
  // inside: every element this thread loads has its row (of op(A)) and column (of op(B)) in bounds.
  const bool inside = inA == (LA == 32 ? ~0u : (1u << LA) - 1) && inB == (LB == 32 ? ~0u : (1u << LB) - 1);
  auto load = [&](int x, i64 k0) {
    if (FAST && inside && K - k0 >= BK) {  // every element in bounds: kA + l·skA < BK <= K − k0
      i64 o = oA;
#pragma unroll
      for (int l = 0; l < LA; l++, o += dlA) pa[x][l] = a[o];
      o = oB;
#pragma unroll
      for (int l = 0; l < LB; l++, o += dlB) pb[x][l] = b[o];
    } else {
      const i64 ka = K - k0 - kA, kb = K - k0 - kB;
      i64 o = oA;
      for (int l = 0; l < LA; l++, o += dlA) pa[x][l] = ((inA >> l & 1) && l * skA < ka) ? a[o] : 0.0f;
      o = oB;
      for (int l = 0; l < LB; l++, o += dlB) pb[x][l] = ((inB >> l & 1) && l * skB < kb) ? b[o] : 0.0f;
    }
    oA += dkA;
    oB += dkB;
  };
  auto store = [&](int x, int s) {
    for (int l = 0; l < LA; l++) As[s][kA + l * skA][mA + l * smA] = pa[x][l];
    for (int l = 0; l < LB; l++) Bs[s][kB + l * skB][nB + l * snB] = pb[x][l];
  };
  // body runs the slice at k0, which sits in buffer s; with PF 2, set x holds the slice after it.
  auto body = [&](int x, i64 k0, int s) {
    const bool more = k0 + BK < K;
    if (PF == 1) {
      if (more) load(0, k0 + BK);
    } else if (k0 + 2 * BK < K) {
      load(x ^ 1, k0 + 2 * BK);
    }
    const int kmax = K - k0 < BK ? (int)(K - k0) : BK;
    auto step = [&](int kk) {
      float av[RM], bv[RN];
      for (int i = 0; i < RM; i += VA) ldv<VA>(av + i, &As[s][kk][ty * RM + i]);
      for (int j = 0; j < RN; j += V) ldv<V>(bv + j, &Bs[s][kk][col(j)]);
      for (int i = 0; i < RM; i++)
        for (int j = 0; j < RN; j++) r[i][j] = fmaf(av[i], bv[j], r[i][j]);
    };
    if (FAST && kmax == BK) {
#pragma unroll
      for (int kk = 0; kk < BK; kk++) step(kk);
    } else {
#pragma unroll 8
      for (int kk = 0; kk < kmax; kk++) step(kk);
    }
    if (PF == 2) {  // the next slice goes into the other buffer: one barrier a slice
      if (more) store(x, s ^ 1);
      __syncthreads();
    } else {  // one buffer: every thread is done with it before it is overwritten
      __syncthreads();
      if (more) {
        store(0, 0);
        __syncthreads();
      }
    }
  };
  if (K > 0) {
    load(0, 0);
    store(0, 0);
    if (PF == 2 && BK < K) load(0, BK);
  }
  __syncthreads();
  if (PF == 1) {
    for (i64 k0 = 0; k0 < K; k0 += BK) body(0, k0, 0);
  } else {  // two slices a round, so that each body's register sets are fixed
    for (i64 k0 = 0; k0 < K; k0 += 2 * BK) {
      body(0, k0, 0);
      if (k0 + BK < K) body(1, k0 + BK, 1);
    }
  }
  for (int i = 0; i < RM; i++)
    for (int j = 0; j < RN; j++) {
      i64 gi = row0 + ty * RM + i, gj = col0 + col(j);
      if (gi < M && gj < N) c[gi * N + gj] = r[i][j];
    }
}
// Each kernel is one tile: k_mm_<BM>x<BN>_<RM>x<RN>_k<BK>[_pf2: two slices in flight, two shared
// buffers][_f: FAST] (BOUNDS: threads, blocks per SM).
#define MM(name, bounds, BM, BN, RM, RN, BK, PF, FAST)                                                                 \
  extern "C" __global__ void bounds name(float* c, const float* a, const float* b, i64 M, i64 N, i64 K, i64 ta, i64 tb, \
                                         i64 acc) {                                                                   \
    matmul_tile<BM, BN, RM, RN, BK, PF, FAST>(c, a, b, M, N, K, ta, tb, acc);                                         \
  }
MM(k_mm_128x128_8x8_k16_f, BOUNDS(256, 1), 128, 128, 8, 8, 16, 1, true)
MM(k_mm_128x64_8x4_k16_pf2_f, BOUNDS(256, 1), 128, 64, 8, 4, 16, 2, true)
MM(k_mm_64x64_4x4_k16_pf2_f, BOUNDS(256, 2), 64, 64, 4, 4, 16, 2, true)
// The weight-gradient tiles: slices of 64 loaded two ahead (four slices' work to hide a load's
// latency, with one or two warps a scheduler); 32×32 with 2×4 outputs a thread (eight chains a
// thread, a third fewer instructions a k than 2×2 in 256 threads).
MM(k_mm_32x32_2x4_k64_pf2_f, BOUNDS(128, 2), 32, 32, 2, 4, 64, 2, true)
MM(k_mm_32x16_2x2_k64_pf2_f, BOUNDS(128, 2), 32, 16, 2, 2, 64, 2, true)
#undef MM
extern "C" __global__ void BLOCKS(2) k_matmul(float* c, const float* a, const float* b, i64 M, i64 N, i64 K, i64 ta, i64 tb, i64 acc) {
  matmul_tile<64, 64, 4, 4, 16, 1>(c, a, b, M, N, K, ta, tb, acc);
}
