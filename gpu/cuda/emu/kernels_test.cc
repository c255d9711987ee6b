// kernels_test.cc runs kernels of gpu/cuda/kernels.cu on the host through cuda_emu.h and checks
// them bit for bit (make cuda-emu):
//
//   - every matmul tile (kernels.go's mmTiles) against the CPU device's chain (one fmaf over k increasing, from C
//     or 0), for every transpose and accumulate flag, on shapes that are not multiples of the tiles
//     and on whole tiles with whole slices (the FAST tiles' path without bounds checks);
//   - the tiled attention (k_attn_fwd_t, k_attn_fwd_c, k_attn_dq_t, k_attn_dkv_t, k_attn_dq_r, k_attn_dkv_r) against the kernels it replaces
//     (k_attn_fwd, k_attn_dq, k_attn_dkv), with grouped-query heads, sliding windows, ragged tiles
//     and rows longer than a tile;
//   - every other kernel, and the gpu/fmath functions the kernels call, against the CPU device's
//     bits on fixed inputs (written by gpu/cuda/emu/vectors);
//   - every kernel kernels.go launches, in its own block size (kernels.go's own launches run in
//     go test -tags cudaemu) on small ragged shapes, for order
//     independence (make cuda-emu builds with ASan and UBSan, so these runs also catch
//     out-of-bounds accesses and undefined behaviour);
//
// each with the threads of every barrier round run in increasing and in decreasing order (a result
// that depends on the order reads shared memory without a barrier). It prints the failures and a
// summary line (-v: every case) and exits 1 on any mismatch.
#include "cuda_emu.h"
// The kernels themselves, compiled for the host.
#include "../kernels.cu"

#include <fstream>
#include <functional>
#include <map>
#include <string>

namespace {

int failures = 0, passed = 0;
bool verbose = false;

struct rng {
  uint64_t s;
  float next() {  // uniform in [-1, 1)
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return float((s >> 40) & 0xffffff) / float(1 << 23) - 1.0f;
  }
};

std::vector<float> random(size_t n, uint64_t seed) {
  rng r{seed * 0x9e3779b97f4a7c15ull + 1};
  std::vector<float> v(n);
  for (auto& x : v) x = r.next();
  return v;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b, const std::string& what) {
  if (a.size() != b.size()) {
    std::printf("FAIL %s: %zu values, want %zu\n", what.c_str(), a.size(), b.size());
    return false;
  }
  for (size_t i = 0; i < a.size(); i++) {
    uint32_t x, y;
    std::memcpy(&x, &a[i], 4);
    std::memcpy(&y, &b[i], 4);
    if (x != y) {
      std::printf("FAIL %s: [%zu] = %.9g (0x%08x), want %.9g (0x%08x)\n", what.c_str(), i, a[i], x, b[i], y);
      return false;
    }
  }
  return true;
}

unsigned blocks(i64 n) { return unsigned((n + 255) / 256); }
// staged is the grid of the staged chain kernels (norm_cols, k_sumsq_part): CHAIN_COLS chains a block.
unsigned staged(i64 n) { return unsigned((n + CHAIN_COLS - 1) / CHAIN_COLS); }

void check(bool ok, const std::string& name) {
  if (!ok || emu_errors) {
    failures++;
    emu_errors = 0;
    std::printf("FAIL %s\n", name.c_str());
    return;
  }
  passed++;
  if (verbose) std::printf("pass %s\n", name.c_str());
}

using matmul_fn = void (*)(float*, const float*, const float*, i64, i64, i64, i64, i64, i64);

// matmul_ref is the CPU device's chain: C[i,j] = fma(op(A)[i,k], op(B)[k,j], ...) over k increasing.
std::vector<float> matmul_ref(const std::vector<float>& c0, const std::vector<float>& a, const std::vector<float>& b, i64 M,
                              i64 N, i64 K, bool ta, bool tb, bool acc) {
  std::vector<float> c(M * N);
  for (i64 i = 0; i < M; i++)
    for (i64 j = 0; j < N; j++) {
      float s = acc ? c0[i * N + j] : 0.0f;
      for (i64 k = 0; k < K; k++) s = fmaf(ta ? a[k * M + i] : a[i * K + k], tb ? b[j * K + k] : b[k * N + j], s);
      c[i * N + j] = s;
    }
  return c;
}

void test_matmul() {
  struct variant {
    const char* name;
    matmul_fn fn;
    int bm, bn, nt;
  } variants[] = {{"k_matmul", k_matmul, 64, 64, 256},
                  {"k_mm_128x128_8x8_k16_f", k_mm_128x128_8x8_k16_f, 128, 128, 256},
                  {"k_mm_128x64_8x4_k16_pf2_f", k_mm_128x64_8x4_k16_pf2_f, 128, 64, 256},
                  {"k_mm_64x64_4x4_k16_pf2_f", k_mm_64x64_4x4_k16_pf2_f, 64, 64, 256},
                  {"k_mm_32x32_2x4_k64_pf2_f", k_mm_32x32_2x4_k64_pf2_f, 32, 32, 128},
                  {"k_mm_32x16_2x2_k64_pf2_f", k_mm_32x16_2x2_k64_pf2_f, 32, 16, 128},
  };
  struct shape {
    i64 M, N, K;
  } shapes[] = {{1, 1, 1}, {5, 7, 3}, {33, 65, 17}, {130, 129, 19}, {16, 16, 40}, {40, 36, 300}, {3, 4, 0},
                // whole tiles with whole slices (the FAST tiles' unchecked path) and a ragged last
                // slice: of every large tile (BK 16), and of every small one (BK 64)
                {128, 128, 48}, {32, 32, 130}};
  uint64_t seed = 1;
  for (auto& v : variants)
    for (auto& s : shapes)
      for (int flags = 0; flags < 8; flags++) {
        bool ta = flags & 1, tb = flags & 2, acc = flags & 4;
        auto a = random(s.M * s.K, seed++), b = random(s.K * s.N, seed++), c0 = random(s.M * s.N, seed++);
        auto want = matmul_ref(c0, a, b, s.M, s.N, s.K, ta, tb, acc);
        bool ok = true;
        for (int order = 0; order < 2; order++) {
          emu_order = order;
          auto c = c0;
          emu_dim3 grid{unsigned((s.N + v.bn - 1) / v.bn), unsigned((s.M + v.bm - 1) / v.bm), 1};
          emu_launch(v.name, v.fn, grid, {unsigned(v.nt), 1, 1}, 0, c.data(), a.data(), b.data(), s.M, s.N, s.K, i64(ta), i64(tb),
                     i64(acc));
          ok = ok && same_bits(c, want, std::string(v.name) + (order ? " (reversed)" : ""));
        }
        char name[128];
        std::snprintf(name, sizeof name, "%s %lldx%lldx%lld ta=%d tb=%d acc=%d", v.name, s.M, s.N, s.K, ta,
                      tb, acc);
        check(ok, name);
      }
  emu_order = false;
}

// The tiled attention kernels' dynamic shared memory (kernels.go's attn*Shared).
size_t shared_fwd(i64 D) { return 8 * AFQ * 8 + (AFQ * (D + 1) + 2 * ATT * (D + 1) + AFQ * (ATT + 1) + 2 * AFQ) * 4; }
// shared_fwd_cached is the forward's shared memory with the rows' scores cached (AFQ×T floats more),
// or 0 when that does not fit the 48 KiB a launch gets (kernels.go's attnFwdCached).
size_t shared_fwd_cached(i64 D, i64 T) {
  size_t n = shared_fwd(D) + 4 * AFQ * T;
  return n <= 48 * 1024 ? n : 0;
}
// shared_fwd_c is k_attn_fwd_c's shared memory (the lanes, q, one tile, the AFQ×(T+1) scores, 256
// partial maxima, the row maxima and 1/l; rows of D+ATT_PAD), or 0 when that does not fit or D is not a
// multiple of 4 (kernels.go's attnFwdCached).
size_t shared_fwd_c(i64 D, i64 T) {
  size_t n = 8 * AFQ * 8 + (AFQ * (D + ATT_PAD) + ATT * (D + ATT_PAD) + AFQ * (T + 1) + 256 + 2 * AFQ) * 4;
  return n <= 48 * 1024 && D % 4 == 0 ? n : 0;
}
size_t shared_dq(i64 D) { return (4 * ATT * (D + 1) + ATT * (ATT + 1) + 2 * ATT) * 4; }
size_t shared_dkv(i64 D) { return (4 * ATT * (D + 1) + 2 * ATT * (ATT + 1) + 2 * ATT) * 4; }
// The register-tiled backward's (k_attn_dq_r, k_attn_dkv_r; D a multiple of 4): rows of D+ATT_PAD.
size_t shared_dq_r(i64 D) { return (4 * ATT * (D + ATT_PAD) + ATT * (ATT + 1) + 2 * ATT) * 4; }
size_t shared_dkv_r(i64 D) { return (4 * ATT * (D + ATT_PAD) + 2 * ATT * (ATT + 1) + 2 * ATT) * 4; }

void test_attention() {
  struct shape {
    i64 B, T, H, KVH, D, win;
  } shapes[] = {
      {1, 70, 4, 2, 8, 0},  // GQA, ragged last tile
      {2, 64, 2, 2, 32, 0},  // config-like head dim, whole tiles, two sequences
      {1, 50, 2, 1, 64, 20},  // the largest tiled head dim, a window shorter than a tile
      {1, 100, 1, 1, 5, 40},  // a window across tiles
      {1, 33, 1, 1, 3, 1},  // a window of one
      {1, 300, 1, 1, 16, 0},  // rows longer than the untiled forward's RED threads
      {1, 300, 1, 1, 4, 280},  // and with a window
      {2, 45, 3, 1, 12, 0},  // three units of four columns a row, GQA with one key-value head
      {1, 40, 2, 2, 60, 7},  // two units a thread, the second of them only for some
      // the longest rows k_attn_fwd_c keeps at D = 32 (kernels.go's attnFwdCached): its shared
      // memory at the largest, which the emulation checks as it does every launch's (a kernel that
      // touches shared memory past the size it was given fails)
      {1, 625, 1, 1, 32, 0},
  };
  uint64_t seed = 1000;
  for (auto& s : shapes) {
    i64 qn = s.B * s.T * s.H * s.D, kn = s.B * s.T * s.KVH * s.D, rows = s.B * s.H * s.T;
    auto q = random(qn, seed++), k = random(kn, seed++), v = random(kn, seed++), dout = random(qn, seed++);
    float scale = 1.0f / sqrtf(float(s.D));
    std::vector<float> out(qn), lse(rows), delta(rows);
    emu_launch("k_attn_fwd", k_attn_fwd, {unsigned(rows), 1, 1}, {RED, 1, 1}, (s.T + RED) * 4, out.data(), lse.data(),
               q.data(), k.data(), v.data(), s.B, s.T, s.H, s.KVH, s.D, s.win, scale);
    emu_launch("k_attn_delta", k_attn_delta, {unsigned((rows + 255) / 256), 1, 1}, {256, 1, 1}, 0, delta.data(),
               dout.data(), out.data(), s.B, s.T, s.H, s.D);
    std::vector<float> dq0(qn), dk0(kn), dv0(kn);
    emu_launch("k_attn_dq", k_attn_dq, {unsigned((qn + 255) / 256), 1, 1}, {256, 1, 1}, 0, dq0.data(), dout.data(),
               lse.data(), delta.data(), q.data(), k.data(), v.data(), s.B, s.T, s.H, s.KVH, s.D, s.win, scale);
    emu_launch("k_attn_dkv", k_attn_dkv, {unsigned((kn + 255) / 256), 1, 1}, {256, 1, 1}, 0, dk0.data(), dv0.data(),
               dout.data(), lse.data(), delta.data(), q.data(), k.data(), v.data(), s.B, s.T, s.H, s.KVH, s.D, s.win,
               scale);
    i64 nt = (s.T + ATT - 1) / ATT;
    size_t shq = shared_dq(s.D), shk = shared_dkv(s.D);
    bool ok = true;
    size_t shc = shared_fwd_cached(s.D, s.T);
    for (int order = 0; order < 2; order++) {
      emu_order = order;
      for (i64 cached : {0, 1}) {  // the forward recomputing its scores, and keeping them
        if (cached && !shc) continue;
        std::vector<float> out1(qn, -7.0f), lse1(rows, -7.0f);
        emu_launch("k_attn_fwd_t", k_attn_fwd_t, {unsigned(s.B * s.H * ((s.T + AFQ - 1) / AFQ)), 1, 1}, {256, 1, 1},
                   cached ? shc : shared_fwd(s.D), out1.data(), lse1.data(), q.data(), k.data(), v.data(), s.B, s.T, s.H, s.KVH,
                   s.D, s.win, scale, cached);
        std::string what = std::string(cached ? " (cached)" : "") + (order ? " (reversed)" : "");
        ok = same_bits(out1, out, "out" + what) && ok;
        ok = same_bits(lse1, lse, "lse" + what) && ok;
      }
      if (size_t shf = shared_fwd_c(s.D, s.T)) {  // the forward in phases, its scores kept
        std::vector<float> out1(qn, -7.0f), lse1(rows, -7.0f);
        emu_launch("k_attn_fwd_c", k_attn_fwd_c, {unsigned(s.B * s.H * ((s.T + AFQ - 1) / AFQ)), 1, 1}, {256, 1, 1}, shf,
                   out1.data(), lse1.data(), q.data(), k.data(), v.data(), s.B, s.T, s.H, s.KVH, s.D, s.win, scale);
        std::string what = std::string(" (k_attn_fwd_c)") + (order ? " (reversed)" : "");
        ok = same_bits(out1, out, "out" + what) && ok;
        ok = same_bits(lse1, lse, "lse" + what) && ok;
      }
      std::vector<float> dq(qn, -7.0f), dk(kn, -7.0f), dv(kn, -7.0f);
      emu_launch("k_attn_dq_t", k_attn_dq_t, {unsigned(s.B * s.H * nt), 1, 1}, {256, 1, 1}, shq, dq.data(), dout.data(),
                 lse.data(), delta.data(), q.data(), k.data(), v.data(), s.B, s.T, s.H, s.KVH, s.D, s.win, scale);
      emu_launch("k_attn_dkv_t", k_attn_dkv_t, {unsigned(s.B * s.KVH * nt), 1, 1}, {256, 1, 1}, shk, dk.data(), dv.data(),
                 dout.data(), lse.data(), delta.data(), q.data(), k.data(), v.data(), s.B, s.T, s.H, s.KVH, s.D, s.win,
                 scale);
      const char* o = order ? " (reversed)" : "";
      ok = same_bits(dq, dq0, std::string("dq") + o) && ok;
      ok = same_bits(dk, dk0, std::string("dk") + o) && ok;
      ok = same_bits(dv, dv0, std::string("dv") + o) && ok;
      if (s.D % 4 == 0) {  // the register-tiled backward
        std::vector<float> dq(qn, -7.0f), dk(kn, -7.0f), dv(kn, -7.0f);
        emu_launch("k_attn_dq_r", k_attn_dq_r, {unsigned(s.B * s.H * nt), 1, 1}, {256, 1, 1}, shared_dq_r(s.D), dq.data(),
                   dout.data(), lse.data(), delta.data(), q.data(), k.data(), v.data(), s.B, s.T, s.H, s.KVH, s.D, s.win, scale);
        emu_launch("k_attn_dkv_r", k_attn_dkv_r, {unsigned(s.B * s.KVH * nt), 1, 1}, {256, 1, 1}, shared_dkv_r(s.D), dk.data(),
                   dv.data(), dout.data(), lse.data(), delta.data(), q.data(), k.data(), v.data(), s.B, s.T, s.H, s.KVH, s.D,
                   s.win, scale);
        ok = same_bits(dq, dq0, std::string("dq (k_attn_dq_r)") + o) && ok;
        ok = same_bits(dk, dk0, std::string("dk (k_attn_dkv_r)") + o) && ok;
        ok = same_bits(dv, dv0, std::string("dv (k_attn_dkv_r)") + o) && ok;
      }
    }
    emu_order = false;
    char name[160];
    std::snprintf(name, sizeof name, "attention tiled (forward, backward) B=%lld T=%lld H=%lld KVH=%lld"
                  " D=%lld window=%lld", s.B, s.T, s.H, s.KVH, s.D, s.win);
    check(ok, name);
  }
}

// The CPU device's results on fixed inputs, written by gpu/cuda/emu/vectors (its doc gives the
// format): every kernel (all take the CPU device's arithmetic and order), and the gpu/fmath
// functions the ports call, must give the same bits. A NaN matches any NaN (a GPU's NaNs are
// canonical, a CPU's carry their payload).
struct vcase {
  std::string name;
  std::map<std::string, std::vector<float>> f;
  std::map<std::string, std::vector<double>> d;
  std::map<std::string, std::vector<int>> i;
  const std::vector<int>& I(const std::string& k) const {
    static const std::vector<int> none;
    auto it = i.find(k);
    return it == i.end() ? none : it->second;
  }
  const std::vector<float>& F(const std::string& k) const {
    static const std::vector<float> none;
    auto it = f.find(k);
    return it == f.end() ? none : it->second;
  }
};

// read_bits reads n values written as the hexadecimal bits U of each.
template <class U, class T>
void read_bits(std::istream& in, std::vector<T>& v, size_t n) {
  static_assert(sizeof(U) == sizeof(T));
  v.resize(n);
  for (auto& x : v) {
    U u;
    in >> std::hex >> u >> std::dec;
    std::memcpy(&x, &u, sizeof u);
  }
}

std::vector<vcase> read_vectors(const char* path) {
  std::vector<vcase> out;
  std::ifstream in(path);
  if (!in) return out;
  std::string tok;
  while (in >> tok) {
    if (tok == "case") {
      out.emplace_back();
      in >> out.back().name;
    } else if ((tok == "f32" || tok == "f64") && !out.empty()) {
      std::string name;
      size_t n = 0;
      in >> name >> n;
      if (tok == "f32")
        read_bits<uint32_t>(in, out.back().f[name], n);
      else
        read_bits<uint64_t>(in, out.back().d[name], n);
    } else if (tok == "i32" && !out.empty()) {
      std::string name;
      size_t n = 0;
      in >> name >> n;
      auto& v = out.back().i[name];
      v.resize(n);
      for (auto& x : v) in >> x;
    } else if (tok != "end") {
      std::printf("FAIL vectors: unexpected %s in %s\n", tok.c_str(), path);
      failures++;
      return {};
    }
  }
  if (!in.eof()) {
    std::printf("FAIL vectors: %s is cut short\n", path);
    failures++;
    return {};
  }
  return out;
}

template <class T>
bool same_or_nan(std::vector<T> got, const std::vector<T>& want, const std::string& what) {
  if (got.size() != want.size()) {
    std::printf("FAIL %s: %zu values, want %zu\n", what.c_str(), got.size(), want.size());
    return false;
  }
  for (size_t i = 0; i < got.size(); i++) {
    if (got[i] != got[i] && want[i] != want[i]) continue;
    if (std::memcmp(&got[i], &want[i], sizeof(T))) {
      std::printf("FAIL %s: [%zu] = %.17g, want %.17g\n", what.c_str(), i, double(got[i]), double(want[i]));
      return false;
    }
  }
  return true;
}

void test_vectors(const char* path) {
  std::vector<vcase> cases = read_vectors(path);
  if (cases.empty()) {
    std::printf("FAIL vectors: none read from %s (make cuda-emu writes them with gpu/cuda/emu/vectors)\n", path);
    failures++;
    return;
  }
  std::map<std::string, int> seen;
  for (const vcase& c : cases) {
    std::string what = c.name + " #" + std::to_string(seen[c.name]++) + ": the CPU device's bits";
    const auto& x = c.F("x");
    i64 n = i64(x.size());
    unsigned nb = unsigned((n + 255) / 256);
    using un = void (*)(float*, const float*, i64);
    using bw = void (*)(float*, const float*, const float*, i64);
    static const std::map<std::string, un> unary{{"k_silu", k_silu}, {"k_gelu", k_gelu}, {"k_softplus", k_softplus}, {"k_negexp", k_negexp}};
    static const std::map<std::string, bw> backward{
        {"k_silu_bwd", k_silu_bwd}, {"k_gelu_bwd", k_gelu_bwd}, {"k_softplus_bwd", k_softplus_bwd}};
    if (unary.count(c.name)) {
      std::vector<float> out(n);
      emu_launch(c.name.c_str(), unary.at(c.name), {nb}, {256}, 0, out.data(), x.data(), n);
      check(n > 1000 && same_or_nan(out, c.F("out"), what), what + " on " + std::to_string(n) + " inputs");
    } else if (backward.count(c.name)) {
      std::vector<float> out(n);
      emu_launch(c.name.c_str(), backward.at(c.name), {nb}, {256}, 0, out.data(), c.F("dout").data(), x.data(), n);
      check(n > 1000 && same_or_nan(out, c.F("out"), what), what + " on " + std::to_string(n) + " inputs");
    } else if (c.name == "k_swiglu") {
      std::vector<float> out(n);
      emu_launch("k_swiglu", k_swiglu, {nb}, {256}, 0, out.data(), x.data(), c.F("u").data(), n);
      check(n > 1000 && same_or_nan(out, c.F("out"), what), what);
    } else if (c.name == "k_swiglu_bwd") {
      std::vector<float> dg(n), du(n);
      emu_launch("k_swiglu_bwd", k_swiglu_bwd, {nb}, {256}, 0, dg.data(), du.data(), c.F("dout").data(), x.data(), c.F("u").data(), n);
      check(n > 1000 && same_or_nan(dg, c.F("dg"), what + " (dg)") && same_or_nan(du, c.F("du"), what + " (du)"), what);
    } else if (c.name == "k_adamw") {
      const auto& sc = c.F("scalars");
      std::vector<float> p = c.F("p"), m = c.F("m"), v = c.F("v");
      const auto& dec = c.F("decay");
      i64 np = i64(p.size());
      emu_launch("k_adamw", k_adamw, {unsigned((np + 255) / 256)}, {256}, 0, p.data(), c.F("g").data(), m.data(), v.data(),
                 dec.empty() ? nullptr : dec.data(), np, sc[0], sc[1], sc[2], sc[3], sc[4], sc[5], sc[6], sc[7], i64(!dec.empty()));
      check(sc.size() == 8 && np > 1000 && same_or_nan(p, c.F("p_out"), what + " (p)") && same_or_nan(m, c.F("m_out"), what + " (m)") &&
                same_or_nan(v, c.F("v_out"), what + " (v)"),
            what + (dec.empty() ? "" : ", decay mask"));
    } else if (c.name == "k_rotary") {
      const auto& sh = c.F("shape");  // B, T, H, D, rot, base, sign
      i64 B = i64(sh[0]), T = i64(sh[1]), H = i64(sh[2]), D = i64(sh[3]), rot = i64(sh[4]), half = rot / 2;
      std::vector<float> cs(T * half), sn(T * half), out = x;
      emu_launch("k_rope_table", k_rope_table, {unsigned((T * half + 255) / 256)}, {256}, 0, cs.data(), sn.data(), T, rot, sh[5]);
      emu_launch("k_rotary", k_rotary, {unsigned((B * T * H * half + 255) / 256)}, {256}, 0, out.data(), cs.data(), sn.data(), B, T, H, D,
                 rot, sh[6]);
      check(same_or_nan(out, c.F("out"), what), what + (sh[6] > 0 ? ", forward" : ", backward"));
    } else if (c.name == "k_sumsq") {
      i64 blocks = (n + SUMSQ_BLOCK - 1) / SUMSQ_BLOCK;
      std::vector<double> part(blocks), out(1);
      emu_launch("k_sumsq_part", k_sumsq_part, {staged(blocks)}, {256}, 0, part.data(), x.data(), n);
      emu_launch("k_sumsq_sum", k_sumsq_sum, {1}, {1}, 0, out.data(), part.data(), blocks);
      check(same_or_nan(out, c.d.at("out"), what), what + ", n=" + std::to_string(n));
    } else if (c.name == "fm_log") {
      std::vector<float> out(n);
      for (i64 i = 0; i < n; i++) out[i] = fm_log(x[i]);
      check(same_or_nan(out, c.F("out"), what), what);
    } else if (c.name == "fm_exp64_log64") {
      const auto& d = c.d.at("x");
      std::vector<double> e(d.size()), l(d.size());
      for (size_t i = 0; i < d.size(); i++) e[i] = fm_exp64(d[i]), l[i] = fm_log64(d[i]);
      check(same_or_nan(e, c.d.at("exp"), what + " (Exp64)") && same_or_nan(l, c.d.at("log"), what + " (Log64)"), what);
    } else if (c.name == "fm_sincos") {
      const auto& d = c.d.at("x");
      std::vector<float> sn(d.size()), cs(d.size());
      for (size_t i = 0; i < d.size(); i++) fm_sincos(d[i], &sn[i], &cs[i]);
      check(same_or_nan(sn, c.F("sin"), what + " (sin)") && same_or_nan(cs, c.F("cos"), what + " (cos)"), what);
    } else if (c.name == "k_embed_bwd") {
      const auto& sh = c.F("shape");  // rows, V, d
      i64 rows = i64(sh[0]), V = i64(sh[1]), d = i64(sh[2]);
      std::vector<float> out = c.F("dtable");
      int bad = 0;
      emu_launch("k_embed_bwd", k_embed_bwd, {blocks(V * d)}, {256}, 0, out.data(), c.F("dout").data(), c.I("tok").data(), rows, V, d, &bad);
      check(bad == 0 && same_or_nan(out, c.F("out"), what), what);  // the ids are all in the table
    } else if (c.name == "k_addpos_bwd") {
      const auto& sh = c.F("shape");  // B, T, d
      i64 B = i64(sh[0]), T = i64(sh[1]), d = i64(sh[2]);
      std::vector<float> out = c.F("dpos");
      emu_launch("k_addpos_bwd", k_addpos_bwd, {blocks(T * d)}, {256}, 0, out.data(), c.F("dx").data(), B, T, d);
      check(same_or_nan(out, c.F("out"), what), what);
    } else if (c.name == "rmsnorm" || c.name == "layernorm") {
      const auto& sh = c.F("shape");  // rows, d, eps
      i64 rows = i64(sh[0]), d = i64(sh[1]);
      unsigned g = unsigned((rows + LR - 1) / LR);
      std::vector<float> out(rows * d), mean(rows), rstd(rows), dx(rows * d), dw = c.F("dw"), db = c.F("db");
      bool ok;
      if (c.name == "rmsnorm") {
        emu_launch("k_rmsnorm", k_rmsnorm, {g}, {RED}, 0, out.data(), rstd.data(), c.F("x").data(), c.F("w").data(), rows, d, sh[2]);
        emu_launch("k_rmsnorm_bwd_dx", k_rmsnorm_bwd_dx, {g}, {RED}, 0, dx.data(), c.F("dout").data(), c.F("x").data(), c.F("w").data(),
                   rstd.data(), rows, d);
        emu_launch("k_rmsnorm_bwd_dw", k_rmsnorm_bwd_dw, {staged(d)}, {256}, 0, dw.data(), c.F("dout").data(), c.F("x").data(), rstd.data(),
                   rows, d);
        ok = same_or_nan(out, c.F("out"), what + " (out)") && same_or_nan(rstd, c.F("rstd"), what + " (rstd)");
      } else {
        emu_launch("k_layernorm", k_layernorm, {g}, {RED}, 0, out.data(), mean.data(), rstd.data(), c.F("x").data(), c.F("w").data(),
                   c.F("b").data(), rows, d, sh[2]);
        emu_launch("k_layernorm_bwd_dx", k_layernorm_bwd_dx, {g}, {RED}, 0, dx.data(), c.F("dout").data(), c.F("x").data(), c.F("w").data(),
                   mean.data(), rstd.data(), rows, d);
        emu_launch("k_layernorm_bwd_dwb", k_layernorm_bwd_dwb, {staged(d)}, {256}, 0, dw.data(), db.data(), c.F("dout").data(),
                   c.F("x").data(), mean.data(), rstd.data(), rows, d);
        ok = same_or_nan(out, c.F("out"), what + " (out)") && same_or_nan(mean, c.F("mean"), what + " (mean)") &&
             same_or_nan(rstd, c.F("rstd"), what + " (rstd)") && same_or_nan(db, c.F("db_out"), what + " (db)");
      }
      ok = ok && same_or_nan(dx, c.F("dx_out"), what + " (dx)") && same_or_nan(dw, c.F("dw_out"), what + " (dw)");
      check(ok, what + ", d=" + std::to_string(d));
    } else if (c.name == "k_xent") {
      const auto& sh = c.F("shape");  // rows, V, gscale
      i64 rows = i64(sh[0]), V = i64(sh[1]);
      std::vector<float> losses(rows), dl(rows * V, -7.0f);
      int bad = 0;
      emu_launch("k_xent", k_xent, {unsigned((rows + LR - 1) / LR)}, {RED}, 0, losses.data(), dl.data(), c.F("logits").data(),
                 c.I("targets").data(), rows, V, sh[2], &bad);
      check(bad == 0 && same_or_nan(losses, c.F("losses"), what + " (losses)") && same_or_nan(dl, c.F("dlogits"), what + " (dlogits)"),
            what + ", V=" + std::to_string(V));
    } else if (c.name == "k_argmax") {
      const auto& sh = c.F("shape");  // rows, V
      i64 rows = i64(sh[0]), V = i64(sh[1]);
      std::vector<int> out(rows, -7);
      emu_launch("k_argmax", k_argmax, {blocks(rows)}, {256}, 0, out.data(), c.F("logits").data(), rows, V);
      check(out == c.I("out"), what + ", V=" + std::to_string(V));
    } else if (c.name == "attention") {
      const auto& sh = c.F("shape");  // B, T, H, KVH, D, window, scale
      i64 B = i64(sh[0]), T = i64(sh[1]), H = i64(sh[2]), KVH = i64(sh[3]), D = i64(sh[4]), win = i64(sh[5]);
      float scale = sh[6];
      i64 qn = B * T * H * D, kn = B * T * KVH * D, rows = B * H * T, nt = (T + ATT - 1) / ATT;
      const float *q = c.F("q").data(), *k = c.F("k").data(), *v = c.F("v").data(), *dout = c.F("dout").data();
      for (bool tiled : {false, true}) {
        if (tiled && D > ATT_MAXD) continue;
        std::vector<float> out(qn, -7.0f), lse(rows, -7.0f), delta(rows), dq(qn, -7.0f), dk(kn, -7.0f), dv(kn, -7.0f);
        if (tiled) {  // as kernels.go launches it
          if (size_t shf = shared_fwd_c(D, T))
            emu_launch("k_attn_fwd_c", k_attn_fwd_c, {unsigned(B * H * ((T + AFQ - 1) / AFQ))}, {256}, shf, out.data(), lse.data(), q, k, v,
                       B, T, H, KVH, D, win, scale);
          else if (size_t shc = shared_fwd_cached(D, T))
            emu_launch("k_attn_fwd_t", k_attn_fwd_t, {unsigned(B * H * ((T + AFQ - 1) / AFQ))}, {256}, shc, out.data(),
                       lse.data(), q, k, v, B, T, H, KVH, D, win, scale, i64(1));
          else
            emu_launch("k_attn_fwd_t", k_attn_fwd_t, {unsigned(B * H * ((T + AFQ - 1) / AFQ))}, {256}, shared_fwd(D), out.data(),
                       lse.data(), q, k, v, B, T, H, KVH, D, win, scale, i64(0));
        }
        else
          emu_launch("k_attn_fwd", k_attn_fwd, {unsigned(rows)}, {RED}, (T + RED) * 4, out.data(), lse.data(), q, k, v, B, T, H, KVH, D,
                     win, scale);
        emu_launch("k_attn_delta", k_attn_delta, {blocks(rows)}, {256}, 0, delta.data(), dout, out.data(), B, T, H, D);
        if (tiled && D % 4 == 0) {
          emu_launch("k_attn_dq_r", k_attn_dq_r, {unsigned(B * H * nt)}, {256}, shared_dq_r(D), dq.data(), dout, lse.data(), delta.data(),
                     q, k, v, B, T, H, KVH, D, win, scale);
          emu_launch("k_attn_dkv_r", k_attn_dkv_r, {unsigned(B * KVH * nt)}, {256}, shared_dkv_r(D), dk.data(), dv.data(), dout,
                     lse.data(), delta.data(), q, k, v, B, T, H, KVH, D, win, scale);
        } else if (tiled) {
          emu_launch("k_attn_dq_t", k_attn_dq_t, {unsigned(B * H * nt)}, {256}, shared_dq(D), dq.data(), dout, lse.data(), delta.data(), q,
                     k, v, B, T, H, KVH, D, win, scale);
          emu_launch("k_attn_dkv_t", k_attn_dkv_t, {unsigned(B * KVH * nt)}, {256}, shared_dkv(D), dk.data(), dv.data(), dout, lse.data(),
                     delta.data(), q, k, v, B, T, H, KVH, D, win, scale);
        } else {
          emu_launch("k_attn_dq", k_attn_dq, {blocks(qn)}, {256}, 0, dq.data(), dout, lse.data(), delta.data(), q, k, v, B, T, H, KVH, D,
                     win, scale);
          emu_launch("k_attn_dkv", k_attn_dkv, {blocks(kn)}, {256}, 0, dk.data(), dv.data(), dout, lse.data(), delta.data(), q, k, v, B, T,
                     H, KVH, D, win, scale);
        }
        std::string w = what + (tiled ? ", tiled" : ", untiled");
        check(same_or_nan(out, c.F("out"), w + " (out)") && same_or_nan(lse, c.F("lse"), w + " (lse)") &&
                  same_or_nan(delta, c.F("delta"), w + " (delta)") && same_or_nan(dq, c.F("dq"), w + " (dq)") &&
                  same_or_nan(dk, c.F("dk"), w + " (dk)") && same_or_nan(dv, c.F("dv"), w + " (dv)"),
              w + " T=" + std::to_string(T) + " H=" + std::to_string(H) + " KVH=" + std::to_string(KVH) + " D=" + std::to_string(D) +
                  " window=" + std::to_string(win));
      }
    } else if (c.name == "scan") {
      const auto& sh = c.F("shape");  // B, T, C, N
      i64 B = i64(sh[0]), T = i64(sh[1]), C = i64(sh[2]), N = i64(sh[3]), rows = B * T;
      std::vector<float> y(rows * C), st(rows * C * N), du(rows * C), ddl(rows * C), gB(rows * C * N), gC(rows * C * N);
      std::vector<float> dBm(rows * N), dCm(rows * N), dA = c.F("dA"), dD = c.F("dD");
      std::vector<double> pA(B * C * N), pD(B * C);
      const float *u = c.F("u").data(), *dl = c.F("delta").data(), *A = c.F("A").data(), *Bm = c.F("Bm").data(), *Cm = c.F("Cm").data(),
                  *Dv = c.F("D").data();
      emu_launch("k_scan", k_scan, {blocks(B * C)}, {256}, 0, y.data(), st.data(), u, dl, A, Bm, Cm, Dv, B, T, C, N);
      emu_launch("k_scan_bwd", k_scan_bwd, {blocks(B * C)}, {256}, 0, du.data(), ddl.data(), gB.data(), gC.data(), pA.data(), pD.data(),
                 c.F("dy").data(), st.data(), u, dl, A, Bm, Cm, Dv, B, T, C, N);
      emu_launch("k_scan_bwd_bc", k_scan_bwd_bc, {blocks(rows * N)}, {256}, 0, dBm.data(), dCm.data(), gB.data(), gC.data(), rows, C, N);
      emu_launch("k_scan_bwd_ad", k_scan_bwd_ad, {blocks(C * (N + 1))}, {256}, 0, dA.data(), dD.data(), pA.data(), pD.data(), B, C, N);
      check(same_or_nan(y, c.F("y"), what + " (y)") && same_or_nan(st, c.F("states"), what + " (states)") &&
                same_or_nan(du, c.F("du_out"), what + " (du)") && same_or_nan(ddl, c.F("ddelta_out"), what + " (ddelta)") &&
                same_or_nan(dA, c.F("dA_out"), what + " (dA)") && same_or_nan(dBm, c.F("dBm_out"), what + " (dBm)") &&
                same_or_nan(dCm, c.F("dCm_out"), what + " (dCm)") && same_or_nan(dD, c.F("dD_out"), what + " (dD)"),
            what + ", N=" + std::to_string(N));
    } else if (c.name == "conv") {
      const auto& sh = c.F("shape");  // B, T, C, K
      i64 B = i64(sh[0]), T = i64(sh[1]), C = i64(sh[2]), K = i64(sh[3]), n = B * T * C;
      std::vector<float> out(n), dx(n), dw = c.F("dw"), db = c.F("db");
      emu_launch("k_conv", k_conv, {blocks(n)}, {256}, 0, out.data(), c.F("x").data(), c.F("w").data(), c.F("bias").data(), B, T, C, K);
      emu_launch("k_conv_bwd_dx", k_conv_bwd_dx, {blocks(n)}, {256}, 0, dx.data(), c.F("dout").data(), c.F("w").data(), B, T, C, K);
      emu_launch("k_conv_bwd_dw", k_conv_bwd_dw, {blocks(C * (K + 1))}, {256}, 0, dw.data(), db.data(), c.F("dout").data(), c.F("x").data(),
                 B, T, C, K);
      check(same_or_nan(out, c.F("out"), what + " (out)") && same_or_nan(dx, c.F("dx_out"), what + " (dx)") &&
                same_or_nan(dw, c.F("dw_out"), what + " (dw)") && same_or_nan(db, c.F("db_out"), what + " (db)"),
            what);
    } else {
      std::printf("FAIL vectors: unknown case %s\n", c.name.c_str());
      failures++;
    }
  }
  // Every kind of case this function checks must be in the file: a generator that stopped writing
  // one would otherwise leave its kernels unchecked, silently.
  for (const char* name : {"attention", "conv", "fm_exp64_log64", "fm_log", "fm_sincos", "k_adamw", "k_addpos_bwd", "k_argmax",
                           "k_embed_bwd", "k_gelu", "k_gelu_bwd", "k_negexp", "k_rotary", "k_silu", "k_silu_bwd", "k_softplus",
                           "k_softplus_bwd", "k_sumsq", "k_swiglu", "k_swiglu_bwd", "k_xent", "layernorm", "rmsnorm", "scan"})
    if (!seen.count(name)) {
      std::printf("FAIL vectors: no %s case in %s\n", name, path);
      failures++;
    }
}

// Every kernel kernels.go launches, in blocks of 256 (the row kernels and attention with kernels.go's
// geometry; kernels.go's own launches run in go test -tags cudaemu), on small random shapes (thread counts
// that are not multiples of the block, rows longer and shorter than a block), under the sanitizers
// of make cuda-emu: a read or write outside the buffers, or undefined behaviour, fails. Each runs
// with the threads of every barrier round in both orders, which must give the same bits; that
// part can only catch something in kernels that share memory between threads (the row
// reductions, cross-entropy, sum of squares), not in those with one thread per output.
struct bufs {
  std::vector<std::vector<float>> f;
  std::vector<std::vector<int>> i;
  std::vector<std::vector<double>> d;
};

bool same(const bufs& a, const bufs& b) {
  for (size_t k = 0; k < a.f.size(); k++)
    if (a.f[k].size() && std::memcmp(a.f[k].data(), b.f[k].data(), a.f[k].size() * 4)) return false;
  for (size_t k = 0; k < a.i.size(); k++)
    if (a.i[k] != b.i[k]) return false;
  for (size_t k = 0; k < a.d.size(); k++)
    if (a.d[k].size() && std::memcmp(a.d[k].data(), b.d[k].data(), a.d[k].size() * 8)) return false;
  return true;
}

// order_check runs launch on two copies of init, the threads in increasing then in decreasing order.
void order_check(const std::string& name, const bufs& init, const std::function<void(bufs&)>& launch) {
  bufs a = init, b = init;
  emu_order = false;
  launch(a);
  emu_order = true;
  launch(b);
  emu_order = false;
  check(same(a, b), "sanitizers clean, both orders the same bits: " + name);
}

std::vector<int> ints(size_t n, int lo, int hi, uint64_t seed) {
  rng r{seed * 0x9e3779b97f4a7c15ull + 7};
  std::vector<int> v(n);
  for (auto& x : v) x = lo + int((r.next() + 1.0f) * 0.5f * float(hi - lo)) % (hi - lo);
  return v;
}


void test_all_kernels() {
  uint64_t sd = 5000;
  auto R = [&](size_t n) { return random(n, sd++); };
  // elementwise, over n not a multiple of 256
  const i64 n = 1000;
  using un = void (*)(float*, const float*, i64);
  using bw = void (*)(float*, const float*, const float*, i64);
  for (auto [name, fn] : std::initializer_list<std::pair<const char*, un>>{
           {"k_silu", k_silu}, {"k_gelu", k_gelu}, {"k_softplus", k_softplus}, {"k_negexp", k_negexp}})
    order_check(name, {{R(n), R(n)}}, [&](bufs& m) { emu_launch(name, fn, {blocks(n)}, {256}, 0, m.f[1].data(), m.f[0].data(), n); });
  for (auto [name, fn] : std::initializer_list<std::pair<const char*, bw>>{{"k_silu_bwd", k_silu_bwd},
                                                                          {"k_gelu_bwd", k_gelu_bwd},
                                                                          {"k_softplus_bwd", k_softplus_bwd},
                                                                          {"k_add", k_add},
                                                                          {"k_mul", k_mul},
                                                                          {"k_swiglu", k_swiglu}})
    order_check(name, {{R(n), R(n), R(n)}},
                [&](bufs& m) { emu_launch(name, fn, {blocks(n)}, {256}, 0, m.f[0].data(), m.f[1].data(), m.f[2].data(), n); });
  order_check("k_fill", {{R(n)}}, [&](bufs& m) { emu_launch("k_fill", k_fill, {blocks(n)}, {256}, 0, m.f[0].data(), n, 0.5f); });
  order_check("k_addin", {{R(n), R(n)}}, [&](bufs& m) { emu_launch("k_addin", k_addin, {blocks(n)}, {256}, 0, m.f[0].data(), m.f[1].data(), n); });
  order_check("k_scale", {{R(n)}}, [&](bufs& m) { emu_launch("k_scale", k_scale, {blocks(n)}, {256}, 0, m.f[0].data(), n, 1.5f); });
  order_check("k_mul_bwd", {{R(n), R(n), R(n), R(n), R(n)}}, [&](bufs& m) {
    emu_launch("k_mul_bwd", k_mul_bwd, {blocks(n)}, {256}, 0, m.f[0].data(), m.f[1].data(), m.f[2].data(), m.f[3].data(), m.f[4].data(), n);
  });
  order_check("k_swiglu_bwd", {{R(n), R(n), R(n), R(n), R(n)}}, [&](bufs& m) {
    emu_launch("k_swiglu_bwd", k_swiglu_bwd, {blocks(n)}, {256}, 0, m.f[0].data(), m.f[1].data(), m.f[2].data(), m.f[3].data(), m.f[4].data(), n);
  });
  {
    const i64 ns = 3 * SUMSQ_BLOCK + 77, nb = 4;
    order_check("k_sumsq_part", {{R(ns)}, {}, {std::vector<double>(nb)}}, [&](bufs& m) {
      emu_launch("k_sumsq_part", k_sumsq_part, {staged(nb)}, {256}, 0, m.d[0].data(), m.f[0].data(), ns);
    });
    order_check("k_sumsq_sum", {{}, {}, {std::vector<double>(nb, 0.25), {0.0}}}, [&](bufs& m) {
      emu_launch("k_sumsq_sum", k_sumsq_sum, {1}, {1}, 0, m.d[1].data(), m.d[0].data(), nb);
    });
  }
  // rows shorter (70) and longer (300) than a block
  for (i64 d : {70, 300}) {
    const i64 rows = 37, V = 50, B = 3, T = rows / 1;
    std::string dn = " d=" + std::to_string(d);
    bufs e{{R(V * d), R(rows * d)}, {ints(rows, 0, V, sd++), {0}}};  // i[1]: the bad-index flag
    order_check("k_embed" + dn, e, [&](bufs& m) { emu_launch("k_embed", k_embed, {blocks(rows * d)}, {256}, 0, m.f[1].data(), m.f[0].data(), m.i[0].data(), rows, V, d, &m.i[1][0]); });
    order_check("k_embed_bwd" + dn, e, [&](bufs& m) {
      emu_launch("k_embed_bwd", k_embed_bwd, {blocks(V * d)}, {256}, 0, m.f[0].data(), m.f[1].data(), m.i[0].data(), rows, V, d, &m.i[1][0]);
    });
    order_check("k_addpos" + dn, {{R(B * T * d), R(T * d)}}, [&](bufs& m) {
      emu_launch("k_addpos", k_addpos, {blocks(B * T * d)}, {256}, 0, m.f[0].data(), m.f[1].data(), B, T, d);
    });
    order_check("k_addpos_bwd" + dn, {{R(T * d), R(B * T * d)}}, [&](bufs& m) {
      emu_launch("k_addpos_bwd", k_addpos_bwd, {blocks(T * d)}, {256}, 0, m.f[0].data(), m.f[1].data(), B, T, d);
    });
    bufs nb{{R(rows * d), R(d), R(d), R(rows * d), R(rows), R(rows), R(rows * d), R(rows * d), R(d), R(d)}};
    // 0 x, 1 w, 2 b, 3 out, 4 rstd, 5 mean, 6 dout, 7 dx, 8 dw, 9 db
    for (auto& v : nb.f[4]) v = std::fabs(v) + 0.5f;
    order_check("k_rmsnorm" + dn, nb, [&](bufs& m) {
      emu_launch("k_rmsnorm", k_rmsnorm, {unsigned((rows + LR - 1) / LR)}, {RED}, 0, m.f[3].data(), m.f[4].data(), m.f[0].data(), m.f[1].data(), rows, d, 1e-5f);
    });
    order_check("k_rmsnorm_bwd_dx" + dn, nb, [&](bufs& m) {
      emu_launch("k_rmsnorm_bwd_dx", k_rmsnorm_bwd_dx, {unsigned((rows + LR - 1) / LR)}, {RED}, 0, m.f[7].data(), m.f[6].data(), m.f[0].data(), m.f[1].data(),
                 m.f[4].data(), rows, d);
    });
    order_check("k_rmsnorm_bwd_dw" + dn, nb, [&](bufs& m) {
      emu_launch("k_rmsnorm_bwd_dw", k_rmsnorm_bwd_dw, {staged(d)}, {256}, 0, m.f[8].data(), m.f[6].data(), m.f[0].data(), m.f[4].data(), rows, d);
    });
    order_check("k_layernorm" + dn, nb, [&](bufs& m) {
      emu_launch("k_layernorm", k_layernorm, {unsigned((rows + LR - 1) / LR)}, {RED}, 0, m.f[3].data(), m.f[5].data(), m.f[4].data(), m.f[0].data(), m.f[1].data(),
                 m.f[2].data(), rows, d, 1e-5f);
    });
    order_check("k_layernorm_bwd_dx" + dn, nb, [&](bufs& m) {
      emu_launch("k_layernorm_bwd_dx", k_layernorm_bwd_dx, {unsigned((rows + LR - 1) / LR)}, {RED}, 0, m.f[7].data(), m.f[6].data(), m.f[0].data(), m.f[1].data(),
                 m.f[5].data(), m.f[4].data(), rows, d);
    });
    order_check("k_layernorm_bwd_dwb" + dn, nb, [&](bufs& m) {
      emu_launch("k_layernorm_bwd_dwb", k_layernorm_bwd_dwb, {staged(d)}, {256}, 0, m.f[8].data(), m.f[9].data(), m.f[6].data(), m.f[0].data(),
                 m.f[5].data(), m.f[4].data(), rows, d);
    });
    // cross-entropy over V = d classes, some targets ignored
    bufs xb{{R(rows), R(rows * d), R(rows * d)}, {ints(rows, -1, int(d), sd++), {0}}};
    order_check("k_xent" + dn, xb, [&](bufs& m) {
      emu_launch("k_xent", k_xent, {unsigned((rows + LR - 1) / LR)}, {RED}, 0, m.f[0].data(), m.f[1].data(), m.f[2].data(), m.i[0].data(), rows, d, 0.25f,
                 &m.i[1][0]);
    });
    order_check("k_argmax" + dn, xb, [&](bufs& m) {
      emu_launch("k_argmax", k_argmax, {blocks(rows)}, {256}, 0, m.i[0].data(), m.f[2].data(), rows, d);
    });
  }
  {  // the staged kernels across several of their tiles (CHAIN_ROWS rows, EMBED_TOKS ids)
    const i64 rows = 2 * CHAIN_ROWS + 44, d = 70, V = 50, er = EMBED_TOKS + 76;
    bufs nb{{R(rows * d), R(rows), R(rows), R(rows * d), R(d), R(d)}};  // x, rstd, mean, dout, dw, db
    for (auto& v : nb.f[1]) v = std::fabs(v) + 0.5f;
    order_check("k_rmsnorm_bwd_dw, " + std::to_string(rows) + " rows", nb, [&](bufs& m) {
      emu_launch("k_rmsnorm_bwd_dw", k_rmsnorm_bwd_dw, {staged(d)}, {256}, 0, m.f[4].data(), m.f[3].data(), m.f[0].data(), m.f[1].data(), rows, d);
    });
    order_check("k_layernorm_bwd_dwb, " + std::to_string(rows) + " rows", nb, [&](bufs& m) {
      emu_launch("k_layernorm_bwd_dwb", k_layernorm_bwd_dwb, {staged(d)}, {256}, 0, m.f[4].data(), m.f[5].data(), m.f[3].data(), m.f[0].data(),
                 m.f[2].data(), m.f[1].data(), rows, d);
    });
    bufs e{{R(V * d), R(er * d)}, {ints(er, 0, V, sd++), {0}}};
    order_check("k_embed_bwd, " + std::to_string(er) + " ids", e, [&](bufs& m) {
      emu_launch("k_embed_bwd", k_embed_bwd, {blocks(V * d)}, {256}, 0, m.f[0].data(), m.f[1].data(), m.i[0].data(), er, V, d, &m.i[1][0]);
    });
  }
  {  // rotary, with a partial rotation
    const i64 B = 2, T = 9, H = 3, D = 8, rot = 6;
    order_check("k_rope_table", {{R(T * rot / 2), R(T * rot / 2)}}, [&](bufs& m) {
      emu_launch("k_rope_table", k_rope_table, {blocks(T * (rot / 2))}, {256}, 0, m.f[0].data(), m.f[1].data(), T, rot, 10000.0f);
    });
    for (float sign : {1.0f, -1.0f})
      order_check("k_rotary", {{R(B * T * H * D), R(T * rot / 2), R(T * rot / 2)}}, [&](bufs& m) {
        emu_launch("k_rotary", k_rotary, {blocks(B * T * H * (rot / 2))}, {256}, 0, m.f[0].data(), m.f[1].data(), m.f[2].data(), B, T, H, D,
                   rot, sign);
      });
  }
  {  // causal depthwise convolution
    const i64 B = 2, T = 11, C = 30, K = 4;
    bufs cb{{R(B * T * C), R(C * K), R(C), R(B * T * C), R(B * T * C), R(B * T * C), R(C * K), R(C)}};
    // 0 x, 1 w, 2 bias, 3 out, 4 dout, 5 dx, 6 dw, 7 dbias
    order_check("k_conv", cb, [&](bufs& m) {
      emu_launch("k_conv", k_conv, {blocks(B * T * C)}, {256}, 0, m.f[3].data(), m.f[0].data(), m.f[1].data(), m.f[2].data(), B, T, C, K);
    });
    order_check("k_conv_bwd_dx", cb, [&](bufs& m) {
      emu_launch("k_conv_bwd_dx", k_conv_bwd_dx, {blocks(B * T * C)}, {256}, 0, m.f[5].data(), m.f[4].data(), m.f[1].data(), B, T, C, K);
    });
    order_check("k_conv_bwd_dw", cb, [&](bufs& m) {
      emu_launch("k_conv_bwd_dw", k_conv_bwd_dw, {blocks(C * (K + 1))}, {256}, 0, m.f[6].data(), m.f[7].data(), m.f[4].data(), m.f[0].data(), B, T,
                 C, K);
    });
  }
  {  // selective scan, with the backward's scratch as the device allocates it
    const i64 B = 2, T = 7, C = 20, N = 5, rows = B * T;
    bufs sb{{R(rows * C), R(rows * C * N), R(rows * C), R(rows * C), R(C * N), R(rows * N), R(rows * N), R(C), R(rows * C), R(rows * C),
             R(rows * C * N), R(rows * C * N), {}, {}, R(rows * N), R(rows * N), R(C * N), R(C)},
            {},
            {std::vector<double>(B * C * N, 0.5), std::vector<double>(B * C, 0.25)}};
    // 0 y, 1 states, 2 u, 3 delta, 4 A, 5 Bm, 6 Cm, 7 D, 8 du, 9 ddelta, 10 gB, 11 gC, 14 dBm, 15 dCm, 16 dA, 17 dD;
    // doubles: 0 pA, 1 pD
    for (auto& v : sb.f[3]) v = std::fabs(v) * 0.1f;
    for (auto& v : sb.f[4]) v = -std::fabs(v);
    bufs dyb = sb;  // dy is y's slot in the backward
    order_check("k_scan", sb, [&](bufs& m) {
      emu_launch("k_scan", k_scan, {blocks(B * C)}, {256}, 0, m.f[0].data(), m.f[1].data(), m.f[2].data(), m.f[3].data(), m.f[4].data(),
                 m.f[5].data(), m.f[6].data(), m.f[7].data(), B, T, C, N);
    });
    order_check("k_scan_bwd", dyb, [&](bufs& m) {
      emu_launch("k_scan_bwd", k_scan_bwd, {blocks(B * C)}, {256}, 0, m.f[8].data(), m.f[9].data(), m.f[10].data(), m.f[11].data(), m.d[0].data(),
                 m.d[1].data(), m.f[0].data(), m.f[1].data(), m.f[2].data(), m.f[3].data(), m.f[4].data(), m.f[5].data(), m.f[6].data(),
                 m.f[7].data(), B, T, C, N);
    });
    order_check("k_scan_bwd_bc", sb, [&](bufs& m) {
      emu_launch("k_scan_bwd_bc", k_scan_bwd_bc, {blocks(rows * N)}, {256}, 0, m.f[14].data(), m.f[15].data(), m.f[10].data(), m.f[11].data(), rows,
                 C, N);
    });
    order_check("k_scan_bwd_ad", sb, [&](bufs& m) {
      emu_launch("k_scan_bwd_ad", k_scan_bwd_ad, {blocks(C * (N + 1))}, {256}, 0, m.f[16].data(), m.f[17].data(), m.d[0].data(), m.d[1].data(), B,
                 C, N);
    });
  }
  for (i64 hasDecay : {0, 1}) {  // AdamW, with and without the decay mask
    bufs ab{{R(n), R(n), R(n), R(n), R(n)}};
    for (auto& v : ab.f[3]) v = std::fabs(v);
    for (auto& v : ab.f[4]) v = v > 0 ? 1.0f : 0.0f;
    order_check("k_adamw", ab, [&](bufs& m) {
      emu_launch("k_adamw", k_adamw, {blocks(n)}, {256}, 0, m.f[0].data(), m.f[1].data(), m.f[2].data(), m.f[3].data(),
                 hasDecay ? m.f[4].data() : nullptr, n, 0.9f, 0.95f, 0.1f, 0.05f, 0.9999f, 0.01f, 0.2f, 1e-8f, hasDecay);
    });
  }
}

// The harness's own checks must be able to fail: a kernel with a missing barrier and one with a
// divergent barrier.
__global__ void k_racy(float* out) {
  __shared__ float s[256];
  s[threadIdx.x] = float(threadIdx.x);
  // no __syncthreads: the neighbour's value depends on the order threads run
  out[threadIdx.x] = s[(threadIdx.x + 1) % 256];
}
__global__ void k_divergent(float* out) {
  if (threadIdx.x == 0) return;
  __syncthreads();
  out[threadIdx.x] = 1.0f;
}

void test_harness() {
  std::vector<float> a(256), b(256);
  emu_order = false;
  emu_launch("k_racy", k_racy, {1, 1, 1}, {256, 1, 1}, 0, a.data());
  emu_order = true;
  emu_launch("k_racy", k_racy, {1, 1, 1}, {256, 1, 1}, 0, b.data());
  emu_order = false;
  bool differ = false;
  for (int i = 0; i < 256; i++) differ = differ || a[i] != b[i];
  check(differ, "harness: a missing barrier changes the result with the order");
  std::vector<float> c(256);
  emu_silent = true;
  emu_launch("k_divergent", k_divergent, {1, 1, 1}, {256, 1, 1}, 0, c.data());
  emu_silent = false;
  bool caught = emu_errors == 1;
  emu_errors = 0;
  check(caught, "harness: a divergent barrier is reported");
}

}  // namespace

int main(int argc, char** argv) {
  // usage: cuda-emu [-v] VECTORS (the output of gpu/cuda/emu/vectors)
  int a = 1;
  verbose = argc > a && std::strcmp(argv[a], "-v") == 0;
  if (verbose) a++;
  const char* vectors = argc > a ? argv[a] : "bin/emu-vectors.txt";
  test_harness();
  test_matmul();
  test_attention();
  test_vectors(vectors);
  test_all_kernels();
  if (failures) {
    std::printf("cuda-emu: %d cases failed, %d passed\n", failures, passed);
    return 1;
  }
  std::printf("cuda-emu: all %d cases passed\n", passed);
  return 0;
}
